"""Status plans (pure): what each object's status should be, from the operator's records, and whether
it must be written (only when it differs, timestamps aside) and announced with a Warning Event."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api.alertmanagercluster import TargetHealth
from ..api.alertrule import RuleTargetStatus, ValidationIssue
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.identity import ObjectRef
from ..render.receivers import GATEWAY_TYPES
from ..render.validation import describe
from ..render.windows import window_active
from ..status import alert_rule_status, channel_status, cluster_status, comparable, policy_status
from .alertmanager import AlertmanagerPlan, IndexedObject

PLURALS = {
    "AlertRule": "alertrules",
    "AlertmanagerCluster": "alertmanagerclusters",
    "NotificationChannel": "notificationchannels",
    "SuppressionPolicy": "suppressionpolicies",
}


@dataclass(frozen=True)
class StatusPatch:
    """A status to merge-patch onto `ref`, and the Warning Event to post with it (None: none)."""

    ref: ObjectRef
    status: dict[str, Any]
    warning: tuple[str, str] | None = None  # (reason, message)


def differs(body: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing `new` would change the object's status (condition timestamps aside)."""
    old = body.get("status") or {}
    return comparable({k: old.get(k) for k in new}) != comparable(new)


@dataclass
class Memberships:
    """Which clusters include each NotificationChannel and SuppressionPolicy, why one left it out,
    what each generated, and the silences of one-off windows. Written by the Alertmanager and silences
    steps, read by status plans and test-send; safe to use from several threads."""

    problems: dict[ObjectRef, dict[str, str | None]] = field(default_factory=dict)  # object → cluster → why out
    generated: dict[ObjectRef, dict[str, int]] = field(default_factory=dict)  # policy → cluster → inhibit rules
    silences: dict[str, dict[str, str]] = field(default_factory=dict)  # cluster → window marker → silence id
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(
        self, cluster: str, members: Mapping[ObjectRef, str | None], generated: Mapping[ObjectRef, int]
    ) -> set[ObjectRef]:
        """Remember what one cluster (`namespace/name`) rendered; return the objects whose membership,
        problem or generated count changed."""
        changed = set()
        with self._lock:
            for ref in members:
                if ref.kind == "SuppressionPolicy":
                    counts = self.generated.setdefault(ref, {})
                    if counts.get(cluster) != generated.get(ref, 0):
                        counts[cluster] = generated.get(ref, 0)
                        changed.add(ref)
            for ref, by_cluster in self.problems.items():
                if cluster in by_cluster and ref not in members:
                    del by_cluster[cluster]
                    self.generated.get(ref, {}).pop(cluster, None)  # no longer rendered there: nothing generated
                    changed.add(ref)
            for ref, problem in members.items():
                by_cluster = self.problems.setdefault(ref, {})
                if cluster not in by_cluster or by_cluster[cluster] != problem:
                    by_cluster[cluster] = problem
                    changed.add(ref)
        return changed

    def forget_cluster(self, cluster: str) -> set[ObjectRef]:
        """The cluster is gone: drop what it rendered; return the objects that changed."""
        changed = self.record_silences(cluster, {})
        with self._lock:
            self.silences.pop(cluster, None)
        return changed | self.record(cluster, {}, {})

    def record_silences(self, cluster: str, ids: Mapping[str, str]) -> set[ObjectRef]:
        """Remember the silence ids of a cluster; return the policies whose silences changed."""
        with self._lock:
            before = self.silences.get(cluster, {})
            self.silences[cluster] = dict(ids)
            markers = before.keys() | ids.keys()
            moved = {m for m in markers if before.get(m) != ids.get(m)}
        return {ObjectRef("SuppressionPolicy", *m.split("/")[:2]) for m in moved}

    def clusters_of(self, ref: ObjectRef) -> dict[str, str | None]:
        with self._lock:
            return dict(self.problems.get(ref, {}))

    def rendered_in(self, ref: ObjectRef) -> list[str]:
        """Clusters whose configuration includes the object."""
        return sorted(c for c, problem in self.clusters_of(ref).items() if problem is None)

    def generated_for(self, ref: ObjectRef) -> int:
        """Inhibit rules generated for a policy: the same graph renders the same rules in every
        cluster, unless isolation narrows them, so the largest count."""
        with self._lock:
            return max(self.generated.get(ref, {}).values(), default=0)

    def silences_of(self, ref: ObjectRef) -> list[dict[str, str]]:
        prefix = f"{ref.namespace}/{ref.name}/"
        with self._lock:
            return [
                {"window": marker[len(prefix) :], "cluster": cluster, "id": silence_id}
                for cluster, ids in sorted(self.silences.items())
                for marker, silence_id in sorted(ids.items())
                if marker.startswith(prefix)
            ]


