"""Rendering AlertRules into Prometheus rule files and packing them into ConfigMap shards (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster, RuleEvaluator
from ..api.alertrule import AlertRule
from ..common.hashing import content_hash
from ..common.identity import namespace_of
from ..common.yamlout import dump_yaml, load_yaml
from .selection import includes
from .tenancy import Tenant, enforce_tenant, tenant_of

# A ConfigMap key is at most 253 characters (and a file name at most 255 bytes): a 63-character
# namespace and a 253-character name do not fit as they are.
MAX_RULE_FILE_NAME = 253


def rule_file_name(namespace: str, name: str) -> str:
    """`<namespace>_<name>.yaml`: a namespace (DNS label) and an object name (DNS subdomain) never
    contain `_`, so two AlertRules never share a file (`team-a/x` and `team/a-x` did, as `-` joined).
    Longer than `MAX_RULE_FILE_NAME`, the name is cut and a digest of the whole added, so it stays
    unique: `<namespace>_<name, cut>-<12 hex digits>.yaml`."""
    full = f"{namespace}_{name}.yaml"
    if len(full) <= MAX_RULE_FILE_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    keep = MAX_RULE_FILE_NAME - len(f"{namespace}_-{digest}.yaml")
    return f"{namespace}_{name[:keep]}-{digest}.yaml"


def legacy_rule_file_name(namespace: str, name: str) -> str:
    """The file name of AlertAgent before 0.2 (`<namespace>-<name>.yaml`): read only, to carry an
    invalid AlertRule's last good file over to the new name."""
    return f"{namespace}-{name}.yaml"


def render_rule_file(rule: AlertRule, tenant: Tenant | None = None) -> str:
    """The Prometheus rule file of one AlertRule: groups and rules in spec order, keys sorted; with a
    `tenant` (`render.tenancy.tenant_of`), every rule carries its label, and its selectors are scoped
    when it says so. Raises render.tenancy.ScopeError when an expression cannot be scoped."""
    groups = [group.model_dump(mode="json", by_alias=True, exclude_none=True) for group in rule.spec.groups]
    if tenant is not None:
        groups = enforce_tenant(groups, tenant)
    return dump_yaml({"groups": groups})


def config_map_prefix(cluster: AlertmanagerCluster, evaluator: RuleEvaluator) -> str:
    return evaluator.config_map_prefix or f"{cluster.metadata.name}-{evaluator.name}-rules"


def selects_rule(cluster: AlertmanagerCluster, rule: AlertRule, namespace_labels: Mapping[str, str] | None) -> bool:
    """Whether `cluster` includes `rule` (its selectors, then the rule's own targeting)."""
    namespace = namespace_of(rule.metadata)
    return rule.spec.enabled and includes(
        cluster,
        cluster.spec.selectors.alert_rules,
        namespace,
        rule.metadata.labels,
        namespace_labels,
        rule.spec.targets,
        rule.spec.cluster_selector,
    )


class RuleFileTooLargeError(ValueError):
    pass


@dataclass
class Shard:
    name: str
    data: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(k.encode()) + len(v.encode()) for k, v in self.data.items())

    @property
    def hash(self) -> str:
        return content_hash(self.data)


def entry_size(file_name: str, text: str) -> int:
    return len(file_name.encode()) + len(text.encode())


def pack(prefix: str, files: Mapping[str, str], max_bytes: int) -> list[Shard]:
    """Pack rule files into shards `<prefix>-0`, `<prefix>-1`, ... in file-name order, each at most
    `max_bytes` of data. Raises RuleFileTooLargeError for a file that fits in no shard."""
    shards: list[Shard] = []
    current: Shard | None = None
    used = 0
    for name in sorted(files):
        size = entry_size(name, files[name])
        if size > max_bytes:
            raise RuleFileTooLargeError(f"{name} is {size} bytes, over the {max_bytes}-byte ConfigMap limit")
        if current is None or used + size > max_bytes:
            current = Shard(f"{prefix}-{len(shards)}")
            shards.append(current)
            used = 0
        current.data[name] = files[name]
        used += size
    return shards


@dataclass(frozen=True)
class EvaluatorRules:
    """What one rule evaluator of a cluster should load."""

    evaluator: RuleEvaluator
    prefix: str
    files: dict[str, str]  # file name → rule file text
    shards: list[Shard]
    rejected: dict[str, str]  # file name → why it was left out (too large)


def render_evaluator(
    cluster: AlertmanagerCluster, evaluator: RuleEvaluator, rule_files: Mapping[str, str]
) -> EvaluatorRules:
    """Shard the rule files of an evaluator; a file too large for one ConfigMap is rejected alone."""
    limit = evaluator.max_config_map_bytes
    rejected = {
        name: f"rule file is {entry_size(name, text)} bytes, over the {limit}-byte ConfigMap limit of "
        f"evaluator {evaluator.name}"
        for name, text in rule_files.items()
        if entry_size(name, text) > limit
    }
    accepted = {name: text for name, text in rule_files.items() if name not in rejected}
    prefix = config_map_prefix(cluster, evaluator)
    return EvaluatorRules(evaluator, prefix, accepted, pack(prefix, accepted, limit), rejected)


def selected_rule_files(
    cluster: AlertmanagerCluster,
    rules: Iterable[AlertRule],
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    render: Callable[[AlertRule], str] | None = None,
) -> dict[str, str]:
    """File name → rule file text of every AlertRule `cluster` selects (rules are assumed valid),
    rendered with the tenant label the cluster enforces on its namespace. `render` lets a caller supply
    files it rendered already. Raises render.tenancy.ScopeError as render_rule_file does."""
    namespace_labels = namespace_labels or {}

    def rendered(rule: AlertRule) -> str:
        return render(rule) if render else render_rule_file(rule, tenant_of(cluster, namespace_of(rule.metadata)))

    return {
        rule_file_name(namespace_of(r.metadata), r.metadata.name or ""): rendered(r)
        for r in rules
        if selects_rule(cluster, r, namespace_labels.get(namespace_of(r.metadata)))
    }


def render_cluster_rules(
    cluster: AlertmanagerCluster,
    rules: Iterable[AlertRule],
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> list[EvaluatorRules]:
    """For each evaluator of `cluster`: the rule files of the (valid) AlertRules it selects, sharded."""
    files = selected_rule_files(cluster, rules, namespace_labels)
    return [render_evaluator(cluster, ev, files) for ev in cluster.spec.rule_evaluators or []]


def count_rules(rule_file: str) -> int:
    doc: Any = load_yaml(rule_file) or {}
    return sum(len(g.get("rules") or []) for g in doc.get("groups") or [])


@dataclass(frozen=True)
class LoadedGroup:
    """A rule group as a target reports it loaded: file base name, group name, rule names in order."""

    file: str
    name: str
    rules: tuple[str, ...]


def expected_groups(files: Mapping[str, str]) -> set[LoadedGroup]:
    """The groups a target must report loaded for these rule files."""
    expected = set()
    for name, text in files.items():
        doc: Any = load_yaml(text) or {}
        for group in doc.get("groups") or []:
            rules = tuple(r.get("alert") or r.get("record") for r in group.get("rules") or [])
            expected.add(LoadedGroup(name, group["name"], rules))
    return expected
