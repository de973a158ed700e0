"""Rule ConfigMaps (shards) as the sidecars report on them: which rule files each shard holds and
whether its target loaded it. Every change updates the `status.targets` of the AlertRules involved."""

from __future__ import annotations

import threading
from typing import Any

import kopf

from .. import kube
from ..api.alertrule import RuleTargetStatus
from ..render.rules import content_hash, rule_file_name
from ..render.validation import describe, parse_alert_rule
from ..settings import (
    CLUSTER_LABEL,
    COMPONENT_LABEL,
    CONTENT_HASH_ANNOTATION,
    EVALUATOR_LABEL,
    LOADED_HASH_ANNOTATION,
    LOADED_TIME_ANNOTATION,
    RULES_COMPONENT,
    SYNC_ERROR_ANNOTATION,
)
from ..status import ShardReport, alert_rule_status, comparable

# The last index, for target_statuses() callers that do not get Kopf's kwargs (e.g. the validator).
_REPORTS: dict[str, dict[str, ShardReport]] = {}  # file name → shard name → report
_REJECTED: dict[str, dict[str, RuleTargetStatus]] = {}  # file name → "cluster/evaluator" → Failed status
_SHARD_FILES: dict[str, set[str]] = {}  # "ns/shard" → files it held
_LOCK = threading.Lock()


def reject(file_name: str, cluster: str, evaluator: str, message: str) -> None:
    with _LOCK:
        _REJECTED.setdefault(file_name, {})[f"{cluster}/{evaluator}"] = RuleTargetStatus(
            cluster=cluster, evaluator=evaluator, state="Failed", message=message
        )


def clear_rejections(cluster: str, evaluator: str, keep: set[str]) -> set[str]:
    """Forget rejections of this evaluator except for `keep`; return the files that changed."""
    changed = set()
    with _LOCK:
        for file_name, by_target in _REJECTED.items():
            if file_name not in keep and by_target.pop(f"{cluster}/{evaluator}", None) is not None:
                changed.add(file_name)
    return changed


def target_statuses(file_name: str) -> list[RuleTargetStatus]:
    with _LOCK:
        reports = [r.target_status() for r in _REPORTS.get(file_name, {}).values()]
        return reports + list(_REJECTED.get(file_name, {}).values())


def _reports(body: kopf.Body) -> dict[str, ShardReport]:
    labels, annotations = body.metadata.labels, body.metadata.annotations
    data = body.get("data") or {}
    cluster = f"{body.metadata.namespace}/{labels.get(CLUSTER_LABEL, '')}"
    shard_hash = annotations.get(CONTENT_HASH_ANNOTATION) or content_hash(data)
    return {
        file_name: ShardReport(
            cluster=cluster,
            evaluator=labels.get(EVALUATOR_LABEL, ""),
            file_hash=content_hash({file_name: text}),
            shard_hash=shard_hash,
            loaded_hash=annotations.get(LOADED_HASH_ANNOTATION),
            loaded_time=annotations.get(LOADED_TIME_ANNOTATION),
            error=annotations.get(SYNC_ERROR_ANNOTATION),
        )
        for file_name, text in data.items()
    }


@kopf.on.event("", "v1", "configmaps", labels={COMPONENT_LABEL: RULES_COMPONENT})
def shard_changed(body: kopf.Body, type: str, namespace: str, name: str, **kwargs: Any) -> None:
    shard = f"{namespace}/{name}"
    reports = {} if type == "DELETED" else _reports(body)
    with _LOCK:
        before = _SHARD_FILES.get(shard, set())
        for file_name in before - reports.keys():
            _REPORTS.get(file_name, {}).pop(shard, None)
        for file_name, report in reports.items():
            _REPORTS.setdefault(file_name, {})[shard] = report
        _SHARD_FILES[shard] = set(reports)
    refresh_rule_statuses(before | reports.keys(), kwargs["alertrule_index"])


def refresh_rule_statuses(file_names: set[str], alertrule_index: kopf.Index[Any, Any]) -> None:
    """Rewrite the status of the AlertRules behind these files (blocking)."""
    rules_by_file = {rule_file_name(ns, name): (ns, name) for ns, name in alertrule_index}
    for file_name in sorted(file_names & rules_by_file.keys()):
        body = kube.get_object("alertrules", *rules_by_file[file_name])
        if body is not None:
            write_rule_status(body, announce=False)


def write_rule_status(body: dict[str, Any], announce: bool, revision: int | None = None) -> None:
    """Compute an AlertRule's status from its spec and the shard reports; patch it when it changed.
    With `announce`, post a Warning Event when the validation errors changed to something."""
    meta = body["metadata"]
    issues = parse_alert_rule(body)[1]
    targets = target_statuses(rule_file_name(meta["namespace"], meta["name"]))
    new = alert_rule_status(body, issues, targets, revision)
    old = body.get("status") or {}
    if comparable({k: old.get(k) for k in new}) == comparable(new):
        return
    kube.patch_status("alertrules", meta["namespace"], meta["name"], new)
    if announce and issues and new["validationErrors"] != old.get("validationErrors"):
        kopf.warn(body, reason="InvalidRule", message="; ".join(describe(i) for i in issues)[:1024])
