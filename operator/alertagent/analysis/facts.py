"""Cluster facts for the built-in analysis (pure): raw Kubernetes objects, as the API server returns
them (dicts, e.g. the items of `GET /api/v1/namespaces/<ns>/pods`), parsed into small frozen
dataclasses that keep only what a root-cause report needs.

- Pods: phase, Ready, restarts, and why they are unhealthy: container `state.waiting.reason`
  (CrashLoopBackOff, ImagePullBackOff, ...), `state.terminated.reason` and `lastState.terminated.reason`
  (OOMKilled, Error), `status.reason` (Evicted), and `Unschedulable` from a `PodScheduled=False`
  condition; as `kubectl describe pod` shows them.
- ReplicaSets (`deployment.kubernetes.io/revision`, the Deployment controller's annotation), Deployments,
  StatefulSets (`status.currentRevision`/`updateRevision`), DaemonSets, ControllerRevisions (`revision`).
- Events in both shapes: core/v1 (`involvedObject`, `firstTimestamp`/`lastTimestamp`/`count`, or
  `eventTime`/`series` for events written through the new API) and events.k8s.io/v1 (`regarding`,
  `note`, `eventTime`, `series`, `deprecated*`); the same Event read through both APIs is one (by uid).
- Services (`spec.selector`).

Missing fields give empty values, never errors: a report over partial facts is still a report.
Timestamps are timezone-aware UTC datetimes (RFC 3339 `metav1.Time`/`MicroTime`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..common.identity import namespace_of

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# Container waiting reasons that are a normal step of starting, not a fault.
STARTING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
# Terminated reasons of a container that ended as it should.
DONE_REASONS = frozenset({"Completed"})


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (`2025-10-14T10:00:00Z`, or with fractional seconds) as an aware UTC
    datetime; None when unset or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True, order=True)
class OwnerRef:
    """An `ownerReferences` entry: kind, name, uid, and whether it is the controller."""

    kind: str
    name: str
    uid: str = ""
    controller: bool = False


@dataclass(frozen=True)
class Meta:
    """What every object's metadata gives: namespace, name, uid, labels, annotations, creation time,
    and its controller (the ownerReference with `controller: true`)."""

    namespace: str
    name: str
    uid: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    created: datetime | None = None
    owner: OwnerRef | None = None

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)


def meta_of(obj: Mapping[str, Any]) -> Meta:
    """The `Meta` of a raw object (`metadata.managedFields` and the rest are ignored)."""
    meta = obj.get("metadata") or {}
    owner = None
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            owner = OwnerRef(str(ref.get("kind", "")), str(ref.get("name", "")), str(ref.get("uid", "")), True)
            break
    return Meta(
        namespace=namespace_of(meta),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        labels=tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items())),
        annotations=tuple(
            sorted((str(k), str(v)) for k, v in (meta.get("annotations") or {}).items() if isinstance(v, str))
        ),
        created=parse_time(meta.get("creationTimestamp")),
        owner=owner,
    )


def _selector(value: Any) -> tuple[tuple[str, str], ...]:
    """`matchLabels` (or a Service's plain map) as sorted pairs; `matchExpressions` are not kept."""
    if not isinstance(value, Mapping):
        return ()
    labels = value.get("matchLabels") if "matchLabels" in value or "matchExpressions" in value else value
    return tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()))


def selects(selector: Sequence[tuple[str, str]], labels: Sequence[tuple[str, str]]) -> bool:
    """Whether a non-empty equality selector matches these labels (an empty one selects nothing, as a
    Service without a selector)."""
    have = dict(labels)
    return bool(selector) and all(have.get(k) == v for k, v in selector)


