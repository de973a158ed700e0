"""The incident section of robot messages (pure): what templates see of an incident the incident engine
follows (`alertagent.incidents.track.Incident`, read through the `IncidentLike` protocol, since the
render layer does not import the engine).

Template context `incident` (also one item of `incidents`): name, state ("Firing" | "Resolved"),
firing (bool), root (the root service, `<namespace>/<name>`), root_alerts (its alert names, empty once
they resolved), services (the root and the impacted ones), impacted (their number), alerts,
suppressed (alerts inhibited or silenced in Alertmanager), severity, started and resolved (times in the
channel's zone; resolved "" while firing), duration (resolved - started, e.g. "12m", "" while firing),
merged_into, tree (lines: the root, then each impacted service under the one it depends on next;
each line: service, level (0: the root), prefix (indentation and branch mark), alerts, suppressed,
detached (alerting too but not above the root)), more (impacted services past the tree's cap) and
analysis (None, or: summary (the built-in report's), actions (suggested kubectl commands), llm (None,
or: provider, state, root_cause, impact, confidence (percent), evidence (details), actions,
structured, text)); see `analysis_context`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ...analysis.builtin import suggested_actions
from ...api.analysis import IncidentAnalysis

TREE_LINES = 25  # impacted services listed in a message; the rest are counted ("and N more")
_INDENT = "\u00a0\u00a0\u00a0"  # no-break spaces: markdown keeps them, so levels stay visible


class ImpactLike(Protocol):
    """An impacted service (`track.Impact`)."""

    @property
    def node(self) -> str: ...
    @property
    def depth(self) -> int: ...
    @property
    def alerts(self) -> int: ...
    @property
    def suppressed(self) -> int: ...
    @property
    def parent(self) -> str | None: ...


class IncidentLike(Protocol):
    """An incident (`track.Incident`); times are epoch seconds."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def root(self) -> str: ...
    @property
    def root_alerts(self) -> Sequence[str]: ...
    @property
    def impacted(self) -> Sequence[ImpactLike]: ...
    @property
    def alerts(self) -> int: ...
    @property
    def suppressed(self) -> int: ...
    @property
    def severity(self) -> str: ...
    @property
    def started(self) -> float: ...
    @property
    def resolved(self) -> float | None: ...
    @property
    def merged_into(self) -> str | None: ...


def service_name(node: str) -> str:
    """A graph node as messages show it: `<namespace>/<name>` (an alert naming no graph node is shown
    by its labels, without the engine's `alert:` mark)."""
    return node.removeprefix("alert:")


def duration(seconds: float, language: str) -> str:
    """A duration in whole units, at most two: "45s", "12m", "1h 5m", "2d 3h"; Chinese "12 分钟"."""
    seconds = max(0, int(seconds))
    units = (
        [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
        if language == "en"
        else [(" 天", 86400), (" 小时", 3600), (" 分钟", 60), (" 秒", 1)]
    )
    parts: list[str] = []
    for unit, size in units:
        if seconds >= size or (size == 1 and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2 or (parts and seconds == 0):
            break
    return " ".join(parts)


def tree(incident: IncidentLike, limit: int = TREE_LINES) -> tuple[list[dict[str, Any]], int]:
    """(lines, more): the root, then the impacted services depth first under the service each depends
    on next towards the root (siblings by name), then those not above the root; at most `limit`
    impacted lines, `more` counts the rest."""
    impacted = {i.node: i for i in incident.impacted}
    children: dict[str, list[ImpactLike]] = {}
    for item in incident.impacted:
        if item.parent is not None and (item.parent in impacted or item.parent == incident.root):
            children.setdefault(item.parent, []).append(item)
    ordered: list[tuple[ImpactLike, int]] = []
    seen = {incident.root}

    def walk(node: str, level: int) -> None:
        for kid in sorted(children.get(node, []), key=lambda i: i.node):
            if kid.node not in seen:
                seen.add(kid.node)
                ordered.append((kid, level))
                walk(kid.node, level + 1)

    walk(incident.root, 1)
    rest = sorted((i for i in incident.impacted if i.node not in seen), key=lambda i: (i.parent is not None, i.node))
    ordered += [(i, 1) for i in rest]  # not above the root (or a parent the engine did not list)
    lines = [
        {
            "service": service_name(incident.root),
            "level": 0,
            "prefix": "",
            "alerts": 0,  # the root's line names its alerts (`root_alerts`) instead
            "suppressed": 0,
            "detached": False,
            "root": True,
        }
    ]
    for item, level in ordered[:limit]:
        detached = item.parent is None
        lines.append(
            {
                "service": service_name(item.node),
                "level": level,
                "prefix": "" if detached else _INDENT * (level - 1) + "└ ",
                "alerts": item.alerts,
                "suppressed": item.suppressed,
                "detached": detached,
                "root": False,
            }
        )
    return lines, max(0, len(ordered) - limit)


def _time(epoch: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


ANALYSIS_ITEMS = 3  # suggested actions and evidence items a message lists


def analysis_context(analysis: IncidentAnalysis | None) -> dict[str, Any] | None:
    """What templates see of an incident's analysis (see the module docstring); None without one."""
    if analysis is None or (analysis.builtin is None and analysis.llm is None):
        return None
    report = analysis.builtin
    actions = [a.command for a in suggested_actions(report) if a.command] if report is not None else []
    llm = None
    if analysis.llm is not None and analysis.llm.result is not None:
        result = analysis.llm.result
        llm = {
            "provider": analysis.llm.provider,
            "state": analysis.llm.state,
            "structured": result.structured,
            "root_cause": result.root_cause,
            "impact": result.impact,
            "confidence": round(result.confidence * 100),
            "evidence": [f"{e.detail} [{e.fact}]" if e.fact else e.detail for e in result.evidence[:ANALYSIS_ITEMS]],
            "actions": [a.command or f"{a.kind} {a.target}".strip() for a in result.actions[:ANALYSIS_ITEMS]],
            "text": result.text[:1000],
        }
    return {"summary": report.summary if report is not None else "", "actions": actions[:ANALYSIS_ITEMS], "llm": llm}


def incident_context(
    incident: IncidentLike,
    zone: ZoneInfo,
    language: str,
    limit: int = TREE_LINES,
    analysis: IncidentAnalysis | None = None,
) -> dict[str, Any]:
    """The template context of one incident (see the module docstring)."""
    lines, more = tree(incident, limit)
    resolved = incident.resolved if incident.state != "Firing" else None
    return {
        "name": incident.name,
        "state": incident.state,
        "firing": incident.state == "Firing",
        "root": service_name(incident.root),
        "root_alerts": list(incident.root_alerts),
        "services": 1 + len(incident.impacted),
        "impacted": len(incident.impacted),
        "alerts": incident.alerts,
        "suppressed": incident.suppressed,
        "severity": incident.severity,
        "started": _time(incident.started, zone),
        "resolved": _time(resolved, zone) if resolved is not None else "",
        "duration": duration(resolved - incident.started, language) if resolved is not None else "",
        "merged_into": incident.merged_into or "",
        "tree": lines,
        "more": more,
        "analysis": analysis_context(analysis),
    }
