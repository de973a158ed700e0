"""Correlation (pure): the alerts firing now, grouped into cascades by the dependency graph and time.

Two alerting services belong to one cascade when one depends on the other (directly or through any
number of services, alerting or not, over the graph's selected edges) and their first alerts started
within `window` seconds of each other; cascades are the connected groups of that relation. An alert
whose labels name no graph node is its own service with no dependencies. So the result depends only
on the set of alerts and the graph, never on the order they arrived in, and an alert of a service
connected to no other alerting service never changes another cascade.

The root of a cascade is its most upstream alerting service: one no other member is strictly below
(a member it depends on that does not depend on it back; members of a dependency cycle are level);
among several, the worst severity, then the earliest start, then the node id. Every other member is
impacted, with its depth: the hops from it down to the root, or 0 when it does not depend on the root
(a second root of a diamond); and its parent, for a tree: the member it depends on that is nearest to
it on the way down to the root (the root itself when no other member is between them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from ..discovery.snapshot import Graph
from .alerts import AlertView


@dataclass(frozen=True)
class Member:
    node: str
    depth: int  # hops down to the root; 0 for the root and for services not above it
    alerts: tuple[AlertView, ...]  # sorted
    parent: str | None = None  # the next member down towards the root (None: the root, or not above it)

    @property
    def started(self) -> float:
        return min(a.started for a in self.alerts)

    @property
    def rank(self) -> int:
        return min(a.rank for a in self.alerts)


@dataclass(frozen=True)
class Cascade:
    root: str
    members: tuple[Member, ...]  # the root first, then those above it by depth and node id, then the rest

    # Cached: incident tracking asks for these once per open incident.
    @cached_property
    def alerts(self) -> tuple[AlertView, ...]:
        return tuple(a for m in self.members for a in m.alerts)

    @cached_property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(a.fingerprint for a in self.alerts)

    @cached_property
    def nodes(self) -> frozenset[str]:
        return frozenset(m.node for m in self.members)

    @property
    def started(self) -> float:
        return min(m.started for m in self.members)


class _Union:
    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {item: item for item in items}

    def find(self, item: str) -> str:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def correlate(graph: Graph, alerts: Iterable[AlertView], window: float) -> list[Cascade]:
    """The cascades of the alerts, sorted by start then root. `window` is seconds."""
    by_node: dict[str, list[AlertView]] = {}
    for alert in alerts:
        by_node.setdefault(alert.node, []).append(alert)
    started = {node: min(a.started for a in views) for node, views in by_node.items()}
    below: dict[str, dict[str, int]] = {}  # alerting node → alerting nodes it depends on, with hops
    for node in by_node:
        reach = graph.downstream(node) if not node.startswith("alert:") else {}
        below[node] = {other: hops for other, hops in reach.items() if other in by_node}
    groups = _Union(by_node)
    for node, deps in below.items():
        for other in deps:
            if abs(started[node] - started[other]) <= window:
                groups.join(node, other)
    components: dict[str, list[str]] = {}
    for node in by_node:
        components.setdefault(groups.find(node), []).append(node)
    cascades = [_cascade(sorted(nodes), by_node, below) for nodes in components.values()]
    return sorted(cascades, key=lambda c: (c.started, c.root))


def _cascade(nodes: list[str], by_node: Mapping[str, list[AlertView]], below: Mapping[str, dict[str, int]]) -> Cascade:
    members = set(nodes)

    def strictly_above_another(node: str) -> bool:
        return any(other in members and node not in below[other] for other in below[node])

    candidates = [n for n in nodes if not strictly_above_another(n)] or nodes
    root = min(
        candidates,
        key=lambda n: (min(a.rank for a in by_node[n]), min(a.started for a in by_node[n]), n),
    )

    def parent(node: str) -> str | None:
        if node == root or root not in below[node]:
            return None
        # Members between it and the root: below it, with the root below them (or the root itself).
        between = [p for p in below[node] if p in members and (p == root or root in below[p])]
        return max(between, key=lambda p: (below[p].get(root, 0), p == root, p))

    built = [
        Member(
            node,
            0 if node == root else below[node].get(root, 0),
            tuple(sorted(by_node[node])),
            parent(node),
        )
        for node in nodes
    ]
    built.sort(key=lambda m: (m.node != root, m.depth == 0, m.depth, m.node))
    return Cascade(root, tuple(built))
