"""The service dependency graph as published (pure, immutable): nodes, edges with their evidence, class
and NetworkPolicy verdict, unresolved addresses, and the dependency cycles among the edges its
`EdgeSelection` selects; JSON round trip and reachability queries (over the selected edges).

Node ids: Service `ns/name`; workload no Service selects `ns/kind/name`; Ingress `ns/ingress/name`.
An edge goes from the caller to the callee.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .confidence import EdgeSelection, edge_confidence
from .facts import Evidence


@dataclass(frozen=True, order=True)
class Unresolved:
    """An address that names no existing Service, and where it was found."""

    caller: str
    address: str
    source: Evidence

    def as_json(self) -> dict[str, Any]:
        return {"from": self.caller, "address": self.address, "source": self.source.as_json()}


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # service | ingress | deployment | statefulset | daemonset | replicaset | job | cronjob
    namespace: str
    name: str
    tier: str | None = None
    criticality: str | None = None
    team: str | None = None
    sla: str | None = None
    role: str | None = None  # "telemetry": an observability component
    external_name: str | None = None  # an ExternalName Service's target

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "tier": self.tier,
            "criticality": self.criticality,
            "team": self.team,
            "sla": self.sla,
            "role": self.role,
            "externalName": self.external_name,
        }


@dataclass(frozen=True)
class Edge:
    caller: str
    callee: str
    evidence: tuple[Evidence, ...]
    cls: str = "call"  # call | telemetry | weak (confidence.py)
    verdict: str = ""  # NetworkPolicies: "" | allowed | forbidden
    policies: tuple[str, ...] = ()  # the NetworkPolicies (ns/networkpolicy/name) that decided the verdict

    @property
    def confidence(self) -> float:
        return edge_confidence(self.evidence)

    def as_json(self, selection: EdgeSelection | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "from": self.caller,
            "to": self.callee,
            "class": self.cls,
            "evidence": [e.as_json() for e in self.evidence],
            "confidence": self.confidence,
        }
        if self.verdict:
            doc["networkPolicy"] = {"verdict": self.verdict, "policies": list(self.policies)}
        if selection is not None:
            doc["selected"] = not selection.why_not(self.cls, self.confidence, self.verdict)
        return doc


@dataclass(frozen=True)
class Graph:
    """An immutable view: sorted nodes, edges and unresolved addresses, with the cycles among them."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]  # all of them; `selection` says which ones cycles and reachability use
    unresolved: tuple[Unresolved, ...]
    cycles: tuple[tuple[str, ...], ...] = ()
    selection: EdgeSelection = field(default_factory=EdgeSelection)
    # Pairs with only sibling catalog evidence: not edges (see confidence.py), kept for --explain; not
    # published (a catalog of n services would add n² of them).
    dropped: tuple[Edge, ...] = field(default=(), compare=False, repr=False)
    _callees: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)
    _callers: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        nodes: Iterable[Node],
        edges: Iterable[Edge],
        unresolved: Iterable[Unresolved],
        selection: EdgeSelection | None = None,
        dropped: Iterable[Edge] = (),
    ) -> Graph:
        selection = selection or EdgeSelection()
        nodes = tuple(sorted(nodes, key=lambda n: n.id))
        edges = tuple(sorted(edges, key=lambda e: (e.caller, e.callee)))
        callees: dict[str, list[str]] = {}
        callers: dict[str, list[str]] = {}
        for edge in edges:
            if not selection.why_not(edge.cls, edge.confidence, edge.verdict):
                callees.setdefault(edge.caller, []).append(edge.callee)
                callers.setdefault(edge.callee, []).append(edge.caller)
        cycles = find_cycles([n.id for n in nodes], callees)
        dropped = tuple(sorted(dropped, key=lambda e: (e.caller, e.callee)))
        return cls(nodes, edges, tuple(sorted(set(unresolved))), cycles, selection, dropped, callees, callers)

    def with_selection(self, selection: EdgeSelection) -> Graph:
        """The same graph with cycles and reachability over another selection of its edges."""
        if selection == self.selection:
            return self
        return Graph.build(self.nodes, self.edges, self.unresolved, selection, self.dropped)

    def selected(self, edge: Edge) -> bool:
        return not self.selection.why_not(edge.cls, edge.confidence, edge.verdict)

    def edge(self, caller: str, callee: str) -> Edge | None:
        return next((e for e in self.edges if e.caller == caller and e.callee == callee), None)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Graph:
        """The graph back from `as_json()` (what the operator publishes)."""
        nodes = [Node(**{_NODE_FIELDS.get(k, k): v for k, v in n.items()}) for n in doc.get("nodes") or []]
        edges = [
            Edge(
                e["from"],
                e["to"],
                tuple(Evidence(**ev) for ev in e["evidence"]),
                e.get("class", "call"),
                (e.get("networkPolicy") or {}).get("verdict", ""),
                tuple((e.get("networkPolicy") or {}).get("policies") or ()),
            )
            for e in doc.get("edges") or []
        ]
        unresolved = [Unresolved(u["from"], u["address"], Evidence(**u["source"])) for u in doc.get("unresolved") or []]
        return cls.build(nodes, edges, unresolved, EdgeSelection.from_json(doc.get("selection")))

    def downstream(self, node_id: str, max_depth: int | None = None) -> dict[str, int]:
        """What the node depends on, transitively: id → hops."""
        return _reach(self._callees, node_id, max_depth)

    def upstream(self, node_id: str, max_depth: int | None = None) -> dict[str, int]:
        """What depends on the node (its dependants), transitively: id → hops."""
        return _reach(self._callers, node_id, max_depth)

    def as_json(self) -> dict[str, Any]:
        return {
            "nodes": [n.as_json() for n in self.nodes],
            "edges": [e.as_json(self.selection) for e in self.edges],
            "unresolved": [u.as_json() for u in self.unresolved],
            "cycles": [list(c) for c in self.cycles],
            "selection": self.selection.as_json(),
        }


_NODE_FIELDS = {"externalName": "external_name"}


def _reach(adjacent: Mapping[str, list[str]], start: str, max_depth: int | None) -> dict[str, int]:
    depth = {start: 0}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if max_depth is not None and depth[current] >= max_depth:
            continue
        for following in adjacent.get(current, ()):
            if following not in depth:
                depth[following] = depth[current] + 1
                queue.append(following)
    del depth[start]
    return depth


def find_cycles(nodes: Iterable[str], adjacent: Mapping[str, list[str]]) -> tuple[tuple[str, ...], ...]:
    """Strongly connected components of more than one node (Tarjan's, iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[tuple[str, ...]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(adjacent.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            current, following = work[-1]
            advanced = False
            for nxt in following:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(adjacent.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[current] = min(low[current], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    cycles.append(tuple(sorted(component)))
    return tuple(sorted(cycles))
