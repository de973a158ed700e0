"""Incidents as Kubernetes objects (pure): a tracked `track.Incident` as the `Incident` resource's
status (api/incident.py), where it goes, and which writes to make this poll.

- Node ids map to `ServiceRef`s: a Service `ns/name` is (ns, name); a workload no Service selects,
  `ns/kind/name`, is (ns, `kind/name`); an alert naming no graph node, `alert:ns/service`, is
  (ns, service) with `inGraph: false`.
- An Incident goes into its root's namespace when the cluster selects that namespace (every
  namespace when the cluster names none), else into the cluster's own; once written it stays there.
- Writes are debounced and bounded (`plan_writes`): an incident is written when its status differs
  from what was last written for it (a `changed` incident, or a change deferred earlier), at most once
  per `min_interval` seconds, at most `max_per_poll` writes per poll (new incidents first), and a
  resolved incident is deleted `retention` seconds after it resolved. So a storm of thousands of
  alerts costs a few incidents and at most `max_per_poll` writes per poll, whatever its size.
- `incident_from_object` reads a written Incident back (a new leader's state, so names, timelines
  and notification counts survive a failover); `adopt` lets those continue the outages a replica
  also tracked under a name of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from ..api.analysis import IncidentAnalysis
from ..api.base import API_VERSION
from ..api.common import CURRENT, RECONCILING, STALLED, kstatus_of
from ..api.incident import (
    ImpactedService,
    IncidentStatus,
    Notifications,
    RootCause,
    TimelineEntry,
)
from ..common.labels import CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY
from . import track

INCIDENT_COMPONENT = "incident"
IMPACTED_MAX = 1000  # IncidentStatus.impacted's maxItems; `services` counts them all
TIMELINE_MAX = 50  # IncidentStatus.timeline's maxItems
ROOT_ALERTS_MAX = 64
PSEUDO_PREFIX = "alert:"
# The generation an Incident's status describes: its spec is written once, at creation, and never
# changed by AlertAgent (a spec edited by hand shows InProgress to kstatus: nobody acts on it).
INCIDENT_GENERATION = 1


# -- names, labels, places -------------------------------------------------------------------------


def cluster_label(cluster: str) -> str:
    """The `alertagent.io/cluster` label value of a cluster `namespace/name`: `namespace.name`, or, when
    that is over the 63 characters a label value may have, its first 46 and a hash."""
    value = cluster.replace("/", ".")
    if len(value) <= 63:
        return value
    return f"{value[:46].rstrip('.-')}-{hashlib.sha256(cluster.encode()).hexdigest()[:16]}"


def incident_labels(cluster: str) -> dict[str, str]:
    """The labels of a cluster's Incidents (a label selector lists them)."""
    return {**MANAGED_BY, COMPONENT_LABEL: INCIDENT_COMPONENT, CLUSTER_LABEL: cluster_label(cluster)}


def node_ref(node: str) -> tuple[str, str, bool]:
    """(namespace, name, inGraph) of a node id (see the module docstring)."""
    in_graph = not node.startswith(PSEUDO_PREFIX)
    bare = node if in_graph else node[len(PSEUDO_PREFIX) :]
    namespace, _, name = bare.partition("/")
    return namespace, name, in_graph


def node_id(namespace: str, name: str, in_graph: bool) -> str:
    """The node id back from a ServiceRef (`node_ref`'s inverse)."""
    return f"{namespace}/{name}" if in_graph else f"{PSEUDO_PREFIX}{namespace}/{name}"


def incident_namespace(root: str, cluster: str, namespaces: Collection[str] | None) -> str:
    """Where an incident with this root goes: the root's namespace when `namespaces` (those the cluster
    selects; None: all) holds it, else the cluster's (`cluster` is `namespace/name`)."""
    namespace = node_ref(root)[0]
    if namespace and (namespaces is None or namespace in namespaces):
        return namespace
    return cluster.partition("/")[0]


