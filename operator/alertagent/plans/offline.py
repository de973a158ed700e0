"""`alertagent render`: the operator's rendering, run on manifests instead of a cluster (pure)."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import ValidationError

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP
from ..api.common import Resource, SecretKeyRef
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.culprits import scrub
from ..common.identity import ObjectRef, metadata_issues, namespace_of
from ..common.labels import MANAGED_BY
from ..discovery.graph import ServiceGraph, extract
from ..discovery.snapshot import Graph
from ..render.checked import render_checked
from ..render.rules import rule_file_name
from ..render.selection import includes
from ..render.validation import describe, schema_issues, template_issues
from ..status import unknown_targets_message
from .placement import World
from .rules import IndexedRule, RuleCheck, index_alert_rule, plan_rules


@dataclass
class ObjectReport:
    kind: str
    namespace: str
    name: str
    valid: bool = True
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "valid": self.valid,
            "errors": self.errors,
            "warnings": self.warnings,
        }


@dataclass
class RenderResult:
    reports: list[ObjectReport]
    files: dict[PurePosixPath, str]  # relative output path → content

    @property
    def all_valid(self) -> bool:
        return all(r.valid for r in self.reports)


MODELS: dict[str, type[Resource]] = {
    "AlertmanagerCluster": AlertmanagerCluster,
    "NotificationChannel": NotificationChannel,
    "SuppressionPolicy": SuppressionPolicy,
}


def _secret_values(obj: dict[str, Any]) -> dict[str, str]:
    values = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    return values | {k: str(v) for k, v in (obj.get("stringData") or {}).items()}


def render_manifests(
    objects: Iterable[dict[str, Any]],
    check_config: Callable[[str], str | None] | None = None,
    check_rules: RuleCheck | None = None,
) -> RenderResult:
    """Validate AlertmanagerClusters, AlertRules, NotificationChannels and SuppressionPolicies; for each
    cluster render every valid rule it selects into `<cluster-ns>/<cluster>/<evaluator>/<rule-ns>_<rule>.yaml`
    and its channels and policies into `<cluster-ns>/<cluster>/alertmanager.yaml`, with the operator's
    renderer. Namespaces' labels feed namespace selectors; Secrets resolve `secretKeyRef`s (a missing one
    is a marked placeholder, reported as a warning); Services, Ingresses, ConfigMaps and workloads build
    the service dependency graph that `dependencySuppression` generates inhibit rules from, as the
    operator's discovery builds it (`service_graph`). Other kinds are ignored.

    `check_config` is the target's own check of an alertmanager.yaml (amtool; None: valid). When it
    refuses a cluster's file, the channels and policies responsible are found by checking parts alone,
    reported invalid with its message and left out; every other object is still written.
    `check_rules` judges each evaluator's rule files with its tool (promtool, vmalert's dry run), as the
    operator does: rule files go through the operator's own plan (`plans.rules.plan_rules`), so a rule
    an evaluator's type or version cannot load is reported for that evaluator alone."""
    objects = list(objects)
    reports = _unrendered_kinds(objects)
    graph = service_graph(objects, reports)
    has_services = any(node.kind == "service" for node in graph.nodes)
    rules: list[IndexedRule] = []
    parsed: dict[str, list[Any]] = {kind: [] for kind in MODELS}
    namespace_labels = {ObjectRef.of(o).name: o["metadata"].get("labels") or {} for o in _of_kind(objects, "Namespace")}
    secrets = {(r.namespace, r.name): _secret_values(o) for o in _of_kind(objects, "Secret") for r in [ObjectRef.of(o)]}
    seen: dict[ObjectRef, ObjectReport] = {}
    rendered = [o for o in objects if o.get("kind") == "AlertRule" or o.get("kind") in MODELS]
    copies = Counter(_ref(o) for o in rendered)
    for obj in rendered:
        kind = obj.get("kind")
        report = _new_report(obj, seen, reports, copies[_ref(obj)])
        if report is None or not report.valid:
            continue
        if kind == "AlertRule":
            entry = index_alert_rule(obj, template_issues)
            rules.append(entry)
            if not entry.metricsql_candidate:  # else each evaluator says whether it loads it
                report.errors = [describe(i) for i in entry.issues]
        else:
            try:
                parsed[str(kind)].append(MODELS[str(kind)].model_validate(obj))
            except ValidationError as err:
                report.errors = [describe(i) for i in schema_issues(err)]
        report.valid = not report.errors

    def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
        return secrets.get((namespace, ref.name), {}).get(ref.key)

    by_ref = {ObjectRef(r.kind, r.namespace, r.name): r for r in reports}
    files: dict[PurePosixPath, str] = {}
    for cluster in parsed["AlertmanagerCluster"]:
        cluster_ref = ObjectRef.of(cluster)
        base = PurePosixPath(cluster_ref.namespace, cluster_ref.name)
        owner = {"name": cluster_ref.name, "namespace": cluster_ref.namespace, "uid": ""}
        for evaluator in plan_rules(cluster, owner, rules, namespace_labels, {}, check=check_rules).evaluators:
            for write in evaluator.config_maps.writes:
                for name, text in write.body["data"].items():
                    files[base / evaluator.evaluator / name] = text
            for name, reason in evaluator.rejected.items():
                report = _rule_report(reports, name)
                report.valid = False
                report.errors.append(f"{base}/{evaluator.evaluator}: {reason}")
        channels = [c for c in parsed["NotificationChannel"] if _includes(cluster, c, namespace_labels)]
        policies = [p for p in parsed["SuppressionPolicy"] if _includes(cluster, p, namespace_labels)]
        secret_values = {v for values in secrets.values() for v in values.values()}
        files[base / "alertmanager.yaml"] = _alertmanager_file(
            cluster, channels, policies, resolve, check_config, base, by_ref, secret_values, graph
        )
        for policy in policies:
            if policy.spec.dependency_suppression is not None and not has_services:
                by_ref[ObjectRef.of(policy)].warnings.append(
                    f"{base}: dependencySuppression generated no inhibit rules: the input files hold no Service "
                    "(pass the application manifests too)"
                )
    _report_placement(parsed, namespace_labels, rules, by_ref)
    _report_unjudged(rules, {path.name for path in files}, by_ref)
    return RenderResult(reports, files)