def member_status(
    entry: IndexedObject, body: Mapping[str, Any], memberships: Memberships, now: datetime
) -> dict[str, Any]:
    """The operator-owned status of a NotificationChannel or SuppressionPolicy."""
    clusters = memberships.clusters_of(entry.ref)
    errors = list(entry.errors)
    if entry.ref.kind == "NotificationChannel":
        channel_type = (body.get("spec") or {}).get("type")
        delivery = None if channel_type is None else "Gateway" if channel_type in GATEWAY_TYPES else "Native"
        return channel_status(body, clusters, errors, delivery)
    policy = entry.model if isinstance(entry.model, SuppressionPolicy) else None
    windows = policy.spec.maintenance_windows or [] if policy else []
    active = [w.name for w in windows if window_active(w, now)]
    generated = memberships.generated_for(entry.ref)
    inhibit = len(policy.spec.inhibit_rules or []) + generated if policy else 0
    status = policy_status(body, clusters, errors, [w.name for w in windows], active, inhibit)
    return {**status, "silences": memberships.silences_of(entry.ref), "generatedInhibitRules": generated}


def plan_member_status(
    entry: IndexedObject, body: Mapping[str, Any], memberships: Memberships, now: datetime
) -> StatusPatch | None:
    """The patch for a channel or policy, None when its status is already right. A Warning Event goes
    with a patch that turns Ready False with a new message."""
    new = member_status(entry, body, memberships, now)
    if not differs(body, new):
        return None
    condition = new["conditions"][0]
    old_message = ((body.get("status") or {}).get("conditions") or [{}])[0].get("message")
    warning = None
    if condition["status"] == "False" and condition["message"] != old_message:
        warning = ("Invalid", condition["message"][:1024])
    return StatusPatch(entry.ref, new, warning)


def plan_rule_status(
    body: Mapping[str, Any],
    issues: Iterable[ValidationIssue],
    targets: Iterable[RuleTargetStatus],
    revision: int | None,
    announce: bool,
) -> StatusPatch | None:
    """The patch for an AlertRule, None when its status is already right; with `announce`, a Warning
    Event when its validation errors changed to something."""
    issues = list(issues)
    new = alert_rule_status(body, issues, list(targets), revision)
    if not differs(body, new):
        return None
    warning = None
    if announce and issues and new["validationErrors"] != (body.get("status") or {}).get("validationErrors"):
        warning = ("InvalidRule", "; ".join(describe(i) for i in issues)[:1024])
    return StatusPatch(ObjectRef.of(body, "AlertRule"), new, warning)


def member_kind(ref: ObjectRef) -> type[NotificationChannel] | type[SuppressionPolicy]:
    return NotificationChannel if ref.kind == "NotificationChannel" else SuppressionPolicy


def plan_cluster_status(
    body: Mapping[str, Any],
    health: list[TargetHealth],
    rule_counts: Mapping[str, int] | None,
    step_errors: Mapping[str, str],
    config: AlertmanagerPlan | None,
) -> StatusPatch | None:
    """The patch for an AlertmanagerCluster from its last probe and reconcile, None when unchanged.
    `step_errors` are the reconcile steps that failed (step → message). A step that has not succeeded
    since start (`rule_counts` or `config` None) keeps what the status says of it."""
    old = body.get("status") or {}
    errors = [f"{step}: {message}" for step, message in sorted(step_errors.items())]
    if config is not None and config.error:
        errors.append(config.error)
    if config is not None:
        errors += config.cluster_problems
    if config is not None and config.loaded.sync_error:
        errors.append(f"alertmanager sidecar: {config.loaded.sync_error}")
    if rule_counts is None:
        rule_counts = {
            t["name"]: t.get("rules") or 0 for t in old.get("targets") or [] if t.get("type") != "alertmanager"
        }
    if config is not None:
        counts, config_hash, loaded = config.counts, config.config_hash, (config.loaded.hash, config.loaded.time)
    else:
        previous = old.get("counts") or {}
        counts = {"receivers": previous.get("receivers", 0), "routes": previous.get("routes", 0)}
        counts["inhibitRules"] = previous.get("inhibitRules", 0)
        manager: Mapping[str, Any] = next((t for t in old.get("targets") or [] if t.get("type") == "alertmanager"), {})
        config_hash, loaded = old.get("configHash"), (manager.get("configHash"), old.get("lastReloadTime"))
    new = cluster_status(body, health, rule_counts, "; ".join(errors) or None, counts, config_hash, loaded)
    return StatusPatch(ObjectRef.of(body, "AlertmanagerCluster"), new) if differs(body, new) else None
