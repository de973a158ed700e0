"""One identity for the objects AlertAgent handles, and the owner reference it puts on what it writes.

`ObjectRef` is the only spelling of "which object": `str(ref)` is `Kind namespace/name` (messages and
problem keys), `ref.key` is `namespace/name` (cluster keys, receiver names, markers). The namespace
default (`default`, as kubectl applies it) is decided here, in `namespace_of`, and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_NAMESPACE = "default"


def namespace_of(metadata: Mapping[str, Any] | Any) -> str:
    """The namespace of an object's metadata (a dict or a model with `.namespace`), `default` when unset."""
    value = metadata.get("namespace") if isinstance(metadata, Mapping) else getattr(metadata, "namespace", None)
    return value or DEFAULT_NAMESPACE


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A namespaced object: kind (e.g. `NotificationChannel`), namespace, name. Ordered by those."""

    kind: str
    namespace: str
    name: str

    @property
    def key(self) -> str:
        """`namespace/name`."""
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @classmethod
    def of(cls, obj: Any, kind: str | None = None) -> ObjectRef:
        """The ref of a pydantic resource (with `.kind` and `.metadata`) or a plain body dict."""
        if isinstance(obj, Mapping):
            meta = obj.get("metadata") or {}
            return cls(kind or obj.get("kind", ""), namespace_of(meta), meta.get("name", ""))
        return cls(kind or obj.kind, namespace_of(obj.metadata), obj.metadata.name or "")

    @classmethod
    def parse_key(cls, kind: str, key: str) -> ObjectRef:
        """From `namespace/name` (a bare `name` is in the default namespace)."""
        namespace, _, name = key.rpartition("/")
        return cls(kind, namespace or DEFAULT_NAMESPACE, name)


def owner_reference(api_version: str, kind: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to the object with this metadata (name and uid), so the garbage
    collector deletes what AlertAgent wrote for it when it goes."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
