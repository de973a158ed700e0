"""Read-only tools (pure): what an LLM may call during an analysis, how its calls are checked, and how
their output is bounded. The gateway runs a checked `ToolCall` against the cluster and the evaluator;
nothing here reads anything.

Tools (OpenAI function calling, `openai_tools()` gives the request's `tools` list):

    get_workloads(namespace)                       Deployments, StatefulSets, DaemonSets and their replicas
    get_pods(namespace, selector?)                 pods (phase, readiness, restarts, reasons); a label selector
    get_events(namespace, object?)                 recent Events, optionally about one `Kind/name`
    get_logs(namespace, pod, container?, lines?)   the last `lines` (1..100, default 50) lines of a container
    query_prometheus(query, range?)                a PromQL instant query, or a range query over `range`
                                                   (a Prometheus duration, at most 6h) ending now
    graph_neighbours(service)                      a service's (`namespace/name`) dependencies and dependants

`check_call(name, arguments_json, allowed_namespaces)` returns a `ToolCall` (arguments validated, with
defaults; `range` converted to seconds) or an error string to send back to the model as the tool's
output: an unknown tool, arguments that are not a JSON object, an unknown, missing or ill-typed
argument, a namespace outside the incident's, `lines` over 100, a range over 6h. A PromQL query is
allowed only when every matcher on a namespace label (any label whose name contains `namespace`:
`namespace`, `exported_namespace`, `k8s_namespace_name`) is `=` an allowed namespace or `=~` an
alternation of allowed namespaces (`"shop|data"`); `!=`/`!~` on such a label is refused. A query with
no namespace matcher is allowed (this is a simple guard, not a PromQL parser): the gateway then scopes
every selector to the incident's namespaces (`namespace_matcher` gives the `=`/`=~` matcher for
`render.tenancy.scope_selectors`) and drops series of other namespaces from the answer
(`scope_prometheus_result`).

`cap_output(value, max_bytes=4000, tail=False)` is every tool's output as the model sees it: redacted,
`metadata.managedFields` dropped, serialised as compact JSON (a string is kept as text) and, when over
`max_bytes` (UTF-8 bytes), summarised: lists cut with a `"… N more"` item (for `tail`, the last items
kept after a `"… N earlier"` item), long strings cut with `… (N more characters)`, and as a last resort
the text cut with `… (truncated)`. The result never exceeds max_bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .redact import redact

MAX_LOG_LINES: Final = 100
DEFAULT_LOG_LINES: Final = 50
MAX_RANGE: Final = 6 * 3600.0  # seconds
RANGE_POINTS: Final = 30  # samples per series of a range query (the gateway sets the step from it)
_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_NAMESPACE_RE = re.compile(rf"{_LABEL}")
_SUBDOMAIN_RE = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
_OBJECT_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9]{0,62}/)?[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
_SERVICE_RE = re.compile(rf"(?P<namespace>{_LABEL})/(?P<name>[A-Za-z0-9](?:[-A-Za-z0-9./]{{0,300}}[A-Za-z0-9])?)")
_SELECTOR_RE = re.compile(r"[A-Za-z0-9_.\-/=!,() ]{0,1024}")
_DURATION_RE = re.compile(r"(?:\d+(?:ms|s|m|h|d|w|y))+")
_DURATION_PART_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNITS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# A label matcher: name, operator, quoted value (PromQL strings: "…", '…' or `…`).
_MATCHER_RE = re.compile(
    r"(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=(?!=))\s*"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`)"
)


@dataclass(frozen=True)
class Param:
    """One argument of a tool (JSON schema `string` or `integer`)."""

    name: str
    type: Literal["string", "integer"]
    description: str
    required: bool = False
    pattern: re.Pattern[str] | None = None  # a string must match whole
    max_length: int = 253
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.type == "string":
            out["maxLength"] = self.max_length
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.default is not None:
            out["default"] = self.default
        return out


@dataclass(frozen=True)
class ToolSpec:
    """A read-only tool: its name, what it does, its arguments."""

    name: str
    description: str
    params: tuple[Param, ...]

    def openai(self) -> dict[str, Any]:
        """The OpenAI chat completions `tools[]` item."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {p.name: p.schema() for p in self.params},
                    "required": [p.name for p in self.params if p.required],
                    "additionalProperties": False,
                },
            },
        }


