"""The built-in root-cause report (pure, no model): facts AlertAgent can read about an incident's root.

`builtin_report(status, facts, queries, now)`:
- **Root workloads**: the pods the root Service's selector matches (or, for a workload node
  `ns/kind/name`, the pods that workload controls), grouped by their controller (Pod → ReplicaSet →
  Deployment; StatefulSet, DaemonSet, Job; a pod without one stands alone), plus workloads whose pod
  template the selector matches but that have no pods. When no Service has the root's name, workloads
  with that name are used (an alert naming no graph node).
- **Rollouts**: a revision change (not a workload's first revision): a Deployment's newest ReplicaSet
  (by `deployment.kubernetes.io/revision`) or a StatefulSet's newest ControllerRevision (by `revision`)
  created within `rollout_window` seconds before the first alert (`status.start_time`), with the
  revision before it; and, separately, the newest one created after the first alert (listed with a
  negative `before_first_alert`, never called a cause).
- **Events** about those workloads, their ReplicaSets/pods and the Service, of the last hour before
  `now`: Warnings first, then newest, at most 20.
- **Queries**: the alerts' own expressions as evaluated by the caller (see promql.py).
- **Impacted**: the incident's other services, nearest the root first.

`suggested_actions(report)` turns it into structured suggestions (never executed) and
`render_text(report)` into at most 15 lines for `alertagent incidents show` and robot messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api.analysis import (
    BuiltinReport,
    EventFinding,
    PodFinding,
    QueryFinding,
    RolloutFinding,
    SuggestedAction,
    WorkloadFinding,
)
from ..api.incident import IncidentStatus
from ..discovery.facts import WORKLOAD_KINDS
from .facts import ClusterFacts, Event, ParsedFacts, Pod, Workload, selects

ROLLOUT_WINDOW = 1800.0  # seconds before the first alert a revision change counts as a candidate cause
EVENT_WINDOW = 3600.0  # seconds of Events before `now`
MAX_EVENTS = 20  # BuiltinReport.events maxItems
MAX_PODS = 20  # WorkloadFinding.pods maxItems
HEALTHY_PODS_SHOWN = 3  # when every pod is fine, the first few still show it
MAX_WORKLOADS = 16
MAX_QUERIES = 16
MAX_IMPACTED = 100
SUMMARY_IMPACTED = 10
MAX_TEXT_LINES = 15
CRASH_REASONS = frozenset({"CrashLoopBackOff", "OOMKilled", "Error", "RunContainerError"})
IMAGE_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
ROLLING_KINDS = ("Deployment", "StatefulSet")
CONTROLLER_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration(seconds: float) -> str:
    """`45s`, `2m`, `2m30s`, `1h5m`, `2d3h` (whole seconds, the largest two units)."""
    total = int(abs(seconds))
    for unit, size, small, small_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if total >= size:
            rest = (total % size) // small_size
            return f"{total // size}{unit}{f'{rest}{small}' if rest else ''}"
    return f"{total}s"


def clock(at: datetime, now: datetime) -> str:
    """`10:01:30 UTC`, with the date when it is not on `now`'s day."""
    return at.strftime("%H:%M:%S UTC" if at.date() == now.date() else "%Y-%m-%d %H:%M:%S UTC")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- the root's workloads --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    kind: str
    namespace: str
    name: str
    workload: Workload | None
    pods: tuple[Pod, ...]
    replicasets: tuple[str, ...]  # names of a Deployment's ReplicaSets holding its pods


def _root_target(status: IncidentStatus) -> tuple[str, str, str | None, str | None]:
    """(root id, namespace, service name or None, workload `kind/name` or None)."""
    root = status.root
    assert root is not None
    root_id = f"{root.namespace}/{root.name}"
    kind, sep, name = root.name.partition("/")
    if sep and root.in_graph:
        return root_id, root.namespace, None, f"{kind.lower()}/{name}"
    return root_id, root.namespace, root.name, None