# prometheus-operator's kinds this renderer does not read: `alertagent convert` turns them into ours.
CONVERTIBLE = frozenset({("monitoring.coreos.com", "PrometheusRule"), ("monitoring.coreos.com", "AlertmanagerConfig")})


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind and isinstance(o.get("metadata"), dict)]


def _new_report(
    obj: dict[str, Any], seen: dict[ObjectRef, ObjectReport], reports: list[ObjectReport], copies: int
) -> ObjectReport | None:
    """The report of an object to render, added to `reports`; invalid with what the API server would
    say when it refuses its name or namespace (then nothing of it is rendered: two such names can
    share a rule file), or when the input holds `copies` > 1 of it (none is rendered). None for the
    second and later copies."""
    ref = _ref(obj)
    if ref in seen:
        return None
    errors = [f"{field}: {message}" for field, message in metadata_issues(obj.get("metadata") or {})]
    if copies > 1 and not errors:
        errors = [f"{ref} is in the input {copies} times (kubectl apply would keep only the last): none is rendered"]
    seen[ref] = ObjectReport(ref.kind, ref.namespace, ref.name, valid=not errors, errors=errors)
    reports.append(seen[ref])
    return seen[ref]


def _ref(obj: dict[str, Any]) -> ObjectRef:
    """The object's ref, whatever YAML made of its name (`name: 123`, `name: [a]`)."""
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    return ObjectRef(
        str(obj.get("kind", "")), str(namespace_of(meta)), name if isinstance(name, str) else str(name or "")
    )


def _unrendered_kinds(objects: list[dict[str, Any]]) -> list[ObjectReport]:
    """What a CI gate must not pass in silence: an `alertagent.io` kind that does not exist (a typo
    such as `AlertRules`, which the API server refuses) is an error; a PrometheusRule or
    AlertmanagerConfig is a warning naming `alertagent convert` (it would render nothing)."""
    known = {"AlertRule", "Incident", *MODELS}
    reports: list[ObjectReport] = []
    for obj in objects:
        group, kind = str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))
        ref = ObjectRef.of(obj)
        if group == GROUP and kind not in known:
            reports.append(
                ObjectReport(
                    kind,
                    ref.namespace,
                    ref.name,
                    valid=False,
                    errors=[f"no kind {kind} in {GROUP} (kinds: {', '.join(sorted(known))})"],
                )
            )
        elif (group, kind) in CONVERTIBLE:
            warning = (
                f"a prometheus-operator {kind} is not rendered: `alertagent convert -f` makes AlertAgent objects of it"
            )
            reports.append(ObjectReport(kind, ref.namespace, ref.name, warnings=[warning]))
    return reports


def _report_unjudged(rules: list[IndexedRule], written: set[str], by_ref: dict[ObjectRef, ObjectReport]) -> None:
    """An AlertRule promql-parser refused is deferred to a vmalert evaluator's own dry run (MetricsQL);
    with none in the input to judge it (no evaluator wrote it, none refused it), it is an error, not a
    silent pass (a CI job must not go green)."""
    for entry in rules:
        report = by_ref[entry.ref]
        refused = not report.valid  # an evaluator of the input refused it, saying why
        if entry.metricsql_candidate and not entry.valid and not refused:
            if rule_file_name(entry.ref.namespace, entry.ref.name) in written:
                continue
            report.valid = False
            report.errors.extend(
                f"{describe(i)} (no vmalert evaluator in the input judged it: include the AlertmanagerCluster "
                "that loads it, if it is MetricsQL)"
                for i in entry.issues
            )


