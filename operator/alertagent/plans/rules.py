"""The rules step's plan (pure): which rule ConfigMaps (shards) of each evaluator to write and delete.

Inputs are the cluster, the AlertRules as indexed (parsed, validated, rendered once per change), the
namespaces' labels and the shards deployed now. Decisions made here, and only here:
- a valid AlertRule the cluster selects contributes its rendered file;
- an invalid AlertRule keeps the file deployed for it (its last good version stays loaded until a valid
  one replaces it), so a broken edit never removes rules that were working;
- a file too large for one ConfigMap is rejected alone, for that evaluator;
- a file with a group or rule field the evaluator's type and version lacks (`render.evaluators`), or
  refused by the evaluator's own tool (the injected `check`, see `clients.rulecheck`), is rejected alone,
  for that evaluator; one that was live keeps its last good file there, as an invalid AlertRule does;
- an AlertRule invalid only because promql-parser refused an expression goes to vmalert evaluators when
  vmalert's dry run accepts its file (MetricsQL is a superset of PromQL), nowhere else;
- under `namespaceIsolation: OnNamespace` a file is rendered for the cluster's tenant of its namespace
  (`render.tenancy`: the tenant label on every rule, selectors scoped when the cluster says so), once
  per (AlertRule content, tenant), not per reconcile; a file whose selectors cannot be scoped is
  rejected alone, and one that was live keeps its last good file;
- the cluster's limits (`spec.tenancy.limits`) are applied to each evaluator's files before its tool
  sees them: a file over the per-AlertRule limits is rejected alone; within a namespace, files are
  admitted oldest AlertRule first (creationTimestamp, then name), and each file live now (in the
  evaluator's shards) has room kept for its last good version, so a newcomer or the growth of another
  file never evicts it. A refused file that was live keeps its last good version only if that fits the
  limits: the limits always hold for what is written;
- a shard whose content hash is unchanged is not written; keys a shard no longer holds are removed;
  surplus shards are deleted after every write."""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster, TenantLimits
from ..api.alertrule import AlertRule, ValidationIssue
from ..api.base import API_VERSION
from ..common.identity import ObjectRef, owner_reference
from ..common.labels import CONTENT_HASH_ANNOTATION, rule_shard_labels
from ..render.evaluators import (
    Version,
    evaluator_version,
    field_issues,
    fields_used,
    keys_used,
    loads,
    metricsql_deferrable,
    minimum_versions,
)
from ..render.rules import (
    config_map_prefix,
    count_rules,
    entry_size,
    legacy_rule_file_name,
    render_evaluator,
    render_rule_file,
    rule_file_name,
    selects_rule,
)
from ..render.tenancy import ScopeError, Tenant, tenant_of
from ..render.validation import parse_alert_rule
from .configmaps import ConfigMapPlan, plan_config_maps

# (evaluator type, evaluator version, files: name → text) → the files its tool refuses (name → message),
# or None when they cannot be checked. `clients.rulecheck.RuleChecks` is the real one.
RuleCheck = Callable[[str, Version | None, Mapping[str, str]], Mapping[str, str] | None]
# (AlertRule, dialect) → why an evaluator of that dialect would refuse it: the hook for dialect checks
# of templates (for example `render.validation.template_issues`), run once per change for vmalert.
DialectCheck = Callable[[AlertRule, str], Sequence[ValidationIssue | str]]
DIALECT_CHECKED = ("prometheus", "vmalert")  # AlertRule validation keeps only what both refuse
TOOL_NAMES = {"prometheus": "promtool check rules", "vmalert": "vmalert -dryRun"}
KEPT = "; the last good version stays loaded"


