"""Text forms of the graph (pure): JSON (the published form), Graphviz DOT and Mermaid."""

from __future__ import annotations

import json
import re

from .snapshot import Graph

FORMATS = ("json", "dot", "mermaid")
CONTENT_TYPES = {"json": "application/json", "dot": "text/vnd.graphviz", "mermaid": "text/plain"}


def to_json(graph: Graph) -> str:
    """Stable JSON: sorted keys and lists, so the same graph always gives the same bytes."""
    return json.dumps(graph.as_json(), sort_keys=True, separators=(",", ":")) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    lines = ["digraph services {", "  rankdir=LR;", "  node [shape=box];"]
    for node in graph.nodes:
        shape = {"service": "box", "ingress": "cds"}.get(node.kind, "ellipse")
        label = node.id if node.tier is None else f"{node.id}\\n{node.tier}"
        lines.append(f"  {_quote(node.id)} [label={_quote(label)}, shape={shape}];")
    for edge in graph.edges:
        # Solid: selected (drives suppression); dashed: shown only; dotted: telemetry.
        style = "dotted" if edge.cls == "telemetry" else "solid" if graph.selected(edge) else "dashed"
        types = ",".join(sorted({e.type for e in edge.evidence}))
        label = types if edge.cls == "call" else f"{edge.cls}: {types}"
        lines.append(f"  {_quote(edge.caller)} -> {_quote(edge.callee)} [label={_quote(label)}, style={style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(node_id: str) -> str:
    # Ids hold [a-z0-9.-/] only; hex escapes keep the mapping one-to-one (no `_` in ids).
    return "n_" + re.sub(r"[^a-z0-9]", lambda m: f"_{ord(m.group()):02x}", node_id)


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for node in graph.nodes:
        label = node.id.replace('"', "#quot;")
        lines.append(f'  {_mermaid_id(node.id)}["{label}"]')
    for edge in graph.edges:
        arrow = "-->" if graph.selected(edge) else "-.->"  # dotted: not used for suppression
        lines.append(f"  {_mermaid_id(edge.caller)} {arrow} {_mermaid_id(edge.callee)}")
    return "\n".join(lines) + "\n"


def render(graph: Graph, fmt: str) -> str:
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "mermaid":
        return to_mermaid(graph)
    return to_json(graph)