def _controller_of(pod: Pod, facts: ParsedFacts) -> tuple[str, str, str | None]:
    """(kind, name, replicaset) of the controller a pod belongs to: a ReplicaSet's Deployment when it
    has one (then the ReplicaSet's name too), else its owner, else the pod itself."""
    owner = pod.meta.owner
    if owner is None:
        return "Pod", pod.meta.name, None
    if owner.kind == "ReplicaSet":
        rs = next(
            (r for r in facts.replicasets if (r.meta.namespace, r.meta.name) == (pod.meta.namespace, owner.name)), None
        )
        if rs is not None and rs.meta.owner is not None and rs.meta.owner.kind == "Deployment":
            return "Deployment", rs.meta.owner.name, rs.meta.name
    return owner.kind, owner.name, None


def _groups(namespace: str, service: str | None, workload: str | None, facts: ParsedFacts) -> list[_Group]:
    pods = [p for p in facts.pods if p.meta.namespace == namespace]
    workloads = {(w.kind, w.meta.name): w for w in facts.workloads if w.meta.namespace == namespace}
    chosen: set[tuple[str, str]] = set()
    members: dict[tuple[str, str], list[Pod]] = {}
    replicasets: dict[tuple[str, str], set[str]] = {}
    svc = next((s for s in facts.services if (s.meta.namespace, s.meta.name) == (namespace, service)), None)
    if workload is not None:
        kind_lower, _, name = workload.partition("/")
        kind = next((k for k in WORKLOAD_KINDS if k.lower() == kind_lower), kind_lower)
        chosen.add((kind, name))
    elif svc is not None:
        for pod in pods:
            if selects(svc.selector, pod.meta.labels):
                chosen.add(_controller_of(pod, facts)[:2])
        for key, w in workloads.items():
            if selects(svc.selector, w.template_labels):
                chosen.add(key)
    elif service is not None:  # no such Service: workloads of that name (an alert naming no graph node)
        chosen.update(key for key in workloads if key[1] == service)
    for pod in pods:
        kind, name, rs = _controller_of(pod, facts)
        if (kind, name) in chosen:
            members.setdefault((kind, name), []).append(pod)
            if rs:
                replicasets.setdefault((kind, name), set()).add(rs)
    return [
        _Group(
            kind,
            namespace,
            name,
            workloads.get((kind, name)),
            tuple(members.get((kind, name), ())),
            tuple(sorted(replicasets.get((kind, name), ()))),
        )
        for kind, name in sorted(chosen)
    ]


def _pod_finding(pod: Pod) -> PodFinding:
    return PodFinding(
        name=_cap(pod.meta.name, 253),
        phase=_cap(pod.phase, 32),
        ready=pod.ready,
        restarts=pod.restarts,
        reasons=[_cap(r, 128) for r in pod.reasons[:16]],
    )


def _workload_finding(group: _Group) -> WorkloadFinding:
    unhealthy = [p for p in group.pods if not p.healthy]
    shown = unhealthy[:MAX_PODS] if unhealthy else list(group.pods[:HEALTHY_PODS_SHOWN])
    w = group.workload
    return WorkloadFinding(
        kind=group.kind,
        namespace=group.namespace,
        name=_cap(group.name, 253),
        desired=w.replicas if w is not None else len(group.pods),
        ready=sum(p.ready for p in group.pods),
        pods=[_pod_finding(p) for p in sorted(shown, key=lambda p: (p.healthy, p.meta.name))],
    )


# -- rollouts --------------------------------------------------------------------------------------


def _revisions(group: _Group, facts: ParsedFacts) -> list[tuple[int, str, datetime]]:
    """(revision number, revision name, creation time) of a Deployment's ReplicaSets or a
    StatefulSet's ControllerRevisions, oldest revision first."""
    out: list[tuple[int, str, datetime]] = []
    if group.kind == "Deployment":
        for rs in facts.replicasets:
            owner = rs.meta.owner
            if (
                (
                    rs.meta.namespace == group.namespace
                    and owner
                    and (owner.kind, owner.name) == ("Deployment", group.name)
                )
                and rs.meta.created is not None
                and rs.revision
            ):
                out.append((rs.revision, str(rs.revision), rs.meta.created))
    elif group.kind == "StatefulSet":
        for cr in facts.controllerrevisions:
            owner = cr.meta.owner
            if (
                cr.meta.namespace == group.namespace
                and owner
                and (owner.kind, owner.name) == ("StatefulSet", group.name)
            ) and cr.meta.created is not None:
                out.append((cr.revision, cr.meta.name, cr.meta.created))
    return sorted(out)