@dataclass(frozen=True)
class IndexedRule:
    """An AlertRule as the operator keeps it between changes."""

    ref: ObjectRef
    rule: AlertRule | None  # None when the schema check failed (e.g. CRDs older than the operator)
    issues: tuple[ValidationIssue, ...]
    rule_file: str | None  # rendered once per change, so a reconcile only packs
    minimums: tuple[tuple[str, Version], ...] = ()  # evaluator type → first release loading its fields
    dialect_issues: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (dialect, why it refuses the rule)
    created: str = ""  # metadata.creationTimestamp (RFC 3339, sorts by time): who is admitted first

    def file_for(self, tenant: Tenant | None) -> str:
        """The rule file a cluster enforcing `tenant` (None: nothing) loads; rendered once per
        (content, tenant). Raises ScopeError when the selectors cannot be scoped, ValueError when the
        rule was not rendered."""
        if self.rule is None or self.rule_file is None:
            raise ValueError(f"{self.ref} has no rendered rule file")
        return self.rule_file if tenant is None else TENANT_FILES.get(self.rule, self.rule_file, tenant)

    @property
    def rendered_files(self) -> tuple[str, ...]:
        """Every version of this AlertRule's file rendered so far: its own, then each tenant's."""
        if self.rule_file is None:
            return ()
        return (self.rule_file, *TENANT_FILES.variants(self.rule_file))

    @property
    def valid(self) -> bool:
        return self.rule is not None and not self.issues

    @property
    def metricsql_candidate(self) -> bool:
        """Invalid only because promql-parser refused an expression: rendered, and loaded by vmalert
        evaluators whose dry run accepts the file."""
        return self.rule_file is not None and metricsql_deferrable(self.issues)

    def field_issues_for(self, evaluator_type: str, version: Version | None) -> list[str]:
        """Why an evaluator of this type and version cannot load the rendered file, field by field."""
        minimum = next((m for t, m in self.minimums if t == evaluator_type), None)
        if self.rule is None or (minimum is not None and loads(minimum, version)):
            return []
        return field_issues(fields_used(self.rule), evaluator_type, version)

    def issues_for(self, evaluator_type: str) -> tuple[str, ...]:
        return next((issues for dialect, issues in self.dialect_issues if dialect == evaluator_type), ())

    @property
    def file_name(self) -> str:
        return rule_file_name(self.ref.namespace, self.ref.name)

    @property
    def legacy_file_name(self) -> str:
        return legacy_rule_file_name(self.ref.namespace, self.ref.name)


