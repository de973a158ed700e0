"""Why the graph has, or has not, an edge (pure): the text `alertagent graph --explain FROM TO` prints.

Each piece of evidence with its confidence and, when weak, why; the edge's class and NetworkPolicy
verdict; whether the selection (dependency suppression, cycles, incidents) takes it and why not; and
the cycle it is part of. Without an edge, the addresses the caller has that name no Service and the
edges the other way round are shown, since those are the usual reasons.
"""

from __future__ import annotations

from .confidence import WEAK_REASONS, EdgeSelection, evidence_confidence
from .facts import Evidence
from .snapshot import Edge, Graph


def describe(selection: EdgeSelection) -> str:
    enforced = "enforced" if selection.enforce_network_policies else "not enforced"
    classes = ", ".join(sorted(selection.classes))
    return f"confidence >= {selection.min_confidence:g}, classes {classes}, NetworkPolicies {enforced}"


def node_id(graph: Graph, name: str) -> str:
    """A node id from what a user typed: an id, or a name (`api`) or `ns/name` suffix naming one node.
    Raises LookupError for none or several (naming them)."""
    ids = {n.id for n in graph.nodes}
    if name in ids:
        return name
    matches = sorted(i for i in ids if i.endswith("/" + name))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise LookupError(f"{name!r} names several nodes: {', '.join(matches)}")
    raise LookupError(f"no node {name!r} in the graph (node ids are ns/name, ns/kind/name, ns/ingress/name)")


def _evidence_line(evidence: Evidence) -> str:
    where = evidence.object + (f" key {evidence.key}" if evidence.key else "")
    where += f" via {evidence.via}" if evidence.via else ""
    line = f"  - {evidence.type} ({evidence_confidence(evidence):g}): {where}"
    if evidence.role:
        line += f" [{evidence.role}]"
    if evidence.weak:
        line += f"\n      weak ({evidence.weak}): {WEAK_REASONS.get(evidence.weak, evidence.weak)}"
    return line


def _class_reason(graph: Graph, edge: Edge) -> str:
    nodes = {n.id: n for n in graph.nodes}
    if edge.cls == "telemetry":
        callee, caller = nodes.get(edge.callee), nodes.get(edge.caller)
        if callee is not None and callee.role == "telemetry":
            return f"{edge.callee} is an observability component"
        if caller is not None and caller.role == "telemetry":
            return f"{edge.caller} is an observability component and the evidence is its configuration"
        return "every piece of evidence is telemetry by its key or port"
    if edge.cls == "weak":
        return "every piece of evidence is weak and no NetworkPolicy confirms it"
    return "a direct call"


def explain(graph: Graph, caller: str, callee: str) -> str:
    """The explanation, several lines; node names as ids or unambiguous suffixes (`api`, `shop/api`).
    Raises LookupError when a name matches no node or several."""
    caller, callee = node_id(graph, caller), node_id(graph, callee)
    edge = graph.edge(caller, callee)
    lines = [f"{caller} -> {callee}"]
    sibling = next((e for e in graph.dropped if e.caller == caller and e.callee == callee), None)
    if edge is None and sibling is not None:
        via = sorted({e.via for e in sibling.evidence})
        lines.append(
            f"  no edge: only the catalog {', '.join(via)} names it, and both consume that catalog\n"
            "  (a sibling's entry is no edge by that evidence alone; a NetworkPolicy naming the path makes it one)"
        )
        return "\n".join(lines) + "\n"
    if edge is None:
        lines.append("  no edge: nothing in the caller's spec or ConfigMaps names the callee")
        missing = sorted({u.address for u in graph.unresolved if u.caller == caller})
        if missing:
            lines.append(f"  addresses of {caller} that name no Service: {', '.join(missing)}")
        if graph.edge(callee, caller) is not None:
            lines.append(f"  there is an edge the other way: {callee} -> {caller}")
        return "\n".join(lines) + "\n"
    lines.append(f"  class: {edge.cls} ({_class_reason(graph, edge)})")
    lines.append(f"  confidence: {edge.confidence:g} (the strongest evidence)")
    lines.append("  evidence:")
    lines += [_evidence_line(e) for e in edge.evidence]
    if edge.verdict:
        lines.append(f"  NetworkPolicy: {edge.verdict} by {', '.join(edge.policies)}")
    why_not = graph.selection.why_not(edge.cls, edge.confidence, edge.verdict)
    if edge.verdict == "forbidden" and not why_not:
        lines.append("  (kept: the network plugin is not said to enforce NetworkPolicies)")
    lines.append(("  not selected: " + why_not) if why_not else "  selected")
    lines.append(f"    (selection: {describe(graph.selection)})")
    cycle = next((c for c in graph.cycles if caller in c and callee in c), None)
    if cycle:
        lines.append(f"  part of the cycle [{', '.join(cycle)}]")
    return "\n".join(lines) + "\n"
