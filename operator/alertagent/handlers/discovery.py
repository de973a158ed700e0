"""Discovery wiring. Kopf indexes over Services, Ingresses, ConfigMaps and the workload kinds keep each
object's facts. Kopf starts every other handler only once each index holds its initial listing; the
first of them (a Namespace event: there is always one) loads the whole index into the graph, so the
first published graph is complete. From then on an event handler applies each change incrementally,
and a debounced publisher writes the graph's ConfigMaps, sets the metrics, and pokes the cluster
reconcilers when the graph changed (dependency suppression is rendered from it)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import kopf

from .. import kube
from ..discovery.export import to_json
from ..discovery.graph import Facts, Graph, ServiceGraph, extract
from ..discovery.store import GRAPH_LABELS, graph_configmaps
from ..metrics import GRAPH_CYCLES, GRAPH_EDGES, GRAPH_NODES, GRAPH_UNRESOLVED
from ..settings import MANAGED_BY, SETTINGS
from .triggers import TRIGGERS, quiet

log = logging.getLogger(__name__)

# (group, version, plural, kind) of every object kind the graph is built from.
WATCHED = (
    ("", "v1", "services", "Service"),
    ("networking.k8s.io", "v1", "ingresses", "Ingress"),
    ("", "v1", "configmaps", "ConfigMap"),
    ("apps", "v1", "deployments", "Deployment"),
    ("apps", "v1", "statefulsets", "StatefulSet"),
    ("apps", "v1", "daemonsets", "DaemonSet"),
)
RETRY_SECONDS = 5.0


@dataclass
class DiscoveryState:
    graph: ServiceGraph = field(default_factory=ServiceGraph)
    published: Graph | None = None  # the last snapshot, what the HTTP API serves and rendering uses
    published_json: str | None = None
    loaded: bool = False  # the indexes' initial listings are in the graph
    changed: asyncio.Event | None = None  # set on the event loop when the graph changed
    # Held while the graph changes or a thread takes its snapshot: the loop stays free and the
    # snapshot consistent (appliers wait their turn instead of blocking other handlers).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def mark_changed(self) -> None:
        if self.changed is None:
            self.changed = asyncio.Event()
        self.changed.set()


STATE = DiscoveryState()


def _ours(body: kopf.Body) -> bool:
    labels = body.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_BY.items())


def _indexer(kind: str) -> Any:
    def index(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], Facts]:
        if _ours(body):
            return {}  # our own rule shards and graph ConfigMaps say nothing about services
        try:
            facts = extract({**body, "kind": kind})
        except Exception as err:  # one odd object must not stop the others
            log.warning("discovery: %s %s/%s skipped: %s", kind, namespace, name, err)
            return {}
        return {} if facts is None else {(namespace, name): facts}

    return index


def _index_id(plural: str) -> str:
    return f"discovery_{plural}"


async def load_indexes(**kwargs: Any) -> None:
    """Once, when every index is populated: put all their facts into the graph (in a thread, under the
    lock; the facts are collected on the loop, where Kopf changes the indexes)."""
    if STATE.loaded:
        return
    everything = [facts for *_, plural, _ in WATCHED for store in kwargs[_index_id(plural)].values() for facts in store]

    def put_all() -> None:
        for facts in everything:
            STATE.graph.put(facts)

    async with STATE.lock:
        await asyncio.to_thread(put_all)
    STATE.loaded = True
    STATE.mark_changed()
    log.info("service graph loaded from %d indexed objects", len(everything))


def _applier(kind: str, index_id: str) -> Any:
    async def apply(type: str | None, namespace: str, name: str, **kwargs: Any) -> None:
        stored = None if type == "DELETED" else kwargs[index_id].get((namespace, name))
        facts = next(iter(stored), None) if stored else None
        async with STATE.lock:
            changed = STATE.graph.remove(kind, namespace, name) if facts is None else STATE.graph.put(facts)
        if changed and STATE.loaded:
            STATE.mark_changed()

    return apply


def write_graph(namespace: str, text: str) -> int:
    """Write the graph's ConfigMaps whose content changed; delete surplus parts (blocking)."""
    existing = kube.list_config_maps(namespace, GRAPH_LABELS)
    writes = 0
    bodies = graph_configmaps(namespace, text)
    for body in bodies:
        name = body["metadata"]["name"]
        current = ((existing.get(name) or {}).get("metadata") or {}).get("annotations") or {}
        if all(current.get(k) == v for k, v in body["metadata"]["annotations"].items()):
            continue  # same hash and part number: this part is already there
        kube.put_config_map(namespace, body, exists=name in existing)
        writes += 1
    for surplus in sorted(existing.keys() - {b["metadata"]["name"] for b in bodies}):
        kube.delete_config_map(namespace, surplus)
        writes += 1
    return writes


async def publish() -> None:
    """Snapshot the graph, update the metrics and, when it changed, the ConfigMaps and the clusters."""
    async with STATE.lock:
        snapshot = await asyncio.to_thread(STATE.graph.snapshot)
    text = await asyncio.to_thread(to_json, snapshot)
    GRAPH_NODES.set(len(snapshot.nodes))
    GRAPH_EDGES.set(len(snapshot.edges))
    GRAPH_UNRESOLVED.set(len(snapshot.unresolved))
    GRAPH_CYCLES.set(len(snapshot.cycles))
    changed = text != STATE.published_json
    STATE.published, STATE.published_json = snapshot, text
    if changed:
        TRIGGERS.poke_all()  # dependency suppression renders from the new graph
    writes = await asyncio.to_thread(write_graph, SETTINGS.operator_namespace, text)
    if writes:
        counts = (len(snapshot.nodes), len(snapshot.edges), len(snapshot.unresolved), len(snapshot.cycles))
        log.info("service graph published: %d nodes, %d edges, %d unresolved, %d cycles (%d writes)", *counts, writes)


async def publisher() -> None:
    if STATE.changed is None:
        STATE.changed = asyncio.Event()
    while True:
        await STATE.changed.wait()
        await quiet(STATE.changed, SETTINGS.debounce_seconds, SETTINGS.debounce_max_seconds)
        try:
            await publish()
        except Exception as err:
            log.error("publishing the service graph failed, retrying in %.0fs: %s", RETRY_SECONDS, err)
            await asyncio.sleep(RETRY_SECONDS)
            STATE.mark_changed()


_TASKS: list[asyncio.Task[None]] = []


async def start_publisher(**_: Any) -> None:
    _TASKS.append(asyncio.create_task(publisher(), name="service-graph-publisher"))


async def stop_publisher(**_: Any) -> None:
    for task in _TASKS:
        task.cancel()
    _TASKS.clear()


def register() -> None:
    """Register the discovery handlers (only when discovery is on: it needs read access to workloads)."""
    for group, version, plural, kind in WATCHED:
        index_id = _index_id(plural)
        kopf.index(group, version, plural, id=index_id)(_indexer(kind))
        kopf.on.event(group, version, plural, id=f"discovery_{plural}_changed")(_applier(kind, index_id))
    kopf.on.event("", "v1", "namespaces", id="discovery_load")(load_indexes)
    kopf.on.startup(id="discovery_publisher")(start_publisher)
    kopf.on.cleanup(id="discovery_publisher_stop")(stop_publisher)