@dataclass(frozen=True)
class ToolCall:
    """A checked call: the tool's name and its arguments (validated, defaults filled; `range` in
    seconds); namespace: the namespace it reads ("" for a PromQL query)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    namespace: str = ""


_NS = Param("namespace", "string", "A namespace of the incident.", required=True, pattern=_NAMESPACE_RE, max_length=63)
TOOLS: Final[list[ToolSpec]] = [
    ToolSpec(
        "get_workloads",
        "List the Deployments, StatefulSets and DaemonSets of a namespace with their desired and ready replicas.",
        (_NS,),
    ),
    ToolSpec(
        "get_pods",
        "List the pods of a namespace: phase, readiness, restarts and why they are not healthy.",
        (
            _NS,
            Param(
                "selector",
                "string",
                "A label selector, e.g. app=database,tier!=cache.",
                pattern=_SELECTOR_RE,
                max_length=1024,
            ),
        ),
    ),
    ToolSpec(
        "get_events",
        "List recent Kubernetes Events of a namespace, Warnings first, optionally about one object.",
        (_NS, Param("object", "string", "Kind/name, e.g. Pod/database-0 or Deployment/api.", pattern=_OBJECT_RE)),
    ),
    ToolSpec(
        "get_logs",
        "Read the last lines of a pod's container log (its previous instance's when it is restarting).",
        (
            _NS,
            Param("pod", "string", "The pod name.", required=True, pattern=_SUBDOMAIN_RE),
            Param(
                "container",
                "string",
                "The container (the pod's only or first one when omitted).",
                pattern=_NAMESPACE_RE,
                max_length=63,
            ),
            Param(
                "lines",
                "integer",
                "How many lines, at most 100.",
                minimum=1,
                maximum=MAX_LOG_LINES,
                default=DEFAULT_LOG_LINES,
            ),
        ),
    ),
    ToolSpec(
        "query_prometheus",
        "Evaluate a PromQL query against the cluster's Prometheus or vmalert datasource: an instant query, or"
        " a range query over the last `range`. The query is scoped before it runs: every selector gets a"
        " matcher on the namespace label naming the incident's namespaces (replacing any namespace matcher"
        " given), so it reads those namespaces only, and series of other namespaces are dropped from the"
        " answer. A query that cannot be scoped (e.g. MetricsQL-only syntax) is refused with an error.",
        (
            Param("query", "string", "The PromQL expression.", required=True, max_length=4096),
            Param(
                "range",
                "string",
                "A Prometheus duration such as 30m or 1h (at most 6h) for a range query.",
                pattern=_DURATION_RE,
                max_length=32,
            ),
        ),
    ),
    ToolSpec(
        "graph_neighbours",
        "The services a service depends on and the services that depend on it, from AlertAgent's dependency graph.",
        (
            Param(
                "service",
                "string",
                "namespace/name of the service.",
                required=True,
                pattern=_SERVICE_RE,
                max_length=507,
            ),
        ),
    ),
]
_BY_NAME: Final = {tool.name: tool for tool in TOOLS}


def openai_tools() -> list[dict[str, Any]]:
    """The OpenAI chat completions `tools` list for TOOLS."""
    return [tool.openai() for tool in TOOLS]


def check_call(name: str, arguments_json: str, allowed_namespaces: Iterable[str]) -> ToolCall | str:
    """A model's tool call checked: the ToolCall to run, or an `error: …` string to send back as the
    tool's output (see the module docstring)."""
    allowed = frozenset(allowed_namespaces)
    tool = _BY_NAME.get(name)
    if tool is None:
        return f"error: unknown tool {name[:64]!r}; the tools are {', '.join(_BY_NAME)}"
    try:
        arguments = json.loads(arguments_json) if arguments_json.strip() else {}
    except json.JSONDecodeError as exc:
        return f"error: the arguments are not valid JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(arguments, dict):
        return "error: the arguments must be a JSON object"
    unknown = sorted(set(arguments) - {p.name for p in tool.params})
    if unknown:
        return f"error: unknown argument {unknown[0][:64]!r} for {name}"
    checked: dict[str, Any] = {}
    for param in tool.params:
        value = arguments.get(param.name)
        if value is None:
            if param.required:
                return f"error: {name} needs the argument {param.name!r}"
            if param.default is not None:
                checked[param.name] = param.default
            continue
        if (problem := _check_value(param, value)) is not None:
            return f"error: {param.name} {problem}"
        checked[param.name] = value
    return _check_scope(ToolCall(name, checked), allowed)


