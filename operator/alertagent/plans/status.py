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
from ..api.common import STALLED, kstatus_of
from ..api.notificationchannel import NotificationChannel, delivery_of
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.identity import ObjectRef
from ..render.validation import describe
from ..render.windows import window_active
from ..status import Placement, alert_rule_status, channel_status, cluster_status, comparable, policy_status
from .alertmanager import AlertmanagerPlan, IndexedObject
from .placement import World
from .silences import unreachable_detail

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
    # object → cluster → why it runs there on its last-known-good receiver (a Secret gone or unreadable)
    stale: dict[ObjectRef, dict[str, str]] = field(default_factory=dict)
    # gateway channel → cluster → the robot's message, while its robot refuses the channel's configuration
    refused: dict[ObjectRef, dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(
        self,
        cluster: str,
        members: Mapping[ObjectRef, str | None],
        generated: Mapping[ObjectRef, int],
        last_known_good: Mapping[ObjectRef, str] | None = None,
    ) -> set[ObjectRef]:
        """Remember what one cluster (`namespace/name`) rendered; return the objects whose membership,
        problem, generated count or last-known-good reason changed."""
        changed = set()
        stale = {ref: why for ref, why in (last_known_good or {}).items() if ref in members}
        with self._lock:
            for ref in set(self.stale) | set(stale):
                reasons = self.stale.setdefault(ref, {})
                if reasons.get(cluster) != stale.get(ref):
                    changed.add(ref)
                    if ref in stale:
                        reasons[cluster] = stale[ref]
                    else:
                        reasons.pop(cluster, None)
                if not reasons:
                    del self.stale[ref]
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
        changed = self.record_silences(cluster, {}) | self.record_refusals(cluster, {})
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

    def record_refusals(self, cluster: str, refused: Mapping[ObjectRef, str]) -> set[ObjectRef]:
        """Remember which gateway channels of a cluster its gateway reports as refused by their robot
        (a configuration error: bad signature, token or keyword) and the robot's message; return the
        channels whose refusal changed."""
        changed = set()
        with self._lock:
            for ref in set(self.refused) | set(refused):
                by_cluster = self.refused.setdefault(ref, {})
                if by_cluster.get(cluster) != refused.get(ref):
                    changed.add(ref)
                    if ref in refused:
                        by_cluster[cluster] = refused[ref]
                    else:
                        by_cluster.pop(cluster, None)
                if not by_cluster:
                    del self.refused[ref]
        return changed

    def refused_in(self, ref: ObjectRef) -> dict[str, str]:
        """Cluster → the robot's message, where the channel's robot refuses its configuration."""
        with self._lock:
            return dict(self.refused.get(ref, {}))

    def clusters_of(self, ref: ObjectRef) -> dict[str, str | None]:
        with self._lock:
            return dict(self.problems.get(ref, {}))

    def stale_in(self, ref: ObjectRef) -> dict[str, str]:
        """Cluster → why the object runs there on its last-known-good receiver."""
        with self._lock:
            return dict(self.stale.get(ref, {}))

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
    entry: IndexedObject, body: Mapping[str, Any], memberships: Memberships, now: datetime, world: World | None = None
) -> dict[str, Any]:
    """The operator-owned status of a NotificationChannel or SuppressionPolicy; `world` (the clusters
    there are) tells "not selected" and "unknown target" apart from "not rendered yet"."""
    clusters = memberships.clusters_of(entry.ref)
    errors = list(entry.errors)
    placement = None
    if world is not None and entry.model is not None:
        meta, spec = entry.model.metadata, entry.model.spec
        placement = world.place(entry.ref.kind, entry.ref.namespace, meta.labels, spec.targets)
    if entry.ref.kind == "NotificationChannel":
        wanted = body.get("spec") or {}
        channel_type = wanted.get("type")
        delivery = None if channel_type is None else delivery_of(channel_type, wanted.get("delivery"))
        stale, refused = memberships.stale_in(entry.ref), memberships.refused_in(entry.ref)
        return channel_status(body, clusters, errors, delivery, placement, stale, refused)
    policy = entry.model if isinstance(entry.model, SuppressionPolicy) else None
    windows = policy.spec.maintenance_windows or [] if policy else []
    active = [w.name for w in windows if window_active(w, now)]
    generated = memberships.generated_for(entry.ref)
    inhibit = len(policy.spec.inhibit_rules or []) + generated if policy else 0
    status = policy_status(body, clusters, errors, [w.name for w in windows], active, inhibit, placement)
    return {**status, "silences": memberships.silences_of(entry.ref), "generatedInhibitRules": generated}


def plan_member_status(
    entry: IndexedObject,
    body: Mapping[str, Any],
    memberships: Memberships,
    now: datetime,
    world: World | None = None,
) -> StatusPatch | None:
    """The patch for a channel or policy, None when its status is already right. A Warning Event goes
    with a patch that turns Ready False with a new message."""
    new = member_status(entry, body, memberships, now, world)
    if not differs(body, new):
        return None
    return StatusPatch(entry.ref, new, _warning(body, new["conditions"][0]))