# -- pods ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """A pod's state. `restarts`: summed over its containers (init containers included); `reasons`:
    sorted, distinct (see the module docstring)."""

    meta: Meta
    phase: str = ""
    ready: bool = False
    restarts: int = 0
    reasons: tuple[str, ...] = ()
    node: str = ""

    @property
    def healthy(self) -> bool:
        """Ready, or Succeeded, with no reason to worry."""
        return (self.ready or self.phase == "Succeeded") and not self.reasons


def _container_reasons(status: Mapping[str, Any]) -> set[str]:
    reasons: set[str] = set()
    state = status.get("state") or {}
    waiting = (state.get("waiting") or {}).get("reason")
    if waiting and waiting not in STARTING_REASONS:
        reasons.add(str(waiting))
    terminated = (state.get("terminated") or {}).get("reason")
    if terminated and terminated not in DONE_REASONS:
        reasons.add(str(terminated))
    last = ((status.get("lastState") or {}).get("terminated") or {}).get("reason")
    if last and last not in DONE_REASONS:
        reasons.add(str(last))
    return reasons


def parse_pod(obj: Mapping[str, Any]) -> Pod:
    """A raw Pod → `Pod`."""
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}
    containers = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    reasons: set[str] = set()
    for container in containers:
        reasons |= _container_reasons(container)
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason"):
        reasons.add(str(scheduled["reason"]))  # Unschedulable (or SchedulingGated)
    if status.get("reason"):
        reasons.add(str(status["reason"]))  # Evicted, NodeLost, ...
    return Pod(
        meta=meta_of(obj),
        phase=str(status.get("phase") or ""),
        ready=(conditions.get("Ready") or {}).get("status") == "True",
        restarts=sum(_int(c.get("restartCount")) for c in containers),
        reasons=tuple(sorted(reasons)),
        node=str((obj.get("spec") or {}).get("nodeName") or ""),
    )


# -- workloads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaSet:
    """A ReplicaSet: its Deployment (`meta.owner`), `revision` (the annotation; 0 when unset), and
    `replicas` (`spec.replicas`)."""

    meta: Meta
    revision: int = 0
    replicas: int = 0


def parse_replicaset(obj: Mapping[str, Any]) -> ReplicaSet:
    meta = meta_of(obj)
    return ReplicaSet(
        meta=meta,
        revision=_int(meta.annotation(REVISION_ANNOTATION)),
        replicas=_int((obj.get("spec") or {}).get("replicas"), 1),
    )


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet or DaemonSet. `replicas`: `spec.replicas` (default 1; a DaemonSet's
    `status.desiredNumberScheduled`); `ready`: `status.readyReplicas` (`numberReady`); `selector`:
    `spec.selector.matchLabels`; `template_labels`: its pod template's labels; `revision`: a
    Deployment's revision annotation; `current_revision`/`update_revision`: a StatefulSet's."""

    kind: str
    meta: Meta
    replicas: int = 0
    ready: int = 0
    selector: tuple[tuple[str, str], ...] = ()
    template_labels: tuple[tuple[str, str], ...] = ()
    revision: int = 0
    current_revision: str = ""
    update_revision: str = ""


def parse_workload(kind: str, obj: Mapping[str, Any]) -> Workload:
    """A raw Deployment, StatefulSet or DaemonSet (`kind`) → `Workload`."""
    meta = meta_of(obj)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    daemon = kind == "DaemonSet"
    template = (spec.get("template") or {}).get("metadata") or {}
    return Workload(
        kind=kind,
        meta=meta,
        replicas=_int(status.get("desiredNumberScheduled")) if daemon else _int(spec.get("replicas"), 1),
        ready=_int(status.get("numberReady" if daemon else "readyReplicas")),
        selector=_selector(spec.get("selector")),
        template_labels=tuple(sorted((str(k), str(v)) for k, v in (template.get("labels") or {}).items())),
        revision=_int(meta.annotation(REVISION_ANNOTATION)),
        current_revision=str(status.get("currentRevision") or ""),
        update_revision=str(status.get("updateRevision") or ""),
    )


@dataclass(frozen=True)
class ControllerRevision:
    """A ControllerRevision (a StatefulSet's or DaemonSet's template history): its owner, `revision`."""

    meta: Meta
    revision: int = 0


def parse_controllerrevision(obj: Mapping[str, Any]) -> ControllerRevision:
    return ControllerRevision(meta=meta_of(obj), revision=_int(obj.get("revision")))