def _check_value(param: Param, value: Any) -> str | None:
    if param.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        if param.minimum is not None and value < param.minimum:
            return f"must be at least {param.minimum}"
        if param.maximum is not None and value > param.maximum:
            return f"must be at most {param.maximum}"
        return None
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > param.max_length:
        return f"must be at most {param.max_length} characters"
    if param.pattern is not None and param.pattern.fullmatch(value) is None:
        return f"is not a valid {param.name}: {value[:64]!r}"
    return None


def _check_scope(call: ToolCall, allowed: frozenset[str]) -> ToolCall | str:
    """call with its namespace set, or why it reads outside the incident's namespaces."""
    arguments = call.arguments
    if call.name == "query_prometheus":
        if (problem := promql_namespace_problem(arguments["query"], allowed)) is not None:
            return f"error: {problem}"
        if "range" in arguments:
            seconds = duration_seconds(arguments["range"])
            if not 0 < seconds <= MAX_RANGE:
                return f"error: range must be more than 0 and at most 6h, not {arguments['range']}"
            arguments = {**arguments, "range": seconds}
        return ToolCall(call.name, arguments)
    namespace = (
        _SERVICE_RE.fullmatch(arguments["service"])["namespace"]  # type: ignore[index]
        if call.name == "graph_neighbours"
        else arguments["namespace"]
    )
    if namespace not in allowed:
        return f"error: namespace {namespace!r} is not one of the incident's namespaces: {_listed(allowed)}"
    return ToolCall(call.name, arguments, namespace)


def promql_namespace_problem(query: str, allowed: Iterable[str]) -> str | None:
    """Why a PromQL query reads outside the allowed namespaces (see the module docstring), or None."""
    allowed = frozenset(allowed)
    for m in _MATCHER_RE.finditer(query):
        if "namespace" not in m["label"].lower():
            continue
        value = _unquote(m["value"])
        if value is None:
            return f"cannot read the matcher {m[0][:80]}"
        op = m["op"]
        if op in ("!=", "!~"):
            return f"negative namespace matchers select other namespaces: {m[0][:80]}"
        names = [value] if op == "=" else value.split("|")
        outside = [n for n in names if n and n not in allowed]
        if outside:
            return f"namespace {outside[0][:64]!r} is not one of the incident's namespaces: {_listed(allowed)}"
    return None


_RE2_SPECIAL: Final = frozenset("\\.+*?()|[]{}^$")


def namespace_matcher(namespaces: Iterable[str]) -> tuple[Literal["=", "=~"], str]:
    """The matcher (operator, value) that selects exactly these namespaces: `=` one, or `=~` an
    alternation of them, sorted, regex-escaped (PromQL anchors a regex matcher: `^(?:a|b)$`). Raises
    ValueError when there is none (a query could not be scoped)."""
    names = sorted(set(namespaces) - {""})
    if not names:
        raise ValueError("the incident has no namespace to scope the query to")
    if len(names) == 1:
        return "=", names[0]
    return "=~", "|".join("".join("\\" + c if c in _RE2_SPECIAL else c for c in n) for n in names)


def scope_prometheus_result(body: Any, label: str, allowed: Iterable[str]) -> tuple[Any, int]:
    """A Prometheus `/api/v1/query(_range)` response body with every series (`data.result[]` of a
    vector or matrix) whose `label` names a namespace outside `allowed` dropped, and how many were
    dropped. Series without the label (aggregates over scoped selectors) are kept; any other body is
    returned as is. Defence in depth: the query's selectors are already scoped."""
    allowed = frozenset(allowed)
    if not isinstance(body, Mapping) or not isinstance(data := body.get("data"), Mapping):
        return body, 0
    result = data.get("result")
    if not isinstance(result, list):
        return body, 0
    kept = [
        series
        for series in result
        if not isinstance(series, Mapping)
        or not isinstance(series.get("metric"), Mapping)
        or series["metric"].get(label) in (None, "")
        or series["metric"][label] in allowed
    ]
    return {**body, "data": {**data, "result": kept}}, len(result) - len(kept)


