"""Context (pure): what an LLM provider or a workflow engine is sent about an incident.

`chat_messages(input)` gives OpenAI chat messages: a system prompt (read-only, suggestions only, answer
with one JSON object matching `RESULT_SCHEMA`, cite facts as `pod:ns/name`… or `tool:N`) and a user
message: a header (incident, cluster, the namespaces tools may read, what was omitted) and the payload
as compact JSON:

    {"incident": {"name", "cluster", <IncidentStatus wire form without analysis, notifications and
                  conditions>},
     "report": <BuiltinReport wire form> | null}

`workflow_inputs(input)` gives Dify/n8n inputs, all strings: `incident` and `report` (that payload's two
halves as JSON) and `question` (the task, the schema, and what was omitted). Dify's text-input variables
default to 48 characters: declare `incident` and `report` as paragraph variables.

Both redact the payload (`redact`), anonymise it when given an `Anonymizer`, and then bound it: the
sum of the UTF-8 bytes of every message content (or of every input value) is at most `max_bytes`. To fit,
they drop, in order and each only as far as needed: the report's events (the last, least relevant,
first), pods beyond a per-workload cap, timeline entries (oldest first), impacted services (farthest
first, the incident's then the report's), queries, workloads and rollouts; they say what they dropped.
If that is not enough, the payload is summarised by `tools.cap_output`. Raises ValueError when max_bytes
is below `MIN_BYTES`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from alertagent.api.analysis import BuiltinReport
from alertagent.api.incident import IncidentStatus

from .anonymize import Anonymizer
from .answer import RESULT_SCHEMA
from .redact import redact
from .tools import cap_output

MIN_BYTES: Final = 4096
_OMITTED_STATUS: Final = ("analysis", "notifications", "conditions")

SYSTEM_PROMPT: Final = (
    "You are AlertAgent's incident analyst for a Kubernetes cluster. Find the root cause of the incident in"
    " the user message and suggest what to do.\n"
    "- You have read-only access. Nothing you suggest is executed: actions are suggestions a person approves.\n"
    "- The user message holds the incident (its root service by the dependency graph, the impacted services"
    " and a timeline) and AlertAgent's built-in report (workloads and pods of the root, recent rollouts,"
    " Events, and when each alert's PromQL began to hold). Call tools only when those facts are not enough,"
    " and only for the namespaces the user message lists.\n"
    "- Cite every piece of evidence as a fact of the report (pod:ns/name, rollout:ns/kind/name,"
    " event:ns/Kind/name, query:AlertName) or as tool:N for the output of your N-th tool call, from 1.\n"
    "- Values shown as [REDACTED] were removed on purpose; do not ask for them.\n"
    "- Prefer the least disruptive action (kind RolloutUndo after a bad rollout, Restart for a stuck"
    " process, Scale when replicas are missing, else Other) and give the kubectl command.\n"
    "Answer with one JSON object and nothing else, matching this JSON schema:\n"
    + json.dumps(RESULT_SCHEMA, separators=(",", ":"))
)
QUESTION: Final = (
    "What is the root cause of this incident, and what should be done? Nothing is executed: actions are"
    " suggestions. Cite evidence as pod:ns/name, rollout:ns/kind/name, event:ns/Kind/name or query:AlertName."
    " Answer with one JSON object matching this JSON schema: " + json.dumps(RESULT_SCHEMA, separators=(",", ":"))
)


@dataclass(frozen=True)
class AnalysisInput:
    """What an analysis is about: the Incident's name, its cluster (`namespace/name`), its status, the
    built-in report (None when there is none), and the namespaces tools may read (empty: those of the
    incident, see `incident_namespaces`)."""

    incident: str
    cluster: str
    status: IncidentStatus
    report: BuiltinReport | None = None
    namespaces: list[str] = field(default_factory=list)

    @property
    def allowed_namespaces(self) -> tuple[str, ...]:
        """namespaces, or when empty the incident's own, sorted."""
        return tuple(sorted(set(self.namespaces))) or incident_namespaces(self.status, self.report)


def incident_namespaces(status: IncidentStatus, report: BuiltinReport | None = None) -> tuple[str, ...]:
    """The namespaces of an incident, sorted: its root's and impacted services', and the report's
    workloads'."""
    found = {s.namespace for s in ([status.root] if status.root else []) + list(status.impacted)}
    if report is not None:
        found |= {w.namespace for w in report.workloads} | {r.namespace for r in report.rollouts}
        found |= {ref.split("/", 1)[0] for ref in [report.root, *report.impacted] if "/" in ref}
    return tuple(sorted(found - {""}))


def payload(input: AnalysisInput) -> dict[str, Any]:
    """The incident and report as sent, before redaction and bounding (see the module docstring)."""
    status = {k: v for k, v in input.status.to_wire().items() if k not in _OMITTED_STATUS}
    return {
        "incident": {"name": input.incident, "cluster": input.cluster, **status},
        "report": input.report.to_wire() if input.report is not None else None,
    }


