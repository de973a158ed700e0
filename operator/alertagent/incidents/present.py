"""Incidents as text (pure): the table of `alertagent incidents list` and the report of
`alertagent incidents show NAME`, with the impacted services as a tree by dependency. Input: Incident
objects as the API server returns them (dicts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..analysis.builtin import render_text, suggested_actions
from ..api.analysis import IncidentAnalysis

TREE_LIMIT = 200  # lines of the tree; the rest is counted


def _age(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "-"
    seconds = int((now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _service(ref: Mapping[str, Any] | None) -> str:
    if not ref:
        return "-"
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"


def incident_table(incidents: Iterable[Mapping[str, Any]], now: datetime | None = None) -> str:
    """One line per incident, newest first: namespace, name, root, severity, services, alerts, state, age."""
    now = now or datetime.now(UTC)
    header = ("NAMESPACE", "NAME", "ROOT", "SEVERITY", "SERVICES", "ALERTS", "STATE", "AGE")
    rows = []
    ordered = sorted(incidents, key=lambda i: (i.get("status") or {}).get("startTime") or "", reverse=True)
    for incident in ordered:
        meta, status = incident.get("metadata") or {}, incident.get("status") or {}
        rows.append(
            (
                meta.get("namespace", ""),
                meta.get("name", ""),
                _service(status.get("root")),
                status.get("severity") or "-",
                str(status.get("services", 0)),
                str(status.get("alerts", 0)),
                status.get("state", "-"),
                _age(status.get("startTime") or meta.get("creationTimestamp"), now),
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in [header, *rows]
    )


def impacted_tree(status: Mapping[str, Any], limit: int = TREE_LIMIT) -> list[str]:
    """The root, then each impacted service under the one it depends on next (services not above the
    root after it); at most `limit` lines, then a count of the rest."""
    root = status.get("root") or {}
    root_id = _service(root)
    alerts = ", ".join(root.get("alerts") or []) or "resolved"
    lines = [f"{root_id} (root: {alerts})"]
    children: dict[str, list[Mapping[str, Any]]] = {}
    detached = []
    for service in status.get("impacted") or []:
        parent = service.get("parent")
        if parent:
            children.setdefault(parent, []).append(service)
        else:
            detached.append(service)

    def label(service: Mapping[str, Any]) -> str:
        suppressed = service.get("suppressed", 0)
        note = f", {suppressed} suppressed" if suppressed else ""
        alerts = service.get("alerts", 0)
        return f"{_service(service)} ({alerts} alert{'' if alerts == 1 else 's'}{note})"

    def walk(node: str, prefix: str, seen: set[str]) -> None:
        kids = sorted(children.get(node, []), key=_service)
        for index, kid in enumerate(kids):
            last = index == len(kids) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{label(kid)}")
            kid_id = _service(kid)
            if kid_id not in seen:
                walk(kid_id, prefix + ("   " if last else "│  "), seen | {kid_id})

    walk(root_id, "", {root_id})
    lines += [f"{label(s)} (alerting too; does not depend on the root)" for s in sorted(detached, key=_service)]
    if len(lines) > limit:
        rest = len(lines) - limit
        lines = [*lines[:limit], f"... and {rest} more"]
    return lines


def incident_report(incident: Mapping[str, Any]) -> str:
    """`incidents show`: the summary, the tree and the timeline."""
    meta, spec, status = incident.get("metadata") or {}, incident.get("spec") or {}, incident.get("status") or {}
    notifications = status.get("notifications") or {}
    lines = [
        f"Incident:      {meta.get('namespace', '')}/{meta.get('name', '')}",
        f"Cluster:       {spec.get('cluster', '-')}",
        f"State:         {status.get('state', '-')}  severity {status.get('severity') or '-'}",
        f"Started:       {status.get('startTime', '-')}",
    ]
    if status.get("resolveTime"):
        lines.append(f"Resolved:      {status['resolveTime']}")
    if status.get("mergedInto"):
        lines.append(f"Merged into:   {status['mergedInto']}")
    lines += [
        f"Alerts:        {status.get('alerts', 0)} firing, "
        f"{status.get('suppressedAlerts', 0)} suppressed in Alertmanager",
        f"Services:      {status.get('services', 0)}",
        f"Notifications: {notifications.get('sent', 0)} sent"
        + (f" to {', '.join(notifications['channels'])}" if notifications.get("channels") else ""),
        "",
        "Impacted services:",
        *("  " + line for line in impacted_tree(status)),
        "",
        "Timeline:",
        *(f"  {entry.get('time', '')}  {entry.get('event', '')}" for entry in status.get("timeline") or []),
        *analysis_lines(status.get("analysis")),
    ]
    return "\n".join(lines) + "\n"


def analysis_lines(raw: Mapping[str, Any] | None) -> list[str]:
    """`incidents show`'s analysis section: the built-in report, then the LLM's answer ([] without
    an analysis; a line saying so when it does not validate)."""
    if not raw:
        return []
    try:
        analysis = IncidentAnalysis.model_validate(raw)
    except ValidationError:
        return ["", "Analysis: (unreadable)"]
    lines = ["", "Analysis (built-in):"]
    if analysis.builtin is not None:
        lines += ["  " + line for line in render_text(analysis.builtin).splitlines()]
        lines += [f"  Suggested (not run): {a.command}" for a in suggested_actions(analysis.builtin) if a.command]
    else:
        lines.append("  (off)")
    llm = analysis.llm
    if llm is None:
        return lines
    model = f" {llm.model}" if llm.model else ""
    lines += ["", f"Analysis ({llm.provider}{model}): {llm.state}" + (f": {llm.message}" if llm.message else "")]
    result = llm.result
    if result is not None and result.structured:
        lines.append(f"  Root cause ({round(result.confidence * 100)}% confident): {result.root_cause}")
        if result.impact:
            lines.append(f"  Impact: {result.impact}")
        lines += [f"  Evidence [{e.fact}]: {e.detail}" for e in result.evidence]
        lines += [f"  Suggested (not run): {a.command or (a.kind + ' ' + a.target).strip()}" for a in result.actions]
    elif result is not None:
        lines += ["  " + line for line in result.text.splitlines()[:20]]
    if llm.state != "Pending":
        lines.append(f"  {llm.tokens} tokens, {llm.tool_calls} tool calls, {llm.bytes_sent} bytes sent")
    return lines