QUIET_REASONS = ("Pending",)  # Ready False on the way to True: no Event


def _warning(body: Mapping[str, Any], condition: Mapping[str, Any]) -> tuple[str, str] | None:
    """A Warning Event (reason, message) when Ready turns False with a reason or message it did not
    have (so a restart that rewrites the same status posts nothing)."""
    conditions: list[Mapping[str, Any]] = (body.get("status") or {}).get("conditions") or []
    old: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    if condition["status"] != "False" or condition["reason"] in QUIET_REASONS:
        return None
    if (old.get("reason"), old.get("message")) == (condition["reason"], condition["message"]):
        return None
    return condition["reason"], condition["message"][:1024]


def plan_rule_status(
    body: Mapping[str, Any],
    issues: Iterable[ValidationIssue],
    targets: Iterable[RuleTargetStatus],
    revision: int | None,
    announce: bool,
    placement: Placement | None = None,
) -> StatusPatch | None:
    """The patch for an AlertRule, None when its status is already right; with `announce`, a Warning
    Event when its validation errors changed to something; a Warning Event whenever Ready turns False
    for another reason (not selected, unknown target, sync failed or stalled) with a new message."""
    issues = list(issues)
    new = alert_rule_status(body, issues, list(targets), revision, placement)
    if not differs(body, new):
        return None
    warning = None
    if issues:
        if announce and new["validationErrors"] != (body.get("status") or {}).get("validationErrors"):
            warning = ("InvalidRule", "; ".join(describe(i) for i in issues)[:1024])
    else:
        warning = _warning(body, new["conditions"][0])
    return StatusPatch(ObjectRef.of(body, "AlertRule"), new, warning)


def member_kind(ref: ObjectRef) -> type[NotificationChannel] | type[SuppressionPolicy]:
    return NotificationChannel if ref.kind == "NotificationChannel" else SuppressionPolicy


def plan_cluster_status(
    body: Mapping[str, Any],
    health: list[TargetHealth],
    rule_counts: Mapping[str, int] | None,
    step_errors: Mapping[str, str],
    config: AlertmanagerPlan | None,
    announced: str | None = None,
) -> StatusPatch | None:
    """The patch for an AlertmanagerCluster from its last probe and reconcile, None when unchanged.
    `step_errors` are the reconcile steps that failed (step → message); a silences step that failed
    because Alertmanager did not answer is part of the Alertmanager target's health, not an error of
    its own. A step that has not succeeded since start (`rule_counts` or `config` None) keeps what the
    status says of it. The patch carries a Warning Event when Ready turns to a Failed reason
    (`TargetsUnhealthy`, `RenderFailed`) other than the last one: `announced`, the Ready reason last
    written (None: the one `body` shows). One Event per change of reason, none per probe."""
    old = body.get("status") or {}
    errors, problems = [], {}
    for step, message in sorted(step_errors.items()):
        if step == "silences" and (detail := unreachable_detail(message)) is not None:
            probed = next((t.message for t in health if t.type == "alertmanager"), None)
            problems["alertmanager"] = "silences not synced" + ("" if detail == probed else f": {detail}")
        else:
            errors.append(f"{step}: {message}")
    if config is not None and config.error:
        errors.append(config.error)
    if config is not None:
        errors += config.cluster_problems
    if config is not None and config.loaded.sync_error:
        errors.append(f"alertmanager sidecar: {config.loaded.sync_error}")
    if rule_counts is None:
        rule_counts = {
            t["name"]: t.get("rules") or 0
            for t in old.get("targets") or []
            if t.get("type") not in ("alertmanager", "gateway")
        }
    if config is not None:
        counts, config_hash, loaded = config.counts, config.config_hash, (config.loaded.hash, config.loaded.time)
    else:
        previous = old.get("counts") or {}
        counts = {"receivers": previous.get("receivers", 0), "routes": previous.get("routes", 0)}
        counts["inhibitRules"] = previous.get("inhibitRules", 0)
        manager: Mapping[str, Any] = next((t for t in old.get("targets") or [] if t.get("type") == "alertmanager"), {})
        config_hash, loaded = old.get("configHash"), (manager.get("configHash"), old.get("lastReloadTime"))
    stale = {str(ref): why for ref, why in (config.last_known_good if config is not None else {}).items()}
    new = cluster_status(
        body, health, rule_counts, "; ".join(errors) or None, counts, config_hash, loaded, stale, problems
    )
    if not differs(body, new):
        return None
    ready = new["conditions"][0]
    before = announced if announced is not None else ready_reason(body)
    failed = kstatus_of("AlertmanagerCluster", ready["reason"]) == STALLED
    warning = (ready["reason"], ready["message"][:1024]) if failed and ready["reason"] != before else None
    return StatusPatch(ObjectRef.of(body, "AlertmanagerCluster"), new, warning)


def ready_reason(body: Mapping[str, Any]) -> str | None:
    """The reason of the object's Ready condition (None: it has none yet)."""
    conditions: list[Mapping[str, Any]] = (body.get("status") or {}).get("conditions") or []
    return next((c.get("reason") for c in conditions if c.get("type") == "Ready"), None)
