"""Answers (pure): an LLM's or a workflow's answer parsed into an `AnalysisResult`.

`RESULT_SCHEMA` is the JSON schema models are asked to answer with (snake_case keys):

    {"root_cause": str, "evidence": [{"fact": str, "detail": str}], "impact": str,
     "actions": [{"kind": "RolloutUndo"|"Scale"|"Restart"|"Other", "namespace": str, "target": str,
                  "replicas": int, "command": str, "reason": str}],
     "confidence": number 0..1}

`parse_answer(text)` finds the object in a chat answer: the whole text, else each fenced block
(```json … ``` or ``` … ```), else the first `{…}` that decodes (at most 64 starts are tried). An
object counts when it has a root cause key (`root_cause`, `rootCause`, `root cause`, any case), directly
or under one wrapping key (`{"analysis": {…}}`). Reading is lenient, as models vary: camelCase keys;
confidence as 0.8, "0.8", "80%", 80 (read as percent) or high/medium/low (0.8/0.5/0.2), clamped to 0..1,
else 0; evidence items as plain strings (→ `detail`) or with `source`/`description` keys; impact as a
list (joined with "; "); actions as strings (a `kubectl …` string → `command`, else `reason`), an
unknown or missing kind → Other (a missing kind is read from a `kubectl rollout undo|restart`/`kubectl
scale` command); replicas not a whole number ≥ 0 → unset; strings and lists cut to the field's limits.
Anything else — no object, or one pydantic still rejects — is kept as `AnalysisResult(structured=False,
text=<the answer, capped at 8192 characters>)`.

`answer_from_json(obj)` does the same for a workflow engine's JSON output (Dify workflow `outputs`, an
n8n webhook's answer): the object itself, a wrapped one, a one-item list, or a text field (`text`,
`output`, `answer`, `result`, `content`) holding an answer to parse. Neither function raises.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from pydantic import ValidationError

from alertagent.api.analysis import ActionKind, AnalysisResult

TEXT_LIMIT: Final = 8192  # AnalysisResult.text
_SCAN_LIMIT: Final = 65536  # characters of an answer searched for an object
_MAX_STARTS: Final = 64
_FENCE_RE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n(?P<body>.*?)```", re.DOTALL)
_COMMAND_KINDS: Final[tuple[tuple[re.Pattern[str], ActionKind], ...]] = (
    (re.compile(r"\bkubectl\b.*\brollout\s+undo\b"), "RolloutUndo"),
    (re.compile(r"\bkubectl\b.*\brollout\s+restart\b"), "Restart"),
    (re.compile(r"\bkubectl\b.*\bscale\b"), "Scale"),
)
_KINDS: Final[dict[str, ActionKind]] = {
    "rolloutundo": "RolloutUndo",
    "undo": "RolloutUndo",
    "rollback": "RolloutUndo",
    "scale": "Scale",
    "restart": "Restart",
    "rolloutrestart": "Restart",
    "other": "Other",
}
_CONFIDENCE_WORDS: Final = {"high": 0.8, "medium": 0.5, "moderate": 0.5, "low": 0.2}
_TEXT_KEYS: Final = ("text", "output", "answer", "result", "content")
_STRING: Final = {"type": "string"}

RESULT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "root_cause": {"type": "string", "description": "The root cause, in one or two sentences."},
        "evidence": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "fact": {
                        "type": "string",
                        "description": "What it points to: pod:ns/name, rollout:ns/kind/name, event:ns/Kind/name,"
                        " query:AlertName, or tool:N for the N-th tool call's output.",
                    },
                    "detail": {"type": "string", "description": "What that fact shows."},
                },
                "required": ["fact", "detail"],
            },
        },
        "impact": {"type": "string", "description": "What is affected, and how."},
        "actions": {
            "type": "array",
            "maxItems": 10,
            "description": "Suggested actions; they are never executed automatically.",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["RolloutUndo", "Scale", "Restart", "Other"]},
                    "namespace": _STRING,
                    "target": {"type": "string", "description": "kind/name, e.g. deployment/api"},
                    "replicas": {"type": "integer", "minimum": 0, "description": "For Scale."},
                    "command": {"type": "string", "description": "The kubectl command that would do it."},
                    "reason": _STRING,
                },
                "required": ["kind", "reason"],
            },
        },
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["root_cause", "evidence", "impact", "actions", "confidence"],
}


def parse_answer(text: str) -> AnalysisResult:
    """The structured result in a chat answer, else the answer kept as unstructured text (see the
    module docstring)."""
    for candidate in _candidates(text[:_SCAN_LIMIT]):
        if (result := _result(candidate)) is not None:
            return result
    return unstructured(text)


def answer_from_json(obj: Any) -> AnalysisResult:
    """The structured result in a workflow's JSON output, else that output kept as unstructured text
    (see the module docstring)."""
    return _from_json(obj, depth=0) or unstructured(obj if isinstance(obj, str) else _dumps(obj))


def unstructured(text: str) -> AnalysisResult:
    """text kept as an unstructured answer, capped at 8192 characters (a cut ends with `…`)."""
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    return AnalysisResult(structured=False, text=text)


def _from_json(obj: Any, depth: int) -> AnalysisResult | None:
    if depth > 3:
        return None
    if isinstance(obj, str):
        parsed = parse_answer(obj)
        return parsed if parsed.structured else None
    if isinstance(obj, list):
        return _from_json(obj[0], depth + 1) if len(obj) == 1 else None
    if not isinstance(obj, Mapping):
        return None
    if (result := _result(obj)) is not None:
        return result
    for key in _TEXT_KEYS:
        if isinstance(obj.get(key), str | Mapping | list) and (found := _from_json(obj[key], depth + 1)):
            return found
    return None


def _candidates(text: str) -> Iterator[Any]:
    """Decoded JSON values worth trying, best first: the whole text, fenced blocks, then `{` starts."""
    try:
        whole = json.loads(text.strip())
    except ValueError:
        pass
    else:
        yield whole
    for m in _FENCE_RE.finditer(text):
        try:
            yield json.loads(m["body"])
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(_MAX_STARTS):
        if start < 0:
            break
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        yield value
        start = text.find("{", end)


def _root_cause_key(obj: Mapping[Any, Any]) -> str | None:
    for key in obj:
        if isinstance(key, str) and re.sub(r"[\s_-]", "", key).lower() == "rootcause":
            return key
    return None


def _result(obj: Any) -> AnalysisResult | None:
    """obj read as a result (or the one object it wraps), None when it is not one or does not validate."""
    if not isinstance(obj, Mapping):
        return None
    if _root_cause_key(obj) is None:
        wrapped = [v for v in obj.values() if isinstance(v, Mapping)]
        if len(obj) != 1 or len(wrapped) != 1:
            return None
        obj = wrapped[0]
        if _root_cause_key(obj) is None:
            return None
    fields = {_snake(key): value for key, value in obj.items() if isinstance(key, str)}
    fields["root_cause"] = obj[_root_cause_key(obj)]
    root_cause = _text(fields.get("root_cause"), 2048)
    if not root_cause:
        return None  # `{"root_cause": ""}` says nothing: the raw answer is kept instead
    try:
        return AnalysisResult(
            structured=True,
            root_cause=root_cause,
            evidence=[_evidence(item) for item in _items(fields.get("evidence"))[:20]],
            impact=_text(fields.get("impact"), 2048),
            actions=[_action(item) for item in _items(fields.get("actions"))[:10]],
            confidence=_confidence(fields.get("confidence")),
        )
    except (ValidationError, ValueError, TypeError):
        return None


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key.strip()).replace(" ", "_").replace("-", "_").lower()


def _items(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any, limit: int) -> str:
    """A string field: strings as they are, lists joined with "; ", other values as JSON; cut to limit."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list):
        text = "; ".join(item if isinstance(item, str) else _dumps(item) for item in value)
    else:
        text = _dumps(value)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _evidence(item: Any) -> dict[str, str]:
    if not isinstance(item, Mapping):
        return {"fact": "", "detail": _text(item, 1024)}
    fields = {_snake(k): v for k, v in item.items() if isinstance(k, str)}
    fact = next((fields[k] for k in ("fact", "source", "ref", "reference") if fields.get(k)), "")
    detail = next((fields[k] for k in ("detail", "details", "description", "text", "evidence") if fields.get(k)), "")
    return {"fact": _text(fact, 256), "detail": _text(detail, 1024)}


