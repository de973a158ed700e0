"""Incidents over time (pure): each poll's cascades matched to the incidents already open, so an
outage keeps one identity, one name and one timeline while it grows, changes root and resolves.

`advance(incidents, cascades, now)` returns the incidents after this poll:

- A cascade continues the open incident it shares the most alerts with (then the most services, then
  the oldest); each incident continues at most one cascade. A cascade sharing nothing opens a new
  incident, unless an incident that resolved less than `reopen` seconds ago shares a service with it:
  then that one reopens (a flapping alert stays one incident).
- An open incident no cascade continues is resolved (all its alerts are gone), or merged when another
  incident took its alerts.
- The root is sticky: it changes only to a service the old root depends on that now alerts (a
  late-arriving root: the cascade's root then sits below it). If the root's own alerts resolve while
  services above it still alert, it stays the root and the timeline says "root resolved".
- Impacted services that recover stay listed with no alerts: the record is everything the incident
  took down (`alerts` counts what fires now).
- The timeline keeps the first entry and the latest `TIMELINE_MAX - 1`; `changed` is true when
  anything worth writing changed (members, root, state, severity), never for alert start times
  alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from .correlate import Cascade

TIMELINE_MAX = 30
FIRING, RESOLVED = "Firing", "Resolved"


@dataclass(frozen=True)
class Impact:
    node: str
    depth: int
    alerts: int
    suppressed: int
    parent: str | None = None  # the member it depends on next towards the root (a tree); None: not above it


@dataclass(frozen=True)
class Entry:
    at: float  # epoch seconds
    text: str


@dataclass(frozen=True)
class Incident:
    name: str
    root: str
    root_alerts: tuple[str, ...]  # alert names of the root's alerts now (empty: root resolved)
    root_fingerprints: frozenset[str]  # the root's alerts now, by Alertmanager fingerprint
    impacted: tuple[Impact, ...]  # every member but the root, by depth then node
    alerts: int
    suppressed: int
    fingerprints: frozenset[str]
    severity: str
    state: str
    started: float
    resolved: float | None = None
    timeline: tuple[Entry, ...] = ()
    changed: bool = True  # something worth writing changed in the last advance
    merged_into: str | None = None
    root_changes: int = 0  # for names: the root in the name is the first one

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset({self.root, *(i.node for i in self.impacted)})

    @property
    def services(self) -> int:
        return 1 + len(self.impacted)


@dataclass(frozen=True)
class Options:
    reopen: float = 300.0  # seconds a resolved incident may reopen
    timeline_max: int = TIMELINE_MAX
    names: frozenset[str] = field(default_factory=frozenset)  # names taken (also by other clusters)


def incident_name(root: str, started: float) -> str:
    """A DNS-1123 name: the root's name and a hash of the root and the first alert's start second."""
    base = root.rsplit("/", 1)[-1]
    base = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:40].strip("-") or "incident"
    digest = hashlib.sha256(f"{root}|{int(started)}".encode()).hexdigest()[:8]
    return f"{base}-{digest}"


def _timeline(old: tuple[Entry, ...], new: Iterable[Entry], limit: int) -> tuple[Entry, ...]:
    entries = old + tuple(new)
    if len(entries) <= limit:
        return entries
    return entries[:1] + entries[len(entries) - (limit - 1) :]


def _impacts(cascade: Cascade, root: str, old: Incident | None = None) -> tuple[Impact, ...]:
    """The members but `root`, with their alerts. Depths and parents are the cascade's, counted from its
    root; when the incident keeps another root (e.g. reopened by the services above a root that stays
    quiet), a member the record already places keeps its depth and parent there, so it is not shown as
    not depending on the root."""
    placed = {i.node: i for i in old.impacted} if old is not None and root != cascade.root else {}
    out = []
    for m in cascade.members:
        if m.node == root:
            continue
        known = placed.get(m.node)
        depth, parent = (known.depth, known.parent) if known is not None else (m.depth, m.parent)
        out.append(Impact(m.node, depth, len(m.alerts), sum(a.suppressed for a in m.alerts), parent))
    return tuple(out)


def _worst(cascade: Cascade) -> str:
    worst = min(cascade.alerts, key=lambda a: (a.rank, a.severity))
    return worst.severity


def _opened(cascade: Cascade, now: float) -> Incident:
    root = next(m for m in cascade.members if m.node == cascade.root)
    first = min(cascade.alerts, key=lambda a: (a.started, a.fingerprint))
    entries = [Entry(first.started, f"first alert: {first.name} on {first.node}")]
    entries += [Entry(now, f"{m.node} joined (depth {m.depth})") for m in cascade.members if m.node != cascade.root]
    return Incident(
        name=incident_name(cascade.root, cascade.started),
        root=cascade.root,
        root_alerts=tuple(sorted({a.name for a in root.alerts})),
        root_fingerprints=frozenset(a.fingerprint for a in root.alerts),
        impacted=_impacts(cascade, cascade.root),
        alerts=len(cascade.alerts),
        suppressed=sum(a.suppressed for a in cascade.alerts),
        fingerprints=cascade.fingerprints,
        severity=_worst(cascade),
        state=FIRING,
        started=cascade.started,
        timeline=tuple(entries),
    )


def _continued(old: Incident, cascade: Cascade, now: float, options: Options) -> Incident:
    entries: list[Entry] = []
    if old.state == RESOLVED:
        entries.append(Entry(now, "reopened"))
    root = old.root
    if cascade.root != old.root and old.root in cascade.nodes:
        member = next(m for m in cascade.members if m.node == old.root)
        if member.depth > 0:  # the old root depends on the new one: a late-arriving root
            root = cascade.root
            entries.append(Entry(now, f"root changed: {old.root} -> {root} (a service it depends on alerts)"))
    root_member = next((m for m in cascade.members if m.node == root), None)
    root_alerts = tuple(sorted({a.name for a in root_member.alerts})) if root_member else ()
    root_fingerprints = frozenset(a.fingerprint for a in root_member.alerts) if root_member else frozenset()
    if old.root_alerts and not root_alerts and root == old.root:
        entries.append(Entry(now, f"root resolved: {root} (services above it still alert)"))
    before = {i.node for i in old.impacted} | {old.root}
    entries += [
        Entry(now, f"{m.node} joined (depth {m.depth})")
        for m in cascade.members
        if m.node not in before and m.node != root
    ]
    alerting_before = {i.node for i in old.impacted if i.alerts}
    entries += [Entry(now, f"{node} recovered") for node in sorted(alerting_before - cascade.nodes - {root})]
    # A service of the record that recovered (or all of them, after a resolve) and alerts again.
    entries += [
        Entry(now, f"{node} alerting again")
        for node in sorted((cascade.nodes & before) - alerting_before - {root, old.root})
    ]
    # Services that recovered stay in the record (with no alerts now): the incident is what it took down.
    recovered = tuple(
        replace(i, alerts=0, suppressed=0) for i in old.impacted if i.node not in cascade.nodes and i.node != root
    )
    impacted = tuple(sorted(_impacts(cascade, root, old) + recovered, key=lambda i: (i.depth == 0, i.depth, i.node)))
    updated = replace(
        old,
        root=root,
        root_alerts=root_alerts,
        root_fingerprints=root_fingerprints,
        impacted=impacted,
        alerts=len(cascade.alerts),
        suppressed=sum(a.suppressed for a in cascade.alerts),
        fingerprints=cascade.fingerprints,
        severity=_worst(cascade),
        state=FIRING,
        resolved=None,
        timeline=_timeline(old.timeline, entries, options.timeline_max),
        root_changes=old.root_changes + (root != old.root),
    )

    def material(i: Incident) -> tuple[object, ...]:
        return (i.root, i.root_alerts, i.impacted, i.alerts, i.suppressed, i.severity, i.state)

    return replace(updated, changed=material(updated) != material(old))


def _score(incident: Incident, cascade: Cascade) -> tuple[int, int, float, str]:
    return (
        -len(incident.fingerprints & cascade.fingerprints),
        -len(incident.nodes & cascade.nodes),
        incident.started,
        incident.name,
    )


def advance(
    incidents: Sequence[Incident], cascades: Sequence[Cascade], now: float, options: Options = Options()
) -> list[Incident]:
    """The incidents after one poll (see the module docstring), sorted by start then name. Resolved
    incidents are kept (retention is the caller's); `changed` says which ones to write."""
    open_ = {i.name: i for i in incidents if i.state == FIRING}
    recent = {
        i.name: i
        for i in incidents
        if i.state == RESOLVED and i.resolved is not None and now - i.resolved < options.reopen
    }
    taken: set[str] = set()
    out: dict[str, Incident] = {i.name: replace(i, changed=False) for i in incidents}
    # Indexes: which open (recently resolved) incidents hold a fingerprint or a service.
    by_fingerprint: dict[str, set[str]] = {}
    by_node: dict[str, set[str]] = {}
    for incident in open_.values():
        for fingerprint in incident.fingerprints:
            by_fingerprint.setdefault(fingerprint, set()).add(incident.name)
    for incident in [*open_.values(), *recent.values()]:
        for node in incident.nodes:
            by_node.setdefault(node, set()).add(incident.name)
    for cascade in sorted(cascades, key=lambda c: (c.started, c.root)):
        sharing = {name for fp in cascade.fingerprints for name in by_fingerprint.get(fp, ())}
        sharing |= {name for node in cascade.nodes for name in by_node.get(node, ()) if name in open_}
        candidates = [open_[name] for name in sharing if name not in taken]
        if not candidates:
            near = {name for node in cascade.nodes for name in by_node.get(node, ()) if name in recent}
            candidates = [recent[name] for name in near if name not in taken]
        if candidates:
            chosen = min(candidates, key=lambda i: _score(i, cascade))
            taken.add(chosen.name)
            out[chosen.name] = _continued(chosen, cascade, now, options)
            continue
        incident = _opened(cascade, now)
        while incident.name in out or incident.name in options.names:  # a hash collision, or a reopened outage
            incident = replace(incident, name=incident.name + "-x")
        out[incident.name] = incident
        taken.add(incident.name)
    for name, incident in open_.items():
        if name in taken:
            continue
        into = next(
            (
                i.name
                for i in out.values()
                if i.state == FIRING and i.fingerprints & incident.fingerprints and i.name != name
            ),
            None,
        )
        text = f"merged into {into}" if into else "resolved: all alerts are gone"
        out[name] = replace(
            incident,
            state=RESOLVED,
            resolved=now,
            # Nothing fires any more: the record keeps who was impacted, with no alerts now.
            alerts=0,
            suppressed=0,
            root_alerts=(),
            root_fingerprints=frozenset(),
            impacted=tuple(replace(i, alerts=0, suppressed=0) for i in incident.impacted),
            merged_into=into,
            timeline=_timeline(incident.timeline, [Entry(now, text)], options.timeline_max),
            changed=True,
        )
    return sorted(out.values(), key=lambda i: (i.started, i.name))