def chat_messages(
    input: AnalysisInput, max_bytes: int = 24_000, anonymizer: Anonymizer | None = None
) -> list[dict[str, str]]:
    """The OpenAI chat messages for input, their contents together at most max_bytes UTF-8 bytes (see the
    module docstring). Raises ValueError when max_bytes < MIN_BYTES."""
    _check_room(max_bytes)
    namespaces: list[str] = list(input.allowed_namespaces)
    data = redact(payload(input))
    if anonymizer is not None:
        data, namespaces = anonymizer.anonymize(data), anonymizer.anonymize(namespaces)
    room = max_bytes - _size(SYSTEM_PROMPT)

    def header(omitted: list[str]) -> str:
        lines = [
            f"Incident {data['incident']['name']} of cluster {data['incident']['cluster']}.",
            f"Tools may read only these namespaces: {_listed(namespaces)}.",
        ]
        if omitted:
            lines.append(f"Omitted to fit the context: {', '.join(omitted)}.")
        return "\n".join(lines) + "\n"

    fitted, omitted = _fit(data, lambda d, o: _size(header(o)) + _size(_dumps(d)), room)
    body = _dumps(fitted)
    if _size(header(omitted)) + _size(body) > room:
        omitted = [*omitted, "the rest summarised"]
        body = cap_output(fitted, room - _size(header(omitted)))
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": header(omitted) + body}]


def workflow_inputs(
    input: AnalysisInput, max_bytes: int = 24_000, anonymizer: Anonymizer | None = None
) -> dict[str, str]:
    """The Dify/n8n inputs for input (`incident`, `report`, `question`), their values together at most
    max_bytes UTF-8 bytes (see the module docstring). Raises ValueError when max_bytes < MIN_BYTES."""
    _check_room(max_bytes)
    data = redact(payload(input))
    if anonymizer is not None:
        data = anonymizer.anonymize(data)

    def question(omitted: list[str]) -> str:
        return QUESTION + (f" Omitted to fit: {', '.join(omitted)}." if omitted else "")

    def size(d: dict[str, Any], o: list[str]) -> int:
        return _size(question(o)) + _size(_dumps(d["incident"])) + _size(_dumps(d["report"]))

    fitted, omitted = _fit(data, size, max_bytes)
    incident, report = _dumps(fitted["incident"]), _dumps(fitted["report"])
    if size(fitted, omitted) > max_bytes:
        omitted = [*omitted, "the rest summarised"]
        room = max_bytes - _size(question(omitted))
        incident = cap_output(fitted["incident"], room // 2)
        report = cap_output(fitted["report"], room - _size(incident))
    return {"incident": incident, "report": report, "question": question(omitted)}


# --- bounding ---------------------------------------------------------------------------------------
# (path to a list, what its items are called, keep the end rather than the start)
_LISTS: Final = (
    (("report", "events"), "events", False),
    (("report", "workloads", "*", "pods"), "pods", False),
    (("incident", "timeline"), "timeline entries", True),
    (("incident", "impacted"), "impacted services", False),
    (("report", "impacted"), "impacted services of the report", False),
    (("report", "queries"), "queries", False),
    (("report", "workloads"), "workloads", False),
    (("report", "rollouts"), "rollouts", False),
)
Size = Callable[[dict[str, Any], list[str]], int]


def _fit(data: dict[str, Any], size: Size, limit: int) -> tuple[dict[str, Any], list[str]]:
    """data with lists cut, in _LISTS order and each only as far as needed, until size ≤ limit (or all of
    them are empty), and what was omitted."""
    omitted: list[str] = []
    for path, noun, keep_end in _LISTS:
        if size(data, omitted) <= limit:
            break
        longest = max((len(items) for items in _lists(data, path)), default=0)
        if not longest:
            continue
        # The most items per list that fit; 0 when even none do (the next list is cut then).
        low, high = 0, longest - 1
        while low < high:
            middle = (low + high + 1) // 2
            if size(*_cut_lists(data, omitted, path, noun, keep_end, middle)) <= limit:
                low = middle
            else:
                high = middle - 1
        data, omitted = _cut_lists(data, omitted, path, noun, keep_end, low)
    return data, omitted


def _cut_lists(
    data: dict[str, Any], omitted: list[str], path: tuple[str, ...], noun: str, keep_end: bool, keep: int
) -> tuple[dict[str, Any], list[str]]:
    """A copy of data with the lists at path cut to keep items each, and omitted with a note of it."""
    cut = copy.deepcopy(data)
    lists = _lists(cut, path)
    total = sum(len(items) for items in lists)
    dropped = sum(_cut(items, keep, keep_end) for items in lists)
    return cut, [*omitted, f"{dropped} of {total} {noun}"]


def _lists(data: Any, path: Iterable[str]) -> list[list[Any]]:
    """The lists at path in data (`*`: every item of a list)."""
    nodes = [data]
    for step in path:
        following = []
        for node in nodes:
            if step == "*" and isinstance(node, list):
                following.extend(node)
            elif isinstance(node, dict) and step in node:
                following.append(node[step])
        nodes = following
    return [node for node in nodes if isinstance(node, list)]


def _cut(items: list[Any], keep: int, keep_end: bool) -> int:
    """items cut in place to keep (its end for keep_end); how many were dropped."""
    dropped = max(len(items) - keep, 0)
    if dropped:
        items[:] = items[dropped:] if keep_end else items[:keep]
    return dropped


def _listed(names: list[str], most: int = 30) -> str:
    """names joined, at most `most` of them (tools check the full list anyway)."""
    shown = ", ".join(names[:most]) or "(none)"
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _check_room(max_bytes: int) -> None:
    if max_bytes < MIN_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_BYTES}, not {max_bytes}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _size(text: str) -> int:
    return len(text.encode())