# -- status ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """Incident notifications sent so far (counted by the gateway's delivery)."""

    count: int = 0
    last: float | None = None  # epoch seconds
    channels: tuple[str, ...] = ()  # `namespace/name`, sorted


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)  # whole seconds, as metav1.Time


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _capped_timeline(entries: Sequence[track.Entry]) -> list[track.Entry]:
    if len(entries) <= TIMELINE_MAX:
        return list(entries)
    return [entries[0], *entries[len(entries) - (TIMELINE_MAX - 1) :]]


def _opened_at(incident: track.Incident) -> float:
    """When it last started firing: its last reopening, else its start."""
    return next((e.at for e in reversed(incident.timeline) if e.text == "reopened"), incident.started)


def _conditions(incident: track.Incident) -> list[dict[str, Any]]:
    resolved = incident.state == track.RESOLVED
    if resolved and incident.merged_into:
        reason, message = "Merged", f"its alerts are now in incident {incident.merged_into}"
    elif resolved:
        reason, message = "AllAlertsGone", "all its alerts are gone"
    else:
        alerts = f"{incident.alerts} alert{'' if incident.alerts == 1 else 's'}"
        services = f"{incident.services} service{'' if incident.services == 1 else 's'}"
        reason, message = "Firing", f"{alerts} firing over {services}"
    at = incident.resolved if resolved and incident.resolved is not None else _opened_at(incident)
    # kstatus (api.common.KSTATUS): a tracked incident's record is current, firing or resolved; the
    # times are the incident's own, so a rewrite never moves them.
    tracked = kstatus_of("Incident", "Tracked")
    since, generation = _time(incident.started), INCIDENT_GENERATION
    kstatus = [
        {
            "type": kind,
            "status": "True" if tracked == wanted else "False",
            "reason": "Tracked",
            "message": "the incident engine tracks it and this status is current" if kind == "Ready" else "",
            "lastTransitionTime": since,
            "observedGeneration": generation,
        }
        for kind, wanted in (("Ready", CURRENT), (RECONCILING, RECONCILING), (STALLED, STALLED))
    ]
    state = {
        "type": "Resolved",
        "status": "True" if resolved else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": _time(at),
        "observedGeneration": generation,
    }
    return [*kstatus, state]


def incident_status(
    incident: track.Incident, sent: Sent = Sent(), analysis: IncidentAnalysis | None = None
) -> dict[str, Any]:
    """The wire `status` (camelCase, RFC 3339 times, validated against `IncidentStatus`), with its
    `analysis` when there is one. Unset fields are null, so the same dict as a merge patch clears what
    no longer holds (a reopened incident's resolveTime)."""
    return status_model(incident, sent, analysis).model_dump(mode="json", by_alias=True)


def status_model(
    incident: track.Incident, sent: Sent = Sent(), analysis: IncidentAnalysis | None = None
) -> IncidentStatus:
    """`incident_status` as the validated model (what the analysis reads)."""
    namespace, name, in_graph = node_ref(incident.root)
    root = RootCause(
        namespace=namespace,
        name=name,
        in_graph=in_graph,
        alerts=[a[:256] for a in incident.root_alerts[:ROOT_ALERTS_MAX]],
    )
    impacted = []
    for impact in incident.impacted[:IMPACTED_MAX]:
        ns, svc, graphed = node_ref(impact.node)
        impacted.append(
            ImpactedService(
                namespace=ns,
                name=svc,
                in_graph=graphed,
                depth=impact.depth,
                alerts=impact.alerts,
                suppressed=impact.suppressed,
                parent=impact.parent,
            )
        )
    status = IncidentStatus(
        state="Resolved" if incident.state == track.RESOLVED else "Firing",
        severity=incident.severity[:64],
        root=root,
        impacted=impacted,
        services=incident.services,
        alerts=incident.alerts,
        suppressed_alerts=incident.suppressed,
        start_time=_time(incident.started),
        resolve_time=_time(incident.resolved) if incident.resolved is not None else None,
        merged_into=incident.merged_into,
        notifications=Notifications(
            sent=sent.count,
            last_sent_time=_time(sent.last) if sent.last is not None else None,
            channels=list(sent.channels[:256]),
        ),
        timeline=[TimelineEntry(time=_time(e.at), event=e.text[:1024]) for e in _capped_timeline(incident.timeline)],
        analysis=analysis,
        observed_generation=INCIDENT_GENERATION,
        conditions=_conditions(incident),  # validated into Condition
    )
    return status