def _rollouts(
    groups: Sequence[_Group], facts: ParsedFacts, first: datetime, now: datetime, window: float
) -> list[RolloutFinding]:
    found: list[RolloutFinding] = []
    for group in groups:
        if group.kind not in ROLLING_KINDS:
            continue
        revisions = _revisions(group, facts)
        # A revision change: the first revision (the workload's creation) has nothing to go back to.
        changes = revisions[1:]
        before = [r for r in changes if timedelta(0) <= first - r[2] <= timedelta(seconds=window)]
        after = [r for r in changes if first < r[2] <= now]
        for picked in before[-1:] + after[-1:]:
            number, name, created = picked
            previous = [r for r in revisions if r[0] < number]
            found.append(
                RolloutFinding(
                    kind=group.kind,
                    namespace=group.namespace,
                    name=group.name,
                    revision=_cap(name, 128),
                    previous=_cap(previous[-1][1], 128) if previous else "",
                    time=created,
                    before_first_alert=(first - created).total_seconds(),
                )
            )
    return sorted(found, key=lambda r: (-r.time.timestamp(), r.kind, r.namespace, r.name))


# -- events ----------------------------------------------------------------------------------------


def _events(
    groups: Sequence[_Group], service: str | None, namespace: str, facts: ParsedFacts, now: datetime
) -> list[EventFinding]:
    about: set[tuple[str, str]] = set()
    for group in groups:
        about.add((group.kind, group.name))
        about.update(("Pod", p.meta.name) for p in group.pods)
        about.update(("ReplicaSet", rs) for rs in group.replicasets)
        if group.kind == "Deployment":  # its ReplicaSets without pods too (FailedCreate: quota, admission)
            about.update(
                ("ReplicaSet", rs.meta.name)
                for rs in facts.replicasets
                if rs.meta.namespace == namespace
                and rs.meta.owner is not None
                and (rs.meta.owner.kind, rs.meta.owner.name) == ("Deployment", group.name)
            )
    if service is not None:
        about.add(("Service", service))
    since = now - timedelta(seconds=EVENT_WINDOW)
    recent: list[Event] = [
        e
        for e in facts.events
        if e.namespace == namespace and (e.kind, e.object) in about and e.time is not None and since <= e.time <= now
    ]
    recent.sort(
        key=lambda e: (e.type != "Warning", -e.time.timestamp() if e.time else 0, e.kind, e.object, e.reason, e.name)
    )
    return [
        EventFinding(
            time=e.time,
            type=_cap(e.type or "Normal", 32),
            reason=_cap(e.reason, 128),
            object=_cap(f"{e.kind}/{e.object}", 253),
            message=_cap(" ".join(e.message.split()), 1024),
            count=e.count,
        )
        for e in recent[:MAX_EVENTS]
        if e.time is not None
    ]


# -- the report ------------------------------------------------------------------------------------


def _impacted(status: IncidentStatus) -> list[str]:
    services = sorted(status.impacted, key=lambda s: (s.depth == 0, s.depth, s.namespace, s.name))
    return [_cap(f"{s.namespace}/{s.name}", 253) for s in services[:MAX_IMPACTED]]


FAILING_PODS_NAMED = 3  # failing pods a summary names


def _pod_phrase(pod: PodFinding) -> str:
    """`name (reasons, restarts N)`, or the pod's phase when it has no reasons."""
    detail = [*pod.reasons, *([f"restarts {pod.restarts}"] if pod.restarts else [])] or [pod.phase or "not ready"]
    return f"{pod.name} ({', '.join(detail)})"


