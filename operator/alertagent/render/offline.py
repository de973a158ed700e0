"""`alertagent render`: the operator's rendering, run on manifests instead of a cluster (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import ValidationError

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.alertrule import AlertRule
from .rules import render_cluster_rules
from .validation import describe, parse_alert_rule, schema_issues


@dataclass
class ObjectReport:
    kind: str
    namespace: str
    name: str
    valid: bool = True
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "valid": self.valid,
                "errors": self.errors}  # fmt: skip


@dataclass
class RenderResult:
    reports: list[ObjectReport]
    files: dict[PurePosixPath, str]  # relative output path → content

    @property
    def all_valid(self) -> bool:
        return all(r.valid for r in self.reports)


def render_manifests(objects: Iterable[dict[str, Any]]) -> RenderResult:
    """Validate AlertmanagerClusters and AlertRules; render every valid rule each cluster selects into
    `<cluster-ns>/<cluster>/<evaluator>/<rule-ns>-<rule>.yaml`. Other kinds are ignored, except
    Namespaces, whose labels feed namespace selectors."""
    reports: list[ObjectReport] = []
    clusters: list[AlertmanagerCluster] = []
    rules: list[AlertRule] = []
    namespace_labels: dict[str, dict[str, str]] = {}
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        if kind == "Namespace":
            namespace_labels[meta.get("name", "")] = meta.get("labels") or {}
            continue
        if kind not in ("AlertmanagerCluster", "AlertRule"):
            continue
        report = ObjectReport(kind, meta.get("namespace", "default"), meta.get("name", ""))
        reports.append(report)
        if kind == "AlertRule":
            rule, issues = parse_alert_rule(obj)
            report.errors = [describe(i) for i in issues]
            if rule is not None and not issues:
                rules.append(rule)
        else:
            try:
                clusters.append(AlertmanagerCluster.model_validate(obj))
            except ValidationError as err:
                report.errors = [describe(i) for i in schema_issues(err)]
        report.valid = not report.errors

    by_file = {f"{r.namespace}-{r.name}.yaml": r for r in reports if r.kind == "AlertRule"}
    files: dict[PurePosixPath, str] = {}
    for cluster in clusters:
        base = PurePosixPath(cluster.metadata.namespace or "default", cluster.metadata.name or "")
        for evaluator_rules in render_cluster_rules(cluster, rules, namespace_labels):
            for name, text in evaluator_rules.files.items():
                files[base / evaluator_rules.evaluator.name / name] = text
            for name, reason in evaluator_rules.rejected.items():
                by_file[name].valid = False
                by_file[name].errors.append(reason)
    return RenderResult(reports, files)