# -- events and services ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """An Event. `kind`/`name`: the object it is about; `time`: its last occurrence
    (`series.lastObservedTime`, `lastTimestamp`/`deprecatedLastTimestamp`, `eventTime`, else its
    creation); `count`: occurrences (≥ 1)."""

    namespace: str
    name: str
    uid: str
    type: str
    reason: str
    kind: str
    object: str
    message: str
    count: int
    time: datetime | None


def parse_event(obj: Mapping[str, Any]) -> Event:
    """A raw core/v1 or events.k8s.io/v1 Event → `Event` (the shape tells which)."""
    meta = meta_of(obj)
    about = obj.get("regarding") or obj.get("involvedObject") or {}
    series = obj.get("series") or {}
    time = (
        parse_time(series.get("lastObservedTime"))
        or parse_time(obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp"))
        or parse_time(obj.get("eventTime"))
        or parse_time(obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp"))
        or meta.created
    )
    count = _int(series.get("count")) or _int(obj.get("count")) or _int(obj.get("deprecatedCount"))
    return Event(
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        type=str(obj.get("type") or ""),
        reason=str(obj.get("reason") or ""),
        kind=str(about.get("kind") or ""),
        object=str(about.get("name") or ""),
        message=str(obj.get("note") or obj.get("message") or ""),
        count=max(1, count),
        time=time,
    )


@dataclass(frozen=True)
class Service:
    """A Service and its `spec.selector` (empty for ExternalName or a Service without one)."""

    meta: Meta
    selector: tuple[tuple[str, str], ...] = ()


def parse_service(obj: Mapping[str, Any]) -> Service:
    spec = obj.get("spec") or {}
    selector = _selector(spec.get("selector")) if spec.get("type") != "ExternalName" else ()
    return Service(meta=meta_of(obj), selector=selector)


# -- everything of a namespace ---------------------------------------------------------------------

Raw = Mapping[str, Any]
# `kind` of a list response (`PodList`) or object → the ClusterFacts field it goes to.
_FIELDS = {
    "Service": "services",
    "Pod": "pods",
    "ReplicaSet": "replicasets",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "ControllerRevision": "controllerrevisions",
    "Event": "events",
}


@dataclass(frozen=True)
class ClusterFacts:
    """The raw objects read for an analysis, usually of the root's namespace: each field a sequence of
    objects as the API returns them (the `items` of a list). `events` may mix core/v1 and
    events.k8s.io/v1 Events. Any field may be empty (not readable, or nothing there)."""

    services: Sequence[Raw] = ()
    pods: Sequence[Raw] = ()
    replicasets: Sequence[Raw] = ()
    deployments: Sequence[Raw] = ()
    statefulsets: Sequence[Raw] = ()
    daemonsets: Sequence[Raw] = ()
    controllerrevisions: Sequence[Raw] = ()
    events: Sequence[Raw] = ()

    @classmethod
    def from_responses(cls, responses: Iterable[Raw]) -> ClusterFacts:
        """From API responses: lists (`PodList`, `EventList` of either API group, ...: the list's kind
        says what its items are, as list items carry no `kind`) or single objects. Unknown kinds are
        ignored."""
        found: dict[str, list[Raw]] = {name: [] for name in _FIELDS.values()}
        for response in responses:
            kind = str(response.get("kind") or "")
            if kind.endswith("List") and kind[: -len("List")] in _FIELDS:
                found[_FIELDS[kind[: -len("List")]]].extend(response.get("items") or [])
            elif kind in _FIELDS:
                found[_FIELDS[kind]].append(response)
        return cls(**{name: tuple(items) for name, items in found.items()})

    def parsed(self) -> ParsedFacts:
        """Every object parsed, each kind sorted by (namespace, name); Events deduplicated by uid."""
        events: dict[str, Event] = {}
        for raw in self.events:
            event = parse_event(raw)
            events.setdefault(event.uid or f"{event.namespace}/{event.name}", event)
        return ParsedFacts(
            services=by_name(parse_service(o) for o in self.services),
            pods=by_name(parse_pod(o) for o in self.pods),
            replicasets=by_name(parse_replicaset(o) for o in self.replicasets),
            workloads=tuple(
                sorted(
                    [
                        *(parse_workload("Deployment", o) for o in self.deployments),
                        *(parse_workload("StatefulSet", o) for o in self.statefulsets),
                        *(parse_workload("DaemonSet", o) for o in self.daemonsets),
                    ],
                    key=lambda w: (w.meta.namespace, w.kind, w.meta.name),
                )
            ),
            controllerrevisions=by_name(parse_controllerrevision(o) for o in self.controllerrevisions),
            events=tuple(sorted(events.values(), key=lambda e: (e.namespace, e.name, e.uid))),
        )


_Named = TypeVar("_Named", Service, Pod, ReplicaSet, ControllerRevision)


def by_name(items: Iterable[_Named]) -> tuple[_Named, ...]:
    """Sorted by (namespace, name)."""
    return tuple(sorted(items, key=lambda o: (o.meta.namespace, o.meta.name)))


@dataclass(frozen=True)
class ParsedFacts:
    """`ClusterFacts` parsed (see `ClusterFacts.parsed`); `workloads` holds Deployments, StatefulSets
    and DaemonSets."""

    services: tuple[Service, ...] = ()
    pods: tuple[Pod, ...] = ()
    replicasets: tuple[ReplicaSet, ...] = ()
    workloads: tuple[Workload, ...] = ()
    controllerrevisions: tuple[ControllerRevision, ...] = ()
    events: tuple[Event, ...] = field(default=())
