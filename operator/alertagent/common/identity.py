"""One identity for the objects AlertAgent handles, and the owner reference it puts on what it writes.

`ObjectRef` is the only spelling of "which object": `str(ref)` is `Kind namespace/name` (messages and
problem keys), `ref.key` is `namespace/name` (cluster keys, receiver names, markers). The namespace
default (`default`, as kubectl applies it) is decided here, in `namespace_of`, and nowhere else."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_NAMESPACE = "default"

# k8s.io/apimachinery pkg/util/validation/validation.go (v0.34): IsDNS1123Label (namespaces) and
# IsDNS1123Subdomain (the names of custom resources, Secrets, ConfigMaps).
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)
_DNS1123_SUBDOMAIN_RE = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_SUBDOMAIN_RULE = 'lowercase letters, digits, "-" and ".", beginning and ending with a letter or digit'


def metadata_issues(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`(field, message)` for each part of a namespaced object's name the API server refuses, as it
    validates a custom resource (`metadata.name` a DNS-1123 subdomain of at most 253 characters,
    `metadata.namespace` a DNS-1123 label of at most 63); [] when both are valid. For manifests that
    never went through an API server (`alertagent render`): two invalid names can otherwise map to one
    rule file (`team/a_x`, `team_a/x`)."""
    issues = []
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if name is not None and not isinstance(name, str):  # YAML read `name: 123` as a number
        issues.append(("metadata.name", f"expected a string, got {json.dumps(name)}: quote it"))
    elif not name:
        issues.append(("metadata.name", "required: the API server refuses an object without a name"))
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN_RE.fullmatch(name):
        issues.append(
            ("metadata.name", f"{json.dumps(name)} is not a Kubernetes name: at most 253 characters, {_SUBDOMAIN_RULE}")
        )
    if namespace is not None and not isinstance(namespace, str):
        issues.append(("metadata.namespace", f"expected a string, got {json.dumps(namespace)}: quote it"))
    elif namespace and (len(namespace) > 63 or not _DNS1123_LABEL_RE.fullmatch(namespace)):
        issues.append(
            (
                "metadata.namespace",
                f"{json.dumps(namespace)} is not a namespace name: at most 63 characters, lowercase letters, digits "
                'and "-", beginning and ending with a letter or digit',
            )
        )
    return issues


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
