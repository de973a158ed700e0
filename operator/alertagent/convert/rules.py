"""PrometheusRule (monitoring.coreos.com/v1) → AlertRule (pure).

Mirrors prometheus-operator's pkg/apis/monitoring/v1/prometheusrule_types.go (`RuleGroup`, `Rule`):

- `groups[].name`, `interval`, `query_offset`, `limit` and every rule field (`alert`, `record`,
  `expr`, `for`, `keep_firing_for`, `labels`, `annotations`) map one to one; an integer `expr`
  (IntOrString) becomes its text;
- `groups[].labels` (Prometheus >= 3.0: added to every rule of the group, a rule's own label winning)
  are merged into each rule's labels, which is what Prometheus does with them;
- `partial_response_strategy` (Thanos Ruler only) has no equivalent and is reported;
- a group without rules is reported (an AlertRule group needs at least one);
- the result is validated as the operator validates an AlertRule (schema, PromQL, label names,
  Prometheus templates: `render.validation.parse_alert_rule`); a rule it refuses is left out and
  reported with the validator's message, so nothing invalid is emitted.
"""

from __future__ import annotations

import re
from typing import Any

from ..api.alertrule import ValidationIssue
from ..render.validation import parse_alert_rule
from .report import Fields, Sink, Unsupported

GROUP_UNSUPPORTED = {
    "partial_response_strategy": Unsupported(
        "Thanos Ruler only (how a rule treats partial query responses): AlertAgent's evaluators are "
        "Prometheus and vmalert, which ignore it"
    ),
}
_ISSUE_PATH = re.compile(r"^spec\.groups\[(\d+)\](?:\.rules\[(\d+)\])?(.*)$")


def _rule(data: Any, path: str, group_labels: dict[str, str], report: Sink) -> dict[str, Any]:
    fields = Fields(data, path, report, upstream="Rule")
    rule: dict[str, Any] = {}
    for key in ("alert", "record"):
        if (value := fields.get(key)) not in (None, ""):
            rule[key] = value
    expr = fields.get("expr")
    rule["expr"] = str(expr) if isinstance(expr, int | float) and not isinstance(expr, bool) else expr
    for key in ("for", "keep_firing_for", "annotations"):
        if (value := fields.get(key)) is not None:
            rule[key] = value
    labels = {**group_labels, **(fields.get("labels") or {})}
    if labels:
        rule["labels"] = labels
    fields.finish()
    return rule


def _source_path(issue: ValidationIssue, origin: list[tuple[int, list[int]]]) -> tuple[int, int | None, str]:
    """(converted group index, converted rule index or None, the issue's field path in the source)."""
    match = _ISSUE_PATH.match(issue.field)
    if match is None:
        return -1, None, issue.field
    group, rule, rest = int(match[1]), match[2], match[3]
    source_group, source_rules = origin[group]
    if rule is None:
        return group, None, f"spec.groups[{source_group}]{rest}"
    return group, int(rule), f"spec.groups[{source_group}].rules[{source_rules[int(rule)]}]{rest}"


def convert_prometheus_rule(obj: dict[str, Any], metadata: dict[str, Any], report: Sink) -> dict[str, Any] | None:
    """The AlertRule for one PrometheusRule manifest (`metadata`: the converted object's), or None when
    nothing of it converts. Every field that does not map is given to `report(path, reason)`."""
    spec = Fields(obj.get("spec"), "spec", report, upstream="PrometheusRuleSpec")
    groups: list[dict[str, Any]] = []
    origin: list[tuple[int, list[int]]] = []  # converted group → (source group, source rule per converted rule)
    for g, data in enumerate(spec.get("groups") or []):
        fields = Fields(data, f"spec.groups[{g}]", report, GROUP_UNSUPPORTED, upstream="RuleGroup")
        group: dict[str, Any] = {"name": fields.get("name")}
        for key in ("interval", "query_offset", "limit"):
            if (value := fields.get(key)) is not None:
                group[key] = value
        group_labels = fields.get("labels") or {}
        for key in sorted(group_labels):
            if "{{" in str(group_labels[key]):
                # Prometheus does not expand group labels; merged into rule labels they would be templates.
                report(fields.at(f"labels.{key}"), "a group label holding `{{`: as a rule label it would be a template")
        plain = {k: v for k, v in group_labels.items() if "{{" not in str(v)}
        sources = fields.get("rules") or []
        group["rules"] = [_rule(r, fields.at("rules") + f"[{i}]", plain, report) for i, r in enumerate(sources)]
        fields.finish()
        if not group["rules"]:
            report(fields.path, "a group without rules: an AlertRule group needs at least one rule")
            continue
        groups.append(group)
        origin.append((g, list(range(len(group["rules"])))))
    spec.finish()
    while groups:
        manifest = {"apiVersion": "alertagent.io/v1alpha1", "kind": "AlertRule", "metadata": metadata}
        manifest["spec"] = {"groups": groups}
        _, issues = parse_alert_rule(manifest)
        if not issues:
            return manifest
        # Leave out what the validator refuses (the rule, else the group, else the object) and retry.
        drop_rules: set[tuple[int, int]] = set()
        drop_groups: set[int] = set()
        for issue in issues:
            at_group, at_rule, path = _source_path(issue, origin)
            report(path, f"not converted: {issue.message}")
            if at_rule is None:
                drop_groups.add(at_group)
            else:
                drop_rules.add((at_group, at_rule))
        if -1 in drop_groups:  # about the object as a whole (for example two groups of one name)
            return None
        kept_groups, kept_origin = [], []
        for g, (group, (source_group, source_rules)) in enumerate(zip(groups, origin, strict=True)):
            if g in drop_groups:
                continue
            pairs = enumerate(zip(group["rules"], source_rules, strict=True))
            kept = [pair for i, pair in pairs if (g, i) not in drop_rules]
            if not kept:
                report(f"spec.groups[{source_group}]", "not converted: none of its rules is valid")
                continue
            kept_groups.append({**group, "rules": [r for r, _ in kept]})
            kept_origin.append((source_group, [s for _, s in kept]))
        groups, origin = kept_groups, kept_origin
    return None
