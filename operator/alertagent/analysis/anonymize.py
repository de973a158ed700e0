"""Anonymisation (pure): namespace, service, workload and pod names are replaced by stable placeholders
before anything is sent to an LLM provider, and mapped back in its answer (as k8sgpt's `--anonymize`
does for object names).

An `Anonymizer` holds a two-way map name ↔ token. Tokens are `<kind>-<n>` (`namespace-1`, `service-2`,
`workload-1`, `pod-3`; and for names learned from tool outputs, `container-1`, `node-1`,
`instance-1`), numbered per kind in the order names are added; a name keeps the token of the
first kind it was added as (a Deployment named like its Service shares its token). A pod whose name
starts with a known service or workload name and `-` (`database-7d9f4-x2x9k`, `postgres-0`) is not
given a token of its own: its known prefix is replaced and the generated suffix kept
(`workload-1-7d9f4-x2x9k`), so pods of one workload stay recognisable.

Replacement is on whole names: a match may not touch a letter, digit or `_` on either side (`-`, `.`,
`/` and blanks separate: `database.shop.svc` → `service-1.namespace-1.svc`, `apiVersion` stays);
longer names are tried first, so `api-gateway` wins over `api`. Only string values are rewritten, never
mapping keys (field names, label keys). Names of the token form itself (a Service named `service-1`) are
skipped when numbering, so `restore` stays exact.

`for_incident` knows the incident's own names; `learn(value)` adds the names a tool output holds (other
services' pods, owners, containers, nodes, Prometheus series labels) before it is anonymised, so they
do not reach the provider either.

`restore(anonymize(x)) == x` for any JSON-like x whose strings hold no token not issued by this
anonymizer. Both are deterministic and never raise (`restore` of a pydantic model cuts a string made
longer than its field allows by the restored names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from alertagent.api.analysis import BuiltinReport
from alertagent.api.incident import IncidentStatus, ServiceRef

Kind = Literal["namespace", "service", "workload", "pod", "container", "node", "instance"]
KINDS: tuple[Kind, ...] = ("namespace", "service", "workload", "pod", "container", "node", "instance")
# learn(): mapping keys (summaries of analysis.summaries, Prometheus series labels) whose string value
# is a name of that kind. `service`, `calls` and `calledBy` may hold graph ids (`ns/name`, `ns/kind/name`).
_LEARN_KEYS: dict[str, Kind] = {
    "namespace": "namespace",
    "exported_namespace": "namespace",
    "service": "service",
    "exported_service": "service",
    "job": "service",
    "exported_job": "service",
    "calls": "service",
    "calledBy": "service",
    "deployment": "workload",
    "statefulset": "workload",
    "daemonset": "workload",
    "replicaset": "workload",
    "owner": "workload",
    "pod": "pod",
    "exported_pod": "pod",
    "container": "container",
    "exported_container": "container",
    "node": "node",
    "instance": "instance",
    "exported_instance": "instance",
}
_POD_KINDS = frozenset({"pod"})
_SERVICE_KINDS = frozenset({"service"})
_EDGE = "A-Za-z0-9_"
M = TypeVar("M", bound=BaseModel)


class Anonymizer:
    """A two-way map of names to tokens (see the module docstring)."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}  # name → token
        self._names: dict[str, str] = {}  # token → name
        self._prefixes: list[str] = []  # service and workload names, longest first: pods derive from them
        self._counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._reserved: set[str] = set()  # names that look like tokens: never issued
        self._patterns: tuple[re.Pattern[str] | None, re.Pattern[str] | None] | None = None

    @property
    def tokens(self) -> dict[str, str]:
        """name → token, a copy."""
        return dict(self._tokens)

    def add(self, kind: Kind, name: str) -> str:
        """Register name as a kind (namespace, service, workload, pod) and return its token: the one it
        already has, a pod's mapped prefix plus its suffix, or a new `<kind>-<n>`. An empty name is
        returned as is. Raises ValueError for an unknown kind."""
        if kind not in self._counts:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        if not name:
            return name
        if (token := self._tokens.get(name)) is not None:
            return token
        if kind == "pod" and (derived := self._derived(name)) is not None:
            return derived
        self._reserved.add(name)
        while True:
            self._counts[kind] += 1
            token = f"{kind}-{self._counts[kind]}"
            if token not in self._reserved and token not in self._tokens:
                break
        self._tokens[name], self._names[token] = token, name
        if kind in ("service", "workload"):
            self._prefixes = sorted([*self._prefixes, name], key=lambda n: (-len(n), n))
        self._patterns = None
        return token

    def _derived(self, pod: str) -> str | None:
        """A pod's name with its longest known service or workload prefix (a name and `-`) replaced."""
        for name in self._prefixes:
            if pod.startswith(name + "-") and len(pod) > len(name) + 1:
                return self._tokens[name] + pod[len(name) :]
        return None

    @classmethod
    def for_incident(cls, status: IncidentStatus, report: BuiltinReport | None = None) -> Anonymizer:
        """An anonymizer knowing every name of an incident: the namespaces and services of its root and
        impacted services, and the report's workloads, rollouts, pods and the objects of its Events.
        Names are added kind by kind (namespaces, services, workloads, pods), sorted, so the same
        incident always gives the same tokens."""
        names: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
        services: list[ServiceRef] = [status.root] if status.root else []
        services += status.impacted
        for service in services:
            names["namespace"].add(service.namespace)
            kind_name = service.name.split("/")
            names["service" if len(kind_name) == 1 else "workload"].add(kind_name[-1])
        if report is not None:
            for ref in [report.root, *report.impacted]:
                namespace, _, name = ref.rpartition("/")
                names["namespace"].add(namespace.split("/")[0])
                names["service"].add(name)
            for namespace, name in [(w.namespace, w.name) for w in report.workloads] + [
                (r.namespace, r.name) for r in report.rollouts
            ]:
                names["namespace"].add(namespace)
                names["workload"].add(name)
            names["pod"].update(pod.name for workload in report.workloads for pod in workload.pods)
            for event in report.events:
                kind, _, name = event.object.rpartition("/")
                names["pod" if kind.lower() == "pod" else "workload"].add(name)
        anonymizer = cls()
        anonymizer._reserved.update(name for group in names.values() for name in group)
        for kind in KINDS:
            for name in sorted(names[kind]):
                anonymizer.add(kind, name)
        return anonymizer

    def add_all(self, kind: Kind, names: Iterable[str]) -> None:
        """add each name, sorted."""
        for name in sorted(names):
            self.add(kind, name)

    def learn(self, value: Any) -> None:
        """Register every name found in a tool output (JSON-like), so `anonymize` replaces names
        outside the incident too: the values of the keys in `_LEARN_KEYS` (namespaces, services and
        Prometheus `job`s, workloads and owners, pods, containers, nodes, instances; `Kind/name` and
        graph ids `ns/name` split), `object` (`Kind/name`), each item's `name` under `pods`,
        `containers` and `workloads` (by its `kind`), and raw objects' `metadata` (namespace, name by
        the object's kind, owners). Prometheus series labels are read the same way (`{"metric":
        {"namespace": ..., "pod": ...}}`). Images are not learned: their path segments equal to a known
        name are replaced by `anonymize` like any other word. Names are added kind by kind, sorted, so
        the same output always gives the same tokens."""
        found: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
        _collect(value, found, None)
        for kind in KINDS:
            for name in sorted(found[kind]):
                self.add(kind, name)

    def anonymize(self, value: Any) -> Any:
        """value with every known name replaced by its token: strings, dicts (values only), lists and
        tuples (as lists); a pydantic model gives the same model type; anything else is returned as is."""
        return self._map(value, self._compiled()[0], self._tokens)

    def restore(self, value: Any) -> Any:
        """value with every token replaced by its name (the inverse of `anonymize`)."""
        return self._map(value, self._compiled()[1], self._names)

    def _compiled(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        if self._patterns is None:
            self._patterns = (_alternation(self._tokens), _alternation(self._names))
        return self._patterns

    def _map(self, value: Any, pattern: re.Pattern[str] | None, table: Mapping[str, str]) -> Any:
        if pattern is None:
            return value
        if isinstance(value, BaseModel):
            return _validate_fitting(type(value), self._map(value.model_dump(mode="json"), pattern, table))
        if isinstance(value, str):
            return pattern.sub(lambda m: table[m[0]], value)
        if isinstance(value, Mapping):
            return {key: self._map(item, pattern, table) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._map(item, pattern, table) for item in value]
        return value


_NAME_RE = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?")
_WHOLE_RE = re.compile(r"[^\s\"'`]{1,253}")  # a job or instance label value, learned whole
_WHOLE_KEYS = frozenset({"job", "exported_job", "instance", "exported_instance"})
_MAX_DEPTH = 32
_CHILDREN: dict[str, Kind] = {"pods": "pod", "containers": "container", "initContainers": "container"}


def _kind_of(kind: Any, default: Kind) -> Kind:
    """The anonymizer kind of an object's Kubernetes kind (`Pod` → pod, `Service` → service, any
    other kind → workload), default when there is none."""
    text = str(kind or "").lower()
    return "pod" if text == "pod" else "service" if text == "service" else "workload" if text else default


def _note(found: dict[Kind, set[str]], kind: Kind, key: str, text: Any) -> None:
    """Record the name in a value: a name, `Kind/name`, a graph id (`ns/name`, `ns/kind/name`) for a
    service, or a job/instance label value as a whole."""
    if not isinstance(text, str) or not text:
        return
    if key in _WHOLE_KEYS:
        if _WHOLE_RE.fullmatch(text):
            found[kind].add(text)
        return
    parts = text.split("/")
    if kind == "service" and len(parts) in (2, 3):  # a graph id
        if _NAME_RE.fullmatch(parts[0]):
            found["namespace"].add(parts[0])
        kind, name = ("service" if len(parts) == 2 else "workload"), parts[-1]
    elif kind in ("workload", "pod") and len(parts) == 2:  # Kind/name
        kind, name = _kind_of(parts[0], kind), parts[1]
    elif len(parts) == 1:
        name = text
    else:
        return
    if _NAME_RE.fullmatch(name):
        found[kind].add(name)


def _collect(value: Any, found: dict[Kind, set[str]], item_kind: Kind | None, depth: int = 0) -> None:
    """Walk value for names (see `Anonymizer.learn`); item_kind: what the `name` of value's items is."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, list | tuple):
        for item in value:
            _collect(item, found, item_kind, depth + 1)
        return
    if not isinstance(value, Mapping):
        return
    meta = value.get("metadata")
    if isinstance(meta, Mapping):  # a raw object
        _note(found, "namespace", "namespace", meta.get("namespace"))
        _note(found, _kind_of(value.get("kind"), item_kind or "workload"), "name", meta.get("name"))
        for owner in meta.get("ownerReferences") or []:
            if isinstance(owner, Mapping):
                _note(found, _kind_of(owner.get("kind"), "workload"), "name", owner.get("name"))
    if item_kind is not None and "name" in value:
        kind = _kind_of(value["kind"], item_kind) if "kind" in value else item_kind
        _note(found, kind, "name", value["name"])
    for key, item in value.items():
        if not isinstance(key, str):
            continue
        if key in _LEARN_KEYS:
            for text in item if isinstance(item, list) else [item]:
                _note(found, _LEARN_KEYS[key], key, text)
        elif key == "object":
            _note(found, "workload", key, item)
        elif key == "nodeName":
            _note(found, "node", key, item)
        if isinstance(item, Mapping | list | tuple):
            child = _CHILDREN.get(key) or ("workload" if key == "workloads" else None)
            _collect(item, found, child, depth + 1)


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of words whole, longest first; also a namespace in the kubelet's
    `<pod>_<namespace>(<uid>)` form (its Event messages), where `_` is otherwise part of a word."""
    ordered = sorted(words, key=lambda w: (-len(w), w))
    if not ordered:
        return None
    alts = "|".join(map(re.escape, ordered))
    return re.compile(rf"(?:(?<![{_EDGE}])|(?<=_)(?=(?:{alts})\())(?:{alts})(?![{_EDGE}])")


def _validate_fitting(model: type[M], data: Any) -> M:
    """model validated from data, cutting strings that exceed their field's max_length (a restored name
    can be longer than its token); any other validation error is raised."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = error.errors()
        if any(p["type"] != "string_too_long" for p in problems):
            raise
        for problem in problems:
            _cut(data, problem["loc"], int((problem.get("ctx") or {})["max_length"]))
        return model.model_validate(data)


def _cut(data: Any, loc: tuple[int | str, ...], length: int) -> None:
    *path, last = loc
    for step in path:
        data = data[step]
    data[last] = data[last][: max(length - 1, 0)] + "…" if length else ""