class TenantFiles:
    """Rule files rendered for a tenant, by the AlertRule's own rendered file (its content: an index
    entry made again for the same spec finds them) and the tenant; least recently used first out
    beyond `max_chars` of text. Safe to use from several threads."""

    def __init__(self, max_chars: int = 64 * 1024 * 1024) -> None:
        self.max_chars = max_chars
        self._by_file: OrderedDict[str, dict[Tenant, str | ScopeError]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.renders = 0  # files rendered so far (what the cache saves is visible in tests)

    def get(self, rule: AlertRule, rule_file: str, tenant: Tenant) -> str:
        with self._lock:
            known = self._by_file.get(rule_file, {}).get(tenant)
            if known is not None:
                self._by_file.move_to_end(rule_file)
        if known is None:
            try:
                known = render_rule_file(rule, tenant)
            except ScopeError as err:
                known = err
            with self._lock:
                self.renders += 1
                self._by_file.setdefault(rule_file, {})[tenant] = known
                self._by_file.move_to_end(rule_file)
                self._chars += len(known) if isinstance(known, str) else 0
                while self._chars > self.max_chars and len(self._by_file) > 1:
                    _, dropped = self._by_file.popitem(last=False)
                    self._chars -= sum(len(v) for v in dropped.values() if isinstance(v, str))
        if isinstance(known, ScopeError):
            raise known
        return known

    def variants(self, rule_file: str) -> tuple[str, ...]:
        with self._lock:
            found = self._by_file.get(rule_file, {})
            return tuple(sorted(v for v in found.values() if isinstance(v, str)))


TENANT_FILES = TenantFiles()


def _message(issue: ValidationIssue | str) -> str:
    return issue if isinstance(issue, str) else f"{issue.field}: {issue.message}"


def index_alert_rule(body: dict[str, Any], dialect_check: DialectCheck | None = None) -> IndexedRule:
    """Parse, validate and (when valid, or invalid only in promql-parser's eyes) render one AlertRule
    manifest; note, per evaluator type, the first release that loads the fields its file sets and, with
    `dialect_check`, why a vmalert evaluator would refuse it."""
    rule, issues = parse_alert_rule(body)
    created = str((body.get("metadata") or {}).get("creationTimestamp") or "")
    if rule is None or (issues and not metricsql_deferrable(issues)):
        return IndexedRule(ObjectRef.of(body, "AlertRule"), rule, tuple(issues), None, created=created)
    dialect_issues: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if dialect_check is not None:
        dialect_issues = tuple((d, tuple(_message(i) for i in dialect_check(rule, d))) for d in DIALECT_CHECKED)
    return IndexedRule(
        ObjectRef.of(body, "AlertRule"),
        rule,
        tuple(issues),
        render_rule_file(rule),
        minimum_versions(keys_used(rule)),
        dialect_issues,
        created,
    )


@dataclass(frozen=True)
class EvaluatorPlan:
    """One evaluator's shards: the ConfigMap changes, files left out (file name → why) and the rules
    it will hold."""

    evaluator: str
    config_maps: ConfigMapPlan
    rejected: Mapping[str, str]
    rule_count: int


@dataclass(frozen=True)
class RulesPlan:
    evaluators: tuple[EvaluatorPlan, ...]
    operator_mode: tuple[tuple[str, str], ...]  # (evaluator, url) reloaded by the operator itself

    @property
    def changes(self) -> int:
        return sum(e.config_maps.changes for e in self.evaluators)

    @property
    def rule_counts(self) -> dict[str, int]:
        return {e.evaluator: e.rule_count for e in self.evaluators}

    @property
    def shard_hashes_written(self) -> dict[str, str]:
        """ "namespace/name" → content hash of every shard this plan writes."""
        return {
            f"{e.config_maps.namespace}/{w.body['metadata']['name']}": w.body["metadata"]["annotations"][
                CONTENT_HASH_ANNOTATION
            ]
            for e in self.evaluators
            for w in e.config_maps.writes
        }

    @property
    def rejected(self) -> dict[str, dict[str, str]]:
        """evaluator → file name → why it was left out."""
        return {e.evaluator: dict(e.rejected) for e in self.evaluators}


def deployed_files(shards: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """File name → text of every rule file in these shard ConfigMaps."""
    return {k: v for cm in shards.values() for k, v in (cm.get("data") or {}).items()}


def plan_rules(
    cluster: AlertmanagerCluster,
    owner: Mapping[str, Any],
    rules: Iterable[IndexedRule],
    namespace_labels: Mapping[str, Mapping[str, str]],
    deployed: Mapping[str, Mapping[str, Mapping[str, Any]]],
    probed_versions: Mapping[str, str | None] | None = None,
    check: RuleCheck | None = None,
) -> RulesPlan:
    """`owner` is the cluster's metadata (name, namespace, uid: the shards' owner); `deployed` maps
    evaluator name → shard name → ConfigMap as listed by the evaluator's labels; `probed_versions` maps
    evaluator name → the version its probe reported (an evaluator's `version` overrides it; unknown:
    the newest release); `check` judges each evaluator's files with its tool (None: no tool checks).
    Raises ValueError when two evaluators of the cluster would write the same ConfigMaps."""
    rules = list(rules)
    candidates = [
        r
        for r in rules
        if r.rule is not None
        and r.rule_file is not None
        and selects_rule(cluster, r.rule, namespace_labels.get(r.ref.namespace))
    ]
    selected: dict[str, str] = {}  # file name → the file this cluster renders for it
    unscoped: dict[str, str] = {}  # file name → why its selectors cannot be scoped
    scoping = f"spec.tenancy.scopeSelectors of cluster {owner['namespace']}/{owner['name']}"
    for r in candidates:
        try:
            selected[r.file_name] = r.file_for(tenant_of(cluster, r.ref.namespace))
        except ScopeError as err:
            unscoped[r.file_name] = f"{scoping}: {err}"
    by_file = {r.file_name: r for r in rules}

    def still_selected(rule: IndexedRule) -> bool:
        """An invalid rule's last good file is carried only while the cluster selects the rule as it is
        now (its labels, targets, `enabled`); one whose spec does not even parse cannot say, and keeps it."""
        return rule.rule is None or selects_rule(cluster, rule.rule, namespace_labels.get(rule.ref.namespace))

    # A legacy name two AlertRules shared cannot tell whose last good file it holds: carry neither.
    legacy_users = Counter(r.legacy_file_name for r in rules)
    known = {r.file_name: sum(len(g.rules) for g in r.rule.spec.groups) for r in candidates if r.rule is not None}
    namespace = owner["namespace"]
    prefixes = Counter(config_map_prefix(cluster, ev) for ev in cluster.spec.rule_evaluators or [])
    if clashes := sorted(p for p, n in prefixes.items() if n > 1):
        raise ValueError(f"evaluators share the ConfigMap prefix {clashes[0]!r}: set distinct configMapPrefix values")
    plans = []
    for evaluator in cluster.spec.rule_evaluators or []:
        current = deployed.get(evaluator.name, {})
        on_target = deployed_files(current)

        def last_good(rule: IndexedRule, on_target: Mapping[str, str] = on_target) -> str | None:
            if rule.file_name in on_target:
                return on_target[rule.file_name]
            if rule.legacy_file_name in on_target and legacy_users[rule.legacy_file_name] == 1:
                return on_target[rule.legacy_file_name]
            return None

        version = evaluator_version(evaluator, (probed_versions or {}).get(evaluator.name))
        files, rejected = _evaluator_files(evaluator.type, version, selected, by_file, check)
        rejected.update(unscoped)
        for rule in rules:  # the last good file stays, under the current name, while the cluster selects it
            carry = rule.file_name not in files and (not rule.valid or rule.file_name in rejected)
            if carry and still_selected(rule) and (text := last_good(rule)) is not None:
                files[rule.file_name] = text
        limits = _Limits(cluster.spec.tenancy.limits, f"{owner['namespace']}/{owner['name']}", known, selected)
        limits.apply(files, rejected, by_file, last_good)  # before the tool: a flood costs it nothing
        if check is not None:
            _check_files(
                evaluator.type,
                version,
                evaluator.max_config_map_bytes,
                files,
                rejected,
                by_file,
                selected,
                last_good,
                check,
                on_target,
            )
            limits.apply(files, rejected, by_file, last_good)  # last good files the tool brought back
        rejected = {name: why + KEPT if name in files else why for name, why in rejected.items()}
        desired = render_evaluator(cluster, evaluator, files)
        labels = rule_shard_labels(owner["name"], evaluator.name)
        bodies = [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": shard.name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {CONTENT_HASH_ANNOTATION: shard.hash},
                    "ownerReferences": [owner_reference(API_VERSION, "AlertmanagerCluster", owner)],
                },
                "data": dict(shard.data),
            }
            for shard in desired.shards
        ]
        count = sum(limits.rules_in(f, text) for f, text in desired.files.items())
        plans.append(
            EvaluatorPlan(
                evaluator.name,
                plan_config_maps(namespace, bodies, current),
                {**rejected, **desired.rejected},
                count,
            )
        )
    operator_mode = tuple(
        (ev.name, ev.url.rstrip("/")) for ev in cluster.spec.rule_evaluators or [] if ev.reload_mode == "Operator"
    )
    return RulesPlan(tuple(plans), operator_mode)