def _workload_sentence(w: WorkloadFinding, total_pods: int) -> str:
    ident = f"{w.kind} {w.namespace}/{w.name}"
    if total_pods == 0:
        return f"{ident} has no pods ({w.desired} desired)."
    not_ready = total_pods - w.ready
    if not_ready == 0:
        restarts = sum(p.restarts for p in w.pods)
        detail = f" (restarts {restarts})" if restarts else ""
        return f"All {_plural(total_pods, 'pod')} of {ident} {'is' if total_pods == 1 else 'are'} ready{detail}."
    verb = "is" if not_ready == 1 else "are"
    failing = [p for p in w.pods if not p.ready][:FAILING_PODS_NAMED]
    more = not_ready - len(failing)
    named = "; ".join(_pod_phrase(p) for p in failing) + (f"; and {more} more" if more > 0 else "")
    return f"{not_ready} of {_plural(total_pods, 'pod')} of {ident} {verb} not ready: {named}."


def _rollout_sentence(r: RolloutFinding) -> str:
    change = f"revision {r.revision}" + (f" (from {r.previous})" if r.previous else "")
    when = duration(r.before_first_alert)
    relation = "before" if r.before_first_alert >= 0 else "after"
    return f"{r.kind} {r.namespace}/{r.name} rolled out {change} {when} {relation} the first alert."


def _query_sentence(q: QueryFinding, now: datetime) -> str:
    if q.error:
        return f"{q.alert}'s expression could not be evaluated ({_cap(q.error, 200)})."
    if q.crossed_time is None:
        return f"{q.alert}'s expression returns nothing now."
    return f"{q.alert} has held since {clock(q.crossed_time, now)}."


def summarize(
    root_id: str,
    in_graph: bool,
    workloads: Sequence[WorkloadFinding],
    pod_counts: Sequence[int],
    rollouts: Sequence[RolloutFinding],
    queries: Sequence[QueryFinding],
    impacted: Sequence[str],
    window: float,
    now: datetime,
) -> str:
    """The report's one paragraph (≤ 2048 characters)."""
    parts = [f"Root cause candidate: {root_id}{'' if in_graph else ' (not in the dependency graph)'}."]
    if not workloads:
        parts.append(f"No workloads or pods of {root_id} were found.")
    ordered = sorted(
        zip(workloads, pod_counts, strict=True), key=lambda wc: (wc[1] - wc[0].ready == 0, wc[0].kind, wc[0].name)
    )
    parts.extend(_workload_sentence(w, count) for w, count in ordered[:3])
    if len(ordered) > 3:
        parts.append(f"{len(ordered) - 3} more workloads.")
    parts.extend(_rollout_sentence(r) for r in rollouts)
    if not any(r.before_first_alert >= 0 for r in rollouts) and any(w.kind in ROLLING_KINDS for w in workloads):
        parts.append(f"No rollout in the {duration(window)} before the first alert.")
    parts.extend(_query_sentence(q, now) for q in queries)
    if impacted:
        more = len(impacted) - SUMMARY_IMPACTED
        parts.append(f"Impacted: {', '.join(impacted[:SUMMARY_IMPACTED])}{f' and {more} more' if more > 0 else ''}.")
    return _cap(" ".join(parts), 2048)


