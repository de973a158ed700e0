"""Reading Kubernetes manifests from files and folders, as `kubectl apply -f` does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .common.identity import DEFAULT_NAMESPACE

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    pass


class ManifestLoader(yaml.SafeLoader):
    """PyYAML's safe loader without YAML 1.1's `=` value tag, which Kubernetes' YAML reader (go-yaml)
    does not have: a bare `=` (as `kubectl get -o yaml` prints `matchType: =`) is the string "="."""


ManifestLoader.yaml_implicit_resolvers = {  # set after the class: PyYAML declares it per instance
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise ManifestError(f"{path}: no such file or directory")


def _unwrap(doc: Any, source: str) -> Iterator[dict[str, Any]]:
    if doc is None:
        return
    if not isinstance(doc, dict) or "kind" not in doc:
        raise ManifestError(f"{source}: not a Kubernetes object (no kind)")
    if doc["kind"] == "List" or (doc["kind"].endswith("List") and "items" in doc):
        for item in doc.get("items") or []:
            yield from _unwrap(item, source)
        return
    metadata = doc.setdefault("metadata", {}) or {}
    doc["metadata"] = metadata
    metadata.setdefault("namespace", DEFAULT_NAMESPACE)
    yield doc


def load_manifests(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every object in the files and folders (recursively), multi-document YAML and `List`s unwrapped,
    with `metadata.namespace` defaulted to `default`."""
    objects: list[dict[str, Any]] = []
    for path in _files(paths):
        try:
            docs = list(yaml.load_all(path.read_text(), Loader=ManifestLoader))
        except yaml.YAMLError as err:
            raise ManifestError(f"{path}: invalid YAML: {err}") from err
        for doc in docs:
            objects.extend(_unwrap(doc, str(path)))
    return objects