def _evaluator_files(
    evaluator_type: str,
    version: Version | None,
    selected: Mapping[str, str],
    by_file: Mapping[str, IndexedRule],
    check: RuleCheck | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The selected files this evaluator can load (MetricsQL candidates only for vmalert, and only
    with a tool to confirm them), and those it cannot, with why (field by field)."""
    files: dict[str, str] = {}
    rejected: dict[str, str] = {}
    for name, text in selected.items():
        rule = by_file[name]
        if not rule.valid and rule.metricsql_candidate and check is None:
            # Only the target's own tool can overrule promql-parser (MetricsQL for vmalert; a function
            # of the evaluator's version, a regex RE2 reads differently for Prometheus): none here.
            unconfirmed = f" ({TOOL_NAMES.get(evaluator_type, evaluator_type)} is not available to confirm it)"
            rejected[name] = "; ".join(_message(i) for i in rule.issues) + unconfirmed
            continue
        if not rule.valid and not rule.metricsql_candidate:
            continue  # invalid for every evaluator of this type: its status says why
        problems = rule.field_issues_for(evaluator_type, version) + list(rule.issues_for(evaluator_type))
        if problems:
            rejected[name] = "; ".join(problems)
        else:
            files[name] = text
    return files, rejected


def _check_files(
    evaluator_type: str,
    version: Version | None,
    max_bytes: int,
    files: dict[str, str],
    rejected: dict[str, str],
    by_file: Mapping[str, IndexedRule],
    rendered: Mapping[str, str],
    last_good: Callable[[IndexedRule], str | None],
    check: RuleCheck,
    on_target: Mapping[str, str],
) -> None:
    """Judge the evaluator's files with its tool (files too large for a ConfigMap are left to the
    packer): a refused file is left out, or replaced by its last good file when that passes. Without a
    verdict, MetricsQL candidates fall back to their last good file, as invalid AlertRules do. A file
    already in the evaluator's shards with this very text (`on_target`) passed before it was written:
    it is not checked again (after a restart, nothing that did not change runs the tool)."""
    tool = TOOL_NAMES.get(evaluator_type, evaluator_type)
    checkable = {
        name: text
        for name, text in files.items()
        if entry_size(name, text) <= max_bytes and on_target.get(name) != text
    }
    candidates = any(n in by_file and not by_file[n].valid for n in files)
    refused = check(evaluator_type, version, checkable) if checkable or candidates else {}
    if refused is None:
        for name in [n for n in files if n in by_file and not by_file[n].valid]:
            candidate = by_file[name]
            if files[name] == rendered.get(name):  # not confirmed by vmalert: the promql-parser verdict stands
                del files[name]
                unconfirmed = f" ({TOOL_NAMES.get(evaluator_type, evaluator_type)} is not available to confirm it)"
                rejected.setdefault(name, "; ".join(_message(i) for i in candidate.issues) + unconfirmed)
                if (text := last_good(candidate)) is not None:
                    files[name] = text
        return
    substitutes: dict[str, str] = {}
    for name, message in refused.items():
        if (text := files.pop(name, None)) is None:
            continue
        rejected.setdefault(name, f"{tool}: {message}")  # a field the evaluator lacks is the first reason
        rule = by_file.get(name)
        if rule is not None and text == rendered.get(name) and (good := last_good(rule)) is not None and good != text:
            substitutes[name] = good
    if substitutes:
        again = check(evaluator_type, version, substitutes) or {}
        files.update({name: text for name, text in substitutes.items() if name not in again})


@lru_cache(maxsize=4096)
def _rules_in_text(text: str) -> int:
    """Rules in a rule file not rendered from a known AlertRule (a last good file), parsed once."""
    return count_rules(text)


def _refuse(rejected: dict[str, str], name: str, why: str) -> None:
    """Add a limit's reason: alone, or after the reason a last good file was carried for."""
    rejected[name] = f"{rejected[name]}; {why}" if name in rejected and why not in rejected[name] else why