def analysis_from_object(obj: Mapping[str, Any]) -> IncidentAnalysis | None:
    """The analysis a written Incident holds (a new leader keeps it: one analysis per incident), or
    None when it has none or it does not validate."""
    raw = (obj.get("status") or {}).get("analysis")
    if not raw:
        return None
    try:
        return IncidentAnalysis.model_validate(raw)
    except ValidationError:
        return None


def status_digest(status: Mapping[str, Any]) -> str:
    """A hash of a status dict (what was written), to tell whether a write would change anything."""
    return hashlib.sha256(json.dumps(status, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def incident_object(incident: track.Incident, cluster: str, namespace: str) -> dict[str, Any]:
    """The Incident to create (spec and labels; its status is a second write: the status
    subresource ignores a create's)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Incident",
        "metadata": {"name": incident.name, "namespace": namespace, "labels": incident_labels(cluster)},
        "spec": {"cluster": cluster},
    }


def incident_from_object(obj: Mapping[str, Any]) -> tuple[track.Incident, Sent] | None:
    """An Incident read back as tracked state, with its notification counts; None when it has no
    (valid) status yet. Alert fingerprints are not stored: the incident continues the cascade that
    shares a service with it (`track.advance`)."""
    raw = obj.get("status")
    if not raw:
        return None
    try:
        status = IncidentStatus.model_validate(raw)
    except ValidationError:
        return None
    if status.root is None or status.start_time is None:
        return None
    root = node_id(status.root.namespace, status.root.name, status.root.in_graph)
    impacted = tuple(
        track.Impact(node_id(i.namespace, i.name, i.in_graph), i.depth, i.alerts, i.suppressed, i.parent)
        for i in status.impacted
    )
    incident = track.Incident(
        name=str((obj.get("metadata") or {}).get("name", "")),
        root=root,
        root_alerts=tuple(status.root.alerts),
        root_fingerprints=frozenset(),
        impacted=impacted,
        alerts=status.alerts,
        suppressed=status.suppressed_alerts,
        fingerprints=frozenset(),
        severity=status.severity,
        state=track.RESOLVED if status.state == "Resolved" else track.FIRING,
        started=status.start_time.timestamp(),
        resolved=_epoch(status.resolve_time),
        timeline=tuple(track.Entry(e.time.timestamp(), e.event) for e in status.timeline),
        changed=False,
        merged_into=status.merged_into,
    )
    n = status.notifications
    return incident, Sent(n.sent, _epoch(n.last_sent_time), tuple(sorted(n.channels)))


def adopt(local: Sequence[track.Incident], stored: Iterable[track.Incident]) -> list[track.Incident]:
    """The incidents after reading the stored ones (the written Incidents) into a replica's own state:
    a stored incident the replica does not know by name is added; when it is firing, it takes over the
    firing incidents of the replica's own naming that share a service with it (their alerts, so the
    next poll continues the stored one, and they are dropped). Sorted by start then name."""
    stored = sorted(stored, key=lambda i: (i.started, i.name))
    stored_names = {i.name for i in stored}
    out = {i.name: i for i in local}
    for kept in stored:
        if kept.name in out:
            continue
        if kept.state == track.FIRING:
            overlapping = [
                i
                for i in out.values()
                if i.name not in stored_names and i.state == track.FIRING and i.nodes & kept.nodes
            ]
            for other in overlapping:
                del out[other.name]
            kept = replace(  # noqa: PLW2901 - the stored incident, with the alerts it takes over
                kept,
                fingerprints=frozenset().union(*(o.fingerprints for o in overlapping)),
                root_fingerprints=frozenset().union(*(o.root_fingerprints for o in overlapping if o.root == kept.root)),
            )
        out[kept.name] = kept
    return sorted(out.values(), key=lambda i: (i.started, i.name))


# -- the write plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """What was last written of one incident: where, when (epoch seconds) and its status digest."""

    namespace: str
    at: float
    digest: str


@dataclass(frozen=True)
class WriteOptions:
    min_interval: float = 10.0  # seconds between two writes of one incident
    max_per_poll: int = 20  # writes (create, status patch or delete) per poll
    retention: float = 7 * 86400.0  # seconds a resolved incident is kept


@dataclass(frozen=True)
class Write:
    """One write: `create` (the object, then its status), `status` (a merge patch of the status
    subresource) or `delete`. `digest` is the status's (for `Written`)."""

    op: Literal["create", "status", "delete"]
    name: str
    namespace: str
    body: Mapping[str, Any] | None = None  # the object to create
    status: Mapping[str, Any] | None = None
    digest: str = ""


@dataclass(frozen=True)
class WritePlan:
    """`writes` in order; `deferred` the incidents with a change left for a later poll (interval or
    cap); `forget` the incidents past retention (drop them from the state once deleted)."""

    writes: tuple[Write, ...] = ()
    deferred: tuple[str, ...] = ()
    forget: tuple[str, ...] = field(default_factory=tuple)


def plan_writes(
    incidents: Iterable[track.Incident],
    written: Mapping[str, Written],
    cluster: str,
    namespaces: Collection[str] | None,
    now: float,
    sent: Mapping[str, Sent] | None = None,
    options: WriteOptions = WriteOptions(),
    pending: Collection[str] | None = None,
    analyses: Mapping[str, IncidentAnalysis] | None = None,
) -> WritePlan:
    """The writes of this poll (see the module docstring). `written` is what was last written, by
        incident name; `namespaces` those the cluster selects (None: all); `sent` the notification counts
        by incident; `pending` the incidents that changed since they were last written (their `changed`
        flags, accumulated; None: compare every incident's status with what was written); `analyses` their
    analyses by incident name (a new analysis is a change: put its incident in `pending`). Order: creates,
        then status patches of firing incidents, then of resolved ones, then deletes; within each, by
        start then name."""
    sent = sent or {}
    creates: list[Write] = []
    firing: list[Write] = []
    resolved: list[Write] = []
    deletes: list[Write] = []
    deferred: list[str] = []
    forget: list[str] = []
    for incident in sorted(incidents, key=lambda i: (i.started, i.name)):
        before = written.get(incident.name)
        if (
            incident.state == track.RESOLVED
            and incident.resolved is not None
            and now - incident.resolved >= options.retention
        ):
            forget.append(incident.name)
            if before is not None:
                deletes.append(Write("delete", incident.name, before.namespace))
            continue
        if pending is not None and before is not None and incident.name not in pending:
            continue
        status = incident_status(incident, sent.get(incident.name, Sent()), (analyses or {}).get(incident.name))
        digest = status_digest(status)
        if before is not None and before.digest == digest:
            continue
        if before is not None and now - before.at < options.min_interval:
            deferred.append(incident.name)
            continue
        if before is None:
            namespace = incident_namespace(incident.root, cluster, namespaces)
            body = incident_object(incident, cluster, namespace)
            creates.append(Write("create", incident.name, namespace, body, status, digest))
        else:
            patch = Write("status", incident.name, before.namespace, None, status, digest)
            (resolved if incident.state == track.RESOLVED else firing).append(patch)
    ordered = creates + firing + resolved + deletes
    kept, late = ordered[: options.max_per_poll], ordered[options.max_per_poll :]
    deferred += [w.name for w in late if w.op != "delete"]
    late_deletes = {w.name for w in late if w.op == "delete"}
    return WritePlan(
        tuple(kept),
        tuple(sorted(deferred)),
        tuple(name for name in forget if name not in late_deletes),
    )
