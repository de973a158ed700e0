"""Tool output summaries (pure): what `get_pods`, `get_events` and `get_workloads` answer a model, made
from the raw objects the API returns (the `items` of a list) with the parsers of `facts`, before the
output is capped (`tools.cap_output`). The raw objects are mostly spec noise (volumes, probes, env,
args, managed fields); cut at 4 KB they would hide the one object that matters, so each summary keeps
only what a root-cause analysis reads, and puts the unhealthy first so a cut keeps them.

- `pods_summary(namespace, items)` → `{"namespace", "pods": [...]}`, each pod: `name`, `phase`,
  `ready`, `restarts`, `reasons` (as `facts.parse_pod`: CrashLoopBackOff, OOMKilled, Unschedulable,
  ...), `owner` (its controller, `Kind/name`), `node`, `started` (`status.startTime`), `containers`
  (`[{"name", "image"}]`, init containers first; no env, args, command, volumes or probes). Sorted:
  unhealthy first (not ready or with a reason, as `facts.Pod.healthy`), then most restarts, then name.
- `events_summary(namespace, items)` → `{"namespace", "events": [...]}`, each: `time` (its last
  occurrence, RFC 3339 UTC), `type`, `reason`, `object` (`Kind/name`), `message` (redacted, at most
  300 characters), `count`; both Event APIs' shapes, one per uid. Sorted: Warnings first, then newest,
  then object and reason.
- `workloads_summary(namespace, by_kind)` (by_kind: `{"Deployment": items, "StatefulSet": ...,
  "DaemonSet": ...}`) → `{"namespace", "workloads": [...]}`, each: `kind`, `name`, `desired`, `ready`,
  `updated` (`status.updatedReplicas`; a DaemonSet's `updatedNumberScheduled`), `revision` (a
  Deployment's revision annotation; a StatefulSet's `updateRevision`, with `currentRevision` when it
  differs; a DaemonSet's `observedGeneration`), `images` (its pod template's containers),
  `conditions` (only those with status False: `{"type", "reason", "message"}`). Sorted: unhealthy
  first (fewer ready or updated than desired, or a False condition), then kind and name.

All are deterministic and never raise on missing fields (an empty value instead)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from .facts import Event, parse_event, parse_pod, parse_time, parse_workload
from .redact import redact_text

MESSAGE_LIMIT: Final = 300  # characters of an Event message
_OLDEST = datetime.min.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else ""


def _containers(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """`[{"name", "image"}]` of a pod spec's init containers then containers."""
    found = []
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, Mapping):
                found.append({"name": str(container.get("name") or ""), "image": str(container.get("image") or "")})
    return found


def pod_summary(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One raw Pod summarised (see the module docstring)."""
    pod = parse_pod(obj)
    owner = pod.meta.owner
    return {
        "name": pod.meta.name,
        "phase": pod.phase,
        "ready": pod.ready,
        "restarts": pod.restarts,
        "reasons": list(pod.reasons),
        "owner": f"{owner.kind}/{owner.name}" if owner is not None else "",
        "node": pod.node,
        "started": _iso(parse_time((obj.get("status") or {}).get("startTime"))),
        "containers": _containers(obj.get("spec") or {}),
    }


def pods_summary(namespace: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A namespace's raw Pods summarised, unhealthy first (see the module docstring)."""
    ranked = []
    for obj in items:
        pod = parse_pod(obj)
        ranked.append(((pod.healthy, -pod.restarts, pod.meta.name), pod_summary(obj)))
    return {"namespace": namespace, "pods": [summary for _, summary in sorted(ranked, key=lambda r: r[0])]}


def event_summary(event: Event) -> dict[str, Any]:
    """One parsed Event summarised (see the module docstring)."""
    message = redact_text(event.message)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    return {
        "time": _iso(event.time),
        "type": event.type,
        "reason": event.reason,
        "object": f"{event.kind}/{event.object}" if event.kind else event.object,
        "message": message,
        "count": event.count,
    }


def events_summary(namespace: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A namespace's raw Events summarised: one per uid, Warnings first, then newest (see the module
    docstring)."""
    unique: dict[str, Event] = {}
    for obj in items:
        event = parse_event(obj)
        unique.setdefault(event.uid or f"{event.namespace}/{event.name}", event)
    ordered = sorted(
        unique.values(),
        key=lambda e: (e.type != "Warning", -(e.time or _OLDEST).timestamp(), e.kind, e.object, e.reason, e.name),
    )
    return {"namespace": namespace, "events": [event_summary(e) for e in ordered]}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def workload_summary(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """One raw Deployment, StatefulSet or DaemonSet (`kind`) summarised (see the module docstring)."""
    workload = parse_workload(kind, obj)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Deployment":
        revision = str(workload.revision or "")
        updated = _int(status.get("updatedReplicas"))
    elif kind == "StatefulSet":
        revision = workload.update_revision
        if workload.current_revision and workload.current_revision != workload.update_revision:
            revision = f"{workload.update_revision} (current {workload.current_revision})"
        updated = _int(status.get("updatedReplicas"))
    else:
        revision = str(status.get("observedGeneration") or "")
        updated = _int(status.get("updatedNumberScheduled"))
    conditions = [
        {"type": str(c.get("type") or ""), "reason": str(c.get("reason") or ""), "message": str(c.get("message") or "")}
        for c in status.get("conditions") or []
        if isinstance(c, Mapping) and c.get("status") == "False"
    ]
    template = (spec.get("template") or {}).get("spec") or {}
    return {
        "kind": kind,
        "name": workload.meta.name,
        "desired": workload.replicas,
        "ready": workload.ready,
        "updated": updated,
        "revision": revision,
        "images": [c["image"] for c in _containers(template)],
        "conditions": sorted(conditions, key=lambda c: c["type"]),
    }


def _unhealthy(summary: Mapping[str, Any]) -> bool:
    desired = summary["desired"]
    return summary["ready"] < desired or summary["updated"] < desired or bool(summary["conditions"])


def workloads_summary(namespace: str, by_kind: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """A namespace's raw workloads summarised, unhealthy first (see the module docstring)."""
    summaries = [workload_summary(kind, obj) for kind, items in by_kind.items() for obj in items]
    summaries.sort(key=lambda s: (not _unhealthy(s), s["kind"], s["name"]))
    return {"namespace": namespace, "workloads": summaries}