class _Limits:
    """The cluster's limits (`spec.tenancy.limits`; 0: none) applied to one evaluator's files."""

    def __init__(self, limits: TenantLimits, cluster: str, known: Mapping[str, int], rendered: Mapping[str, str]):
        self.limits, self.cluster, self.known, self.rendered = limits, cluster, known, rendered

    def rules_in(self, name: str, text: str) -> int:
        return self.known[name] if name in self.known and text == self.rendered.get(name) else _rules_in_text(text)

    def _file_excess(self, name: str, text: str) -> str | None:
        limits, rules, size = self.limits, self.rules_in(name, text), len(text.encode())
        if limits.rules_per_alert_rule and rules > limits.rules_per_alert_rule:
            return (
                f"{rules} rules, over the limit of {limits.rules_per_alert_rule} rules per AlertRule of cluster "
                f"{self.cluster} (spec.tenancy.limits.rulesPerAlertRule)"
            )
        if limits.bytes_per_rule_file and size > limits.bytes_per_rule_file:
            return (
                f"rule file is {size} bytes, over the limit of {limits.bytes_per_rule_file} bytes per rule file of "
                f"cluster {self.cluster} (spec.tenancy.limits.bytesPerRuleFile)"
            )
        return None

    def _fits(self, need: tuple[int, int], room: tuple[int, int]) -> bool:
        rules, size = self.limits.rules_per_namespace, self.limits.bytes_per_namespace
        return (not rules or need[0] <= room[0]) and (not size or need[1] <= room[1])

    def apply(
        self,
        files: dict[str, str],
        rejected: dict[str, str],
        by_file: Mapping[str, IndexedRule],
        last_good: Callable[[IndexedRule], str | None],
    ) -> None:
        """Leave out (from `files`, with the reason in `rejected`) each file over a limit, or put its
        last good file back when that one fits; see the module docstring for the order."""
        incumbents: dict[str, tuple[str, tuple[int, int]]] = {}  # file → its live version, and its size
        for name in sorted(files):
            rule = by_file.get(name)
            good = last_good(rule) if rule is not None else None
            if good is not None and self._file_excess(name, good) is None:
                incumbents[name] = (good, (self.rules_in(name, good), len(good.encode())))
            text = files[name]
            if (why := self._file_excess(name, text)) is not None:
                del files[name]
                _refuse(rejected, name, why)
                if name in incumbents:
                    files[name] = incumbents[name][0]
        if not (self.limits.rules_per_namespace or self.limits.bytes_per_namespace):
            return
        namespaces: dict[str, list[tuple[str, str]]] = {}
        for name in files:
            rule = by_file.get(name)
            namespace, created = (rule.ref.namespace, rule.created) if rule is not None else ("", "")
            namespaces.setdefault(namespace, []).append((created, name))
        for namespace, entries in sorted(namespaces.items()):
            self._namespace(namespace, [name for _, name in sorted(entries)], files, rejected, incumbents)

    def _namespace(
        self,
        namespace: str,
        names: list[str],
        files: dict[str, str],
        rejected: dict[str, str],
        incumbents: Mapping[str, tuple[str, tuple[int, int]]],
    ) -> None:
        """`names`: the namespace's files, oldest AlertRule first."""
        limit = (self.limits.rules_per_namespace or 0, self.limits.bytes_per_namespace or 0)
        # Room is kept for each live file, oldest first, as far as the limits go (they may have been
        # lowered): nothing admitted before it can take that room.
        reserved: dict[str, tuple[int, int]] = {}
        total = (0, 0)
        for name in names:
            if name in incumbents:
                need = incumbents[name][1]
                if self._fits((total[0] + need[0], total[1] + need[1]), limit):
                    reserved[name] = need
                    total = (total[0] + need[0], total[1] + need[1])
        later, used = total, (0, 0)
        for name in names:
            kept = reserved.get(name, (0, 0))
            later = (later[0] - kept[0], later[1] - kept[1])
            room = (limit[0] - used[0] - later[0], limit[1] - used[1] - later[1])
            text = files[name]
            need = (self.rules_in(name, text), len(text.encode()))
            if self._fits(need, room):
                used = (used[0] + need[0], used[1] + need[1])
                continue
            del files[name]
            _refuse(rejected, name, self._namespace_reason(namespace, need, room))
            if name in incumbents and incumbents[name][0] != text and self._fits(incumbents[name][1], room):
                files[name] = incumbents[name][0]
                used = (used[0] + incumbents[name][1][0], used[1] + incumbents[name][1][1])

    def _namespace_reason(self, namespace: str, need: tuple[int, int], room: tuple[int, int]) -> str:
        limits = self.limits
        if limits.rules_per_namespace and need[0] > room[0]:
            what = f"{limits.rules_per_namespace} rules per namespace"
            field, has = "rulesPerNamespace", f"room for {max(room[0], 0)} more rules, this AlertRule has {need[0]}"
        else:
            what = f"{limits.bytes_per_namespace} bytes per namespace"
            field, has = "bytesPerNamespace", f"room for {max(room[1], 0)} more bytes, its rule file has {need[1]}"
        return (
            f"namespace {namespace} is at the limit of {what} of cluster {self.cluster} "
            f"(spec.tenancy.limits.{field}): {has} (older AlertRules, and those already loaded, keep their room)"
        )
