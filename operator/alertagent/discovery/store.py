"""The published graph as ConfigMaps (pure): `alertagent-service-graph` holds `graph.json`; a graph
over the size limit is cut into parts, `alertagent-service-graph` (part 0), `-1`, `-2`, ... Every part
carries the hash of the whole text and the part count, so a reader can tell a complete set from one
caught mid-update (writers write parts 1..n first and part 0 last)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..common.hashing import content_hash
from ..common.labels import COMPONENT_LABEL, CONTENT_HASH_ANNOTATION, LABEL_PREFIX, MANAGED_BY

GRAPH_CONFIGMAP = "alertagent-service-graph"
GRAPH_KEY = "graph.json"
GRAPH_COMPONENT = "service-graph"
GRAPH_LABELS = {**MANAGED_BY, COMPONENT_LABEL: GRAPH_COMPONENT}
PART_ANNOTATION = f"{LABEL_PREFIX}/part"  # "<index>/<count>"
PART_LIMIT = 900_000  # bytes of JSON per ConfigMap: below the API server's 1 MiB object limit


class IncompleteGraphError(ValueError):
    pass


def text_hash(text: str) -> str:
    return content_hash({GRAPH_KEY: text})[:16]


def part_name(index: int) -> str:
    return GRAPH_CONFIGMAP if index == 0 else f"{GRAPH_CONFIGMAP}-{index}"


def graph_configmaps(namespace: str, text: str, limit: int = PART_LIMIT) -> list[dict[str, Any]]:
    """The ConfigMaps to write, part 0 last. JSON is ASCII (escaped), so characters are bytes."""
    parts = [text[i : i + limit] for i in range(0, len(text), limit)] or [""]
    digest = text_hash(text)
    bodies = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": part_name(index),
                "namespace": namespace,
                "labels": dict(GRAPH_LABELS),
                "annotations": {CONTENT_HASH_ANNOTATION: digest, PART_ANNOTATION: f"{index}/{len(parts)}"},
            },
            "data": {GRAPH_KEY: part},
        }
        for index, part in enumerate(parts)
    ]
    return bodies[1:] + bodies[:1]


def assemble(configmaps: Iterable[Mapping[str, Any]]) -> str:
    """The graph text back from its ConfigMaps; IncompleteGraphError when parts are missing or from
    different versions (read again)."""
    by_name = {cm["metadata"]["name"]: cm for cm in configmaps}
    first = by_name.get(GRAPH_CONFIGMAP)
    if first is None:
        raise IncompleteGraphError(f"ConfigMap {GRAPH_CONFIGMAP} not found: is the operator running with discovery?")
    annotations = first["metadata"].get("annotations") or {}
    digest, count = annotations.get(CONTENT_HASH_ANNOTATION), int(annotations.get(PART_ANNOTATION, "0/1").split("/")[1])
    text = ""
    for index in range(count):
        part = by_name.get(part_name(index))
        if part is None or (part["metadata"].get("annotations") or {}).get(CONTENT_HASH_ANNOTATION) != digest:
            raise IncompleteGraphError(f"part {index} of {count} is missing or from another version")
        text += (part.get("data") or {}).get(GRAPH_KEY, "")
    if text_hash(text) != digest:
        raise IncompleteGraphError("the parts do not add up to the published hash")
    return text
