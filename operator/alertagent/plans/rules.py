"""The rules step's plan (pure): which rule ConfigMaps (shards) of each evaluator to write and delete.

Inputs are the cluster, the AlertRules as indexed (parsed, validated, rendered once per change), the
namespaces' labels and the shards deployed now. Decisions made here, and only here:
- a valid AlertRule the cluster selects contributes its rendered file;
- an invalid AlertRule keeps the file deployed for it (its last good version stays loaded until a valid
  one replaces it), so a broken edit never removes rules that were working;
- a file too large for one ConfigMap is rejected alone, for that evaluator;
- a shard whose content hash is unchanged is not written; keys a shard no longer holds are removed;
  surplus shards are deleted after every write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.alertrule import AlertRule, ValidationIssue
from ..api.base import API_VERSION
from ..common.identity import ObjectRef, owner_reference
from ..common.labels import CONTENT_HASH_ANNOTATION, rule_shard_labels
from ..render.rules import (
    config_map_prefix,
    count_rules,
    legacy_rule_file_name,
    render_evaluator,
    render_rule_file,
    rule_file_name,
    selected_rule_files,
)
from ..render.validation import parse_alert_rule
from .configmaps import ConfigMapPlan, plan_config_maps


@dataclass(frozen=True)
class IndexedRule:
    """An AlertRule as the operator keeps it between changes."""

    ref: ObjectRef
    rule: AlertRule | None  # None when the schema check failed (e.g. CRDs older than the operator)
    issues: tuple[ValidationIssue, ...]
    rule_file: str | None  # rendered once per change, so a reconcile only packs

    @property
    def valid(self) -> bool:
        return self.rule is not None and not self.issues

    @property
    def file_name(self) -> str:
        return rule_file_name(self.ref.namespace, self.ref.name)

    @property
    def legacy_file_name(self) -> str:
        return legacy_rule_file_name(self.ref.namespace, self.ref.name)


def index_alert_rule(body: dict[str, Any]) -> IndexedRule:
    """Parse, validate and (when valid) render one AlertRule manifest."""
    rule, issues = parse_alert_rule(body)
    rendered = render_rule_file(rule) if rule is not None and not issues else None
    return IndexedRule(ObjectRef.of(body, "AlertRule"), rule, tuple(issues), rendered)


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
) -> RulesPlan:
    """`owner` is the cluster's metadata (name, namespace, uid: the shards' owner); `deployed` maps
    evaluator name → shard name → ConfigMap as listed by the evaluator's labels. Raises ValueError when
    two evaluators of the cluster would write the same ConfigMaps."""
    rules = list(rules)
    valid = [r for r in rules if r.valid]
    rendered = {id(r.rule): r.rule_file or "" for r in valid}
    selected = selected_rule_files(
        cluster, [r.rule for r in valid if r.rule is not None], namespace_labels, render=lambda m: rendered[id(m)]
    )
    invalid = [r for r in rules if not r.valid]
    # A legacy name two AlertRules shared cannot tell whose last good file it holds: carry neither.
    legacy_users = Counter(r.legacy_file_name for r in rules)
    known = {r.file_name: sum(len(g.rules) for g in r.rule.spec.groups) for r in valid if r.rule is not None}
    namespace = owner["namespace"]
    prefixes = Counter(config_map_prefix(cluster, ev) for ev in cluster.spec.rule_evaluators or [])
    if clashes := sorted(p for p, n in prefixes.items() if n > 1):
        raise ValueError(f"evaluators share the ConfigMap prefix {clashes[0]!r}: set distinct configMapPrefix values")
    plans = []
    for evaluator in cluster.spec.rule_evaluators or []:
        current = deployed.get(evaluator.name, {})
        on_target = deployed_files(current)
        files = dict(selected)
        for rule in invalid:  # the last good file stays, under the current name
            if rule.file_name in on_target:
                files[rule.file_name] = on_target[rule.file_name]
            elif rule.legacy_file_name in on_target and legacy_users[rule.legacy_file_name] == 1:
                files[rule.file_name] = on_target[rule.legacy_file_name]
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
        count = sum(known[f] if f in known else count_rules(text) for f, text in desired.files.items())
        plans.append(
            EvaluatorPlan(evaluator.name, plan_config_maps(namespace, bodies, current), desired.rejected, count)
        )
    operator_mode = tuple(
        (ev.name, ev.url.rstrip("/")) for ev in cluster.spec.rule_evaluators or [] if ev.reload_mode == "Operator"
    )
    return RulesPlan(tuple(plans), operator_mode)