def builtin_report(
    status: IncidentStatus,
    facts: ClusterFacts | ParsedFacts,
    queries: Iterable[QueryFinding],
    now: datetime,
    rollout_window: float = ROLLOUT_WINDOW,
) -> BuiltinReport:
    """The deterministic report of an incident (see the module docstring).

    `facts`: what was read of the root's namespace (raw, or already parsed); `queries`: the alerts'
    expressions evaluated by the caller; `now`: aware UTC datetime (events are those of the hour before
    it); `rollout_window`: seconds. Every list is sorted, so the same input gives the same report. An
    incident without a root gives a report with an empty root and only the impacted services."""
    parsed = facts.parsed() if isinstance(facts, ClusterFacts) else facts
    query_list = sorted(queries, key=lambda q: (q.alert, q.expr))[:MAX_QUERIES]
    impacted = _impacted(status)
    if status.root is None:
        return BuiltinReport(
            root="",
            summary=_cap("No root cause candidate: the incident has no root service.", 2048),
            queries=query_list,
            impacted=impacted,
            generated_time=now,
        )
    root_id, namespace, service, workload = _root_target(status)
    groups = _groups(namespace, service, workload, parsed)[:MAX_WORKLOADS]
    findings = [_workload_finding(g) for g in groups]
    first = status.start_time or now
    rollouts = _rollouts(groups, parsed, first, now, rollout_window)
    summary = summarize(
        root_id,
        status.root.in_graph,
        findings,
        [len(g.pods) for g in groups],
        rollouts,
        query_list,
        impacted,
        rollout_window,
        now,
    )
    return BuiltinReport(
        root=_cap(root_id, 253),
        summary=summary,
        workloads=findings,
        rollouts=rollouts[:16],
        events=_events(groups, service, namespace, parsed, now),
        queries=query_list,
        impacted=impacted,
        generated_time=now,
    )


# -- suggestions and text --------------------------------------------------------------------------


def _forced_rollback(report: BuiltinReport, rollout: RolloutFinding) -> list[SuggestedAction]:
    """After undoing a StatefulSet's rollout, its broken pods must be deleted by hand: with the default
    OrderedReady policy the controller waits for them to become ready and never replaces them
    (Kubernetes' "forced rollback"). One Restart (delete) per pod not ready, highest ordinal first."""
    pods = [
        p
        for w in report.workloads
        if (w.kind, w.namespace, w.name) == ("StatefulSet", rollout.namespace, rollout.name)
        for p in w.pods
        if not p.ready
    ]
    return [
        SuggestedAction(
            kind="Restart",
            namespace=rollout.namespace,
            target=f"pod/{p.name}",
            command=f"kubectl delete pod {p.name} -n {rollout.namespace}",
            reason="after the undo: a StatefulSet does not replace a pod that never became ready (forced rollback)",
        )
        for p in sorted(pods, key=lambda p: p.name, reverse=True)
    ]