def _unquote(literal: str) -> str | None:
    if literal[0] == "`":
        return literal[1:-1]
    if literal[0] == "'":
        literal = '"' + literal[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
    try:
        value = json.loads(literal)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def duration_seconds(text: str) -> float:
    """A Prometheus duration (`1h30m`, `90s`, `500ms`) in seconds. Raises ValueError on another form."""
    if _DURATION_RE.fullmatch(text) is None:
        raise ValueError(f"not a duration: {text!r}")
    return float(sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART_RE.findall(text)))


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


# --- output -----------------------------------------------------------------------------------------
_STEPS: Final = ((50, 2000), (20, 500), (10, 200), (5, 100), (3, 60), (1, 40), (0, 16))
_CUT_MARK: Final = "… (truncated)"
_NOISE_KEYS: Final = frozenset({"managedFields"})


def cap_output(value: Any, max_bytes: int = 4000, *, tail: bool = False) -> str:
    """value as the model sees it, at most max_bytes UTF-8 bytes (see the module docstring); tail keeps
    the end of lists and strings (log lines) instead of their start."""
    value = redact(_drop_noise(value))
    text = value if isinstance(value, str) else _dumps(value)
    if _size(text) <= max_bytes:
        return text
    if not isinstance(value, str):
        for list_cap, str_cap in _STEPS:
            text = _dumps(_summarise(value, list_cap, str_cap, tail))
            if _size(text) <= max_bytes:
                return text
    return cut_bytes(text, max_bytes, tail=tail)


def cut_bytes(text: str, max_bytes: int, *, tail: bool = False) -> str:
    """text cut to at most max_bytes UTF-8 bytes, whole characters, marked `… (truncated)` when there
    is room; tail keeps its end (from a line start when one is in it)."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    mark = _CUT_MARK.encode()
    room = max_bytes - len(mark)
    if room <= 0:
        return data[: max(max_bytes, 0)].decode(errors="ignore")
    if not tail:
        return data[:room].decode(errors="ignore") + _CUT_MARK
    kept = data[len(data) - room :].decode(errors="ignore")
    newline = kept.find("\n")
    if 0 <= newline < len(kept) - 1:
        kept = kept[newline + 1 :]
    return _CUT_MARK + "\n" * (len(mark) + len(kept.encode()) < max_bytes) + kept


def _summarise(value: Any, list_cap: int, str_cap: int, tail: bool) -> Any:
    if isinstance(value, str):
        if len(value) <= str_cap:
            return value
        more = f"… ({len(value) - str_cap} more characters)"
        return more + value[-str_cap:] if tail else value[:str_cap] + more
    if isinstance(value, Mapping):
        keys = list(value)
        key_cap = max(list_cap * 4, 4)
        out = {k: _summarise(value[k], list_cap, str_cap, tail) for k in keys[:key_cap]}
        if len(keys) > key_cap:
            out["…"] = f"{len(keys) - key_cap} more keys"
        return out
    if isinstance(value, list | tuple):
        if len(value) <= list_cap:
            return [_summarise(item, list_cap, str_cap, tail) for item in value]
        rest = len(value) - list_cap
        if tail:
            kept = list(value[len(value) - list_cap :]) if list_cap else []
            return [f"… {rest} earlier", *(_summarise(item, list_cap, str_cap, tail) for item in kept)]
        return [*(_summarise(item, list_cap, str_cap, tail) for item in value[:list_cap]), f"… {rest} more"]
    return value


def _drop_noise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_noise(v) for k, v in value.items() if k not in _NOISE_KEYS}
    if isinstance(value, list | tuple):
        return [_drop_noise(item) for item in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _size(text: str) -> int:
    return len(text.encode())
