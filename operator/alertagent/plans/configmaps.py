"""A set of ConfigMaps made to match the desired ones (pure): used for rule shards and the graph parts.

A ConfigMap is rewritten only when one of the desired annotations (the content hash, a part number)
differs from what is there; keys it no longer holds are removed; surplus ConfigMaps are deleted after
every write, so a reader never finds a part missing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConfigMapWrite:
    """One ConfigMap to create (`exists` False) or patch: the whole body; `data` values of None remove
    keys (strategic merge patch)."""

    body: dict[str, Any]
    exists: bool


@dataclass(frozen=True)
class ConfigMapPlan:
    """Write these (in order), then delete these (by name), in one namespace."""

    namespace: str
    writes: tuple[ConfigMapWrite, ...] = ()
    deletes: tuple[str, ...] = ()

    @property
    def changes(self) -> int:
        """API writes the plan makes."""
        return len(self.writes) + len(self.deletes)


def _annotations(body: Mapping[str, Any] | None) -> Mapping[str, str]:
    return ((body or {}).get("metadata") or {}).get("annotations") or {}


def plan_config_maps(
    namespace: str, desired: Sequence[dict[str, Any]], existing: Mapping[str, Mapping[str, Any]]
) -> ConfigMapPlan:
    """Compare desired ConfigMap bodies with the existing ones (by name, as listed by their labels).
    A desired ConfigMap whose annotations are all already there with the same values is skipped."""
    writes = []
    for body in desired:
        name = body["metadata"]["name"]
        current = existing.get(name)
        wanted = body["metadata"].get("annotations") or {}
        if current is not None and all(_annotations(current).get(k) == v for k, v in wanted.items()):
            continue
        data: dict[str, str | None] = dict(body.get("data") or {})
        for stale in sorted(set((current or {}).get("data") or {}) - data.keys()):
            data[stale] = None  # strategic merge patch: null removes the key
        writes.append(ConfigMapWrite({**body, "data": data}, exists=current is not None))
    surplus = sorted(existing.keys() - {b["metadata"]["name"] for b in desired})
    return ConfigMapPlan(namespace, tuple(writes), tuple(surplus))