def _action(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        text = _text(item, 1024)
        command = text if text.startswith("kubectl ") else ""
        return {"kind": _command_kind(command), "command": command, "reason": "" if command else text}
    fields = {_snake(k): v for k, v in item.items() if isinstance(k, str)}
    command = _text(fields.get("command"), 1024)
    raw_kind = fields.get("kind") or fields.get("type") or fields.get("action")
    kind = _KINDS.get(re.sub(r"[\s_-]", "", str(raw_kind)).lower(), "Other") if raw_kind else _command_kind(command)
    return {
        "kind": kind,
        "namespace": _text(fields.get("namespace"), 253),
        "target": _text(fields.get("target"), 253),
        "replicas": _replicas(fields.get("replicas")),
        "command": command,
        "reason": _text(fields.get("reason") or fields.get("description"), 1024),
    }


def _command_kind(command: str) -> ActionKind:
    return next((kind for pattern, kind in _COMMAND_KINDS if pattern.search(command)), "Other")


def _replicas(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int | float) and value >= 0 and float(value).is_integer():
        return int(value)
    return None


def _confidence(value: Any) -> float:
    """0..1 from 0.8, "0.8", "80%", 80 (a percentage), or a word; 0 when unreadable."""
    if isinstance(value, bool) or value is None:
        return 0.0
    percent = False
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _CONFIDENCE_WORDS:
            return _CONFIDENCE_WORDS[text]
        percent = text.endswith("%")
        try:
            value = float(text.rstrip("%").strip())
        except ValueError:
            return 0.0
    if not isinstance(value, int | float) or math.isnan(value):
        return 0.0
    number = float(value)
    if percent or 1 < number <= 100:
        number /= 100
    return min(max(number, 0.0), 1.0)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
