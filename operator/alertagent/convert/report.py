"""What a conversion could not carry over, one line per source field (pure).

A line reads `<kind> <namespace>/<name>: <field path>: <reason>`, the field path in the source
object's own terms (prometheus-operator's JSON names), for example
`PrometheusRule monitoring/node: spec.groups[0].partial_response_strategy: ...`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

NO_DEFAULT = object()


@dataclass(frozen=True, order=True)
class Unmapped:
    """One source field that has no place in the converted objects, and why."""

    kind: str
    namespace: str
    name: str
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}: {self.path}: {self.reason}"


Sink = Callable[[str, str], None]


@dataclass(frozen=True)
class Unsupported:
    """A prometheus-operator field AlertAgent has no equivalent of. A value equal to `default` (the
    value Alertmanager assumes when the field is unset) loses nothing and is not reported."""

    reason: str
    default: Any = NO_DEFAULT


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


class Fields:
    """The keys of one source mapping: each is taken (mapped) with `get`, or reported by `finish`.

    `unsupported` names the fields of the upstream type that have no equivalent (with the reason);
    any other key left over is not a field of the upstream type at all. Empty values (null, "", [],
    {}) carry nothing and are never reported."""

    def __init__(
        self,
        data: Any,
        path: str,
        report: Sink,
        unsupported: Mapping[str, Unsupported] | None = None,
        upstream: str = "",
    ) -> None:
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        self.path, self.report = path, report
        self.unsupported = unsupported or {}
        self.upstream = upstream
        self.taken: set[str] = set()

    def at(self, key: str | int) -> str:
        """The path of a key (or list index) below this mapping."""
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, default: Any = None) -> Any:
        self.taken.add(key)
        value = self.data.get(key, default)
        return default if value is None else value

    def skip(self, *keys: str) -> None:
        """Keys that are read elsewhere or carry nothing to convert (status, metadata)."""
        self.taken.update(keys)

    def finish(self) -> None:
        """Report every key not taken, in source order."""
        for key, value in self.data.items():
            if key in self.taken or _empty(value):
                continue
            spec = self.unsupported.get(key)
            if spec is None:
                where = f" {self.upstream}" if self.upstream else ""
                self.report(self.at(key), f"unknown field: not a field of prometheus-operator's{where}")
            elif spec.default is NO_DEFAULT or value != spec.default:
                self.report(self.at(key), spec.reason)


def k8s_name(text: str, max_length: int = 253) -> str:
    """`text` as a Kubernetes object name (RFC 1123 subdomain): lower case, other characters as `-`."""
    name = re.sub(r"[^a-z0-9.-]+", "-", text.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-.")[:max_length].strip("-.")
    return name or "x"


def dns_label(text: str, max_length: int = 63) -> str:
    """`text` as an RFC 1123 label (no dots), for window names."""
    return k8s_name(text.replace(".", "-"), max_length)