def _report_placement(
    parsed: dict[str, list[Any]],
    namespace_labels: dict[str, dict[str, str]],
    rules: list[IndexedRule],
    by_ref: dict[ObjectRef, ObjectReport],
) -> None:
    """What the operator's statuses say of objects live nowhere: `targets` naming a cluster the input
    lacks is an error (UnknownTarget); an object no cluster of the input includes is a warning
    (NotSelected: the input may not hold every cluster). Nothing without a cluster in the input."""
    if not parsed["AlertmanagerCluster"]:
        return
    world = World({ObjectRef.of(c).key: c for c in parsed["AlertmanagerCluster"]}, namespace_labels)
    placed = [
        (r.ref, r.rule.metadata.labels, r.rule.spec.targets, r.rule.spec.cluster_selector)
        for r in rules
        if r.rule is not None and r.rule.spec.enabled
    ]
    placed += [
        (ObjectRef.of(m), m.metadata.labels, m.spec.targets, None)
        for kind in ("NotificationChannel", "SuppressionPolicy")
        for m in parsed[kind]
    ]
    for ref, labels, targets, cluster_selector in placed:
        placement = world.place(ref.kind, ref.namespace, labels, targets, cluster_selector)
        report = by_ref[ref]
        if placement.unknown_targets:
            report.valid = False
            report.errors.append(unknown_targets_message(placement))
        elif not placement.selecting:
            report.warnings.append("NotSelected: no AlertmanagerCluster in the input selects it: it is live nowhere")


def _discovered(obj: dict[str, Any]) -> bool:
    """Whether the operator's discovery reads the object: it skips what AlertAgent itself manages (its
    rule shards and published graph say nothing about services; handlers.discovery `_ours`)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return not all(labels.get(key) == value for key, value in MANAGED_BY.items())


def service_graph(objects: Iterable[dict[str, Any]], reports: list[ObjectReport] | None = None) -> Graph:
    """The service dependency graph of the Services, Ingresses, ConfigMaps and workloads among
    `objects`, built by the operator's own discovery code (`discovery.graph.extract` per object, put
    into a `ServiceGraph`, whose snapshot is what the operator publishes and renders from). An object
    whose facts cannot be read is skipped, as the operator skips it, with a warning in `reports`."""
    graph = ServiceGraph()
    for obj in objects:
        if not _discovered(obj):
            continue
        try:
            facts = extract(obj)
        except Exception as err:  # one odd object must not stop the others (as in the operator)
            if reports is not None:
                ref = ObjectRef.of(obj)
                reports.append(
                    ObjectReport(ref.kind, ref.namespace, ref.name, warnings=[f"discovery skipped it: {err}"])
                )
            continue
        if facts is not None:
            graph.put(facts)
    return graph.snapshot()


def _rule_report(reports: list[ObjectReport], file_name: str) -> ObjectReport:
    return next(r for r in reports if r.kind == "AlertRule" and rule_file_name(r.namespace, r.name) == file_name)


def _includes(
    cluster: AlertmanagerCluster, obj: NotificationChannel | SuppressionPolicy, ns_labels: dict[str, dict[str, str]]
) -> bool:
    selectors = cluster.spec.selectors
    selector = (
        selectors.notification_channels if isinstance(obj, NotificationChannel) else selectors.suppression_policies
    )
    namespace = namespace_of(obj.metadata)
    return includes(cluster, selector, namespace, obj.metadata.labels, ns_labels.get(namespace), obj.spec.targets)


def _alertmanager_file(
    cluster: AlertmanagerCluster,
    channels: list[NotificationChannel],
    policies: list[SuppressionPolicy],
    resolve: Callable[[str, SecretKeyRef], str | None],
    check_config: Callable[[str], str | None] | None,
    base: PurePosixPath,
    by_ref: dict[ObjectRef, ObjectReport],
    secret_values: set[str],
    graph: Graph,
) -> str:
    """One cluster's alertmanager.yaml; what could not be rendered, or what the tool refuses, is
    reported on its object (and left out)."""
    check = check_config or (lambda _: None)
    checked = render_checked(cluster, channels, policies, resolve, check, placeholders=True, graph=graph)
    for ref, reasons in checked.rendered.problems.items():
        by_ref[ref].valid = False
        by_ref[ref].errors += [f"{base}: {reason}" for reason in reasons]
    for ref, missing in checked.rendered.placeholders.items():
        by_ref[ref].warnings += [f"{base}: {m} not in the input files: a placeholder was written" for m in missing]
    for ref, message in checked.culprits.items():
        by_ref[ref].valid = False
        by_ref[ref].errors.append(f"{base}: Alertmanager refuses it (amtool): {scrub(message, secret_values)}")
    if checked.error is not None:
        cluster_ref = ObjectRef.of(cluster)
        by_ref[cluster_ref].valid = False
        error = scrub(checked.error, secret_values)
        by_ref[cluster_ref].errors.append(f"{base}/alertmanager.yaml: amtool refuses it: {error}")
    return checked.rendered.text