def suggested_actions(report: BuiltinReport) -> list[SuggestedAction]:
    """Structured suggestions from a report (never executed), at most 10, in this order:

    - RolloutUndo for a rollout before the first alert (`kubectl rollout undo deployment/x -n ns
      --to-revision=<previous>`; a StatefulSet's without `--to-revision`, as its revisions are names,
      followed by deleting its pods that are not ready: `_forced_rollback`);
    - Restart (`kubectl rollout restart`) for a controller with crashing or not-ready pods and no such
      rollout (undoing the rollout is the better fix when there is one);
    - Scale to 1 for a Deployment or StatefulSet scaled to 0;
    - Other: pods the scheduler cannot place, images that cannot be pulled, OOMKilled containers."""
    actions: list[SuggestedAction] = []
    undone: set[tuple[str, str, str]] = set()
    for r in sorted(report.rollouts, key=lambda r: (r.namespace, r.kind, r.name)):
        if r.before_first_alert < 0 or (r.namespace, r.kind, r.name) in undone:
            continue
        undone.add((r.namespace, r.kind, r.name))
        target = f"{r.kind.lower()}/{r.name}"
        to = f" --to-revision={r.previous}" if r.previous and r.kind == "Deployment" else ""
        actions.append(
            SuggestedAction(
                kind="RolloutUndo",
                namespace=r.namespace,
                target=target,
                command=f"kubectl rollout undo {target} -n {r.namespace}{to}",
                reason=_cap(
                    f"revision {r.revision} went out {duration(r.before_first_alert)} before the first alert"
                    + (f"; revision {r.previous} is the one before it" if r.previous else ""),
                    1024,
                ),
            )
        )
        if r.kind == "StatefulSet":
            actions += _forced_rollback(report, r)
    later: list[SuggestedAction] = []
    for w in sorted(report.workloads, key=lambda w: (w.namespace, w.kind, w.name)):
        target = f"{w.kind.lower()}/{w.name}"
        reasons = {r for p in w.pods for r in p.reasons}
        failing = [p for p in w.pods if not p.ready and p.phase != "Succeeded"]
        blocked = reasons & ({"Unschedulable"} | IMAGE_REASONS)  # a restart cannot fix these
        key = (w.namespace, w.kind, w.name)
        if w.kind in CONTROLLER_KINDS and key not in undone and not blocked and (failing or reasons & CRASH_REASONS):
            detail = f" ({', '.join(sorted(reasons))})" if reasons else ""
            actions.append(
                SuggestedAction(
                    kind="Restart",
                    namespace=w.namespace,
                    target=target,
                    command=f"kubectl rollout restart {target} -n {w.namespace}",
                    reason=_cap(f"{_plural(len(failing), 'pod')} not ready{detail}", 1024),
                )
            )
        if w.kind in ROLLING_KINDS and w.desired == 0:
            actions.append(
                SuggestedAction(
                    kind="Scale",
                    namespace=w.namespace,
                    target=target,
                    replicas=1,
                    command=f"kubectl scale {target} -n {w.namespace} --replicas=1",
                    reason="it is scaled to 0 replicas",
                )
            )
        unschedulable = sorted(p.name for p in w.pods if "Unschedulable" in p.reasons)
        if unschedulable:
            later.append(
                SuggestedAction(
                    kind="Other",
                    namespace=w.namespace,
                    target=f"pod/{unschedulable[0]}",
                    command=f"kubectl describe pod {unschedulable[0]} -n {w.namespace}",
                    reason="the scheduler cannot place it: check its resource requests, node selectors, "
                    "affinity and taints against the nodes",
                )
            )
        if reasons & IMAGE_REASONS:
            later.append(
                SuggestedAction(
                    kind="Other",
                    namespace=w.namespace,
                    target=target,
                    reason="its image cannot be pulled: check the image name and tag and the pull secret",
                )
            )
        if "OOMKilled" in reasons:
            later.append(
                SuggestedAction(
                    kind="Other",
                    namespace=w.namespace,
                    target=target,
                    reason="containers were OOMKilled: check the memory limit against its use",
                )
            )
    return (actions + later)[:10]


def render_text(report: BuiltinReport) -> str:
    """The report as compact text, at most 15 lines: the root, each workload with up to 3 pods, the
    rollouts, up to 3 events, the queries and the impacted services. Times in UTC."""
    now = report.generated_time
    lines = [f"Root cause candidate: {report.root or '(none)'}"]
    for w in report.workloads[:3]:
        lines.append(f"{w.kind} {w.namespace}/{w.name}: {w.ready}/{w.desired} ready")
        for p in w.pods[:3]:
            state = "ready" if p.ready else "not ready"
            reasons = f" ({', '.join(p.reasons)})" if p.reasons else ""
            lines.append(f"  {p.name} {p.phase or '?'} {state}, restarts {p.restarts}{reasons}")
    for r in report.rollouts[:2]:
        lines.append("Rollout: " + _rollout_sentence(r).rstrip("."))
    for e in report.events[:3]:
        lines.append(f"Event {clock(e.time, now)} {e.type} {e.reason} {e.object} x{e.count}: {_cap(e.message, 120)}")
    for q in report.queries[:2]:
        lines.append("Query: " + _query_sentence(q, now).rstrip("."))
    if report.impacted:
        more = len(report.impacted) - SUMMARY_IMPACTED
        lines.append(
            f"Impacted: {', '.join(report.impacted[:SUMMARY_IMPACTED])}{f' and {more} more' if more > 0 else ''}"
        )
    if len(lines) > MAX_TEXT_LINES:
        lines = [*lines[: MAX_TEXT_LINES - 1], f"… {len(lines) - MAX_TEXT_LINES + 1} more lines"]
    return "\n".join(lines)
