"""Discovery wiring. Kopf indexes over Services, Ingresses, ConfigMaps, the workload kinds,
NetworkPolicies and Namespaces keep each object's facts. Kopf starts every other handler only once
each index holds its initial listing; the first of them (a Namespace event: there is always one)
loads the whole index into the graph, so the first published graph is complete. From then on an
event handler applies each change incrementally, and a debounced publisher writes the graph's
ConfigMaps, sets the metrics, and pokes the cluster reconcilers when the graph changed (dependency
suppression is rendered from it)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from ..common.labels import MANAGED_BY
from ..discovery.graph import Facts, extract
from ..reconcile.graph import publisher
from ..settings import Settings
from .memo import state_of

log = logging.getLogger(__name__)

# (group, version, plural, kind) of every object kind the graph is built from. ReplicaSets are read from
# manifests (`alertagent graph -f`) but not watched: every Deployment keeps up to ten old ones, each
# watch event costs the operator CPU, and one no Deployment owns is rare.
WATCHED = (
    ("", "v1", "services", "Service"),
    ("networking.k8s.io", "v1", "ingresses", "Ingress"),
    ("", "v1", "configmaps", "ConfigMap"),
    ("apps", "v1", "deployments", "Deployment"),
    ("apps", "v1", "statefulsets", "StatefulSet"),
    ("apps", "v1", "daemonsets", "DaemonSet"),
    ("batch", "v1", "jobs", "Job"),  # only those no CronJob owns count
    ("batch", "v1", "cronjobs", "CronJob"),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    ("", "v1", "namespaces", "Namespace"),  # labels, for NetworkPolicy namespace selectors
)


def _ours(body: kopf.Body) -> bool:
    labels = body.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_BY.items())


def _indexer(kind: str) -> Any:
    async def index(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], Facts]:
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


async def load_indexes(memo: kopf.Memo, **kwargs: Any) -> None:
    """Once, when every index is populated: put all their facts into the graph (in a thread, under the
    lock; the facts are collected on the loop, where Kopf changes the indexes)."""
    discovery = state_of(memo).discovery
    if discovery.loaded:
        return
    everything = [facts for *_, plural, _ in WATCHED for store in kwargs[_index_id(plural)].values() for facts in store]

    def put_all() -> None:
        for facts in everything:
            discovery.graph.put(facts)

    async with discovery.lock:
        if discovery.loaded:  # another Namespace event loaded it while this one waited
            return
        await asyncio.to_thread(put_all)
        discovery.loaded = True
    discovery.changed.set()
    log.info("service graph loaded from %d indexed objects", len(everything))


def _applier(kind: str, index_id: str) -> Any:
    async def apply(type: str | None, namespace: str, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
        discovery = state_of(memo).discovery
        stored = None if type == "DELETED" else kwargs[index_id].get((namespace, name))
        facts = next(iter(stored), None) if stored else None
        async with discovery.lock:
            changed = discovery.graph.remove(kind, namespace, name) if facts is None else discovery.graph.put(facts)
        if changed and discovery.loaded:
            discovery.changed.set()

    return apply


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """The discovery handlers (only when discovery is on: it needs read access to workloads)."""
    for group, version, plural, kind in WATCHED:
        index_id = _index_id(plural)
        kopf.index(group, version, plural, id=index_id, registry=registry)(_indexer(kind))
        kopf.on.event(group, version, plural, id=f"discovery_{plural}_changed", registry=registry)(
            _applier(kind, index_id)
        )
    kopf.on.event("", "v1", "namespaces", id="discovery_load", registry=registry)(load_indexes)

    @kopf.on.startup(registry=registry, id="start_publisher")
    async def start_publisher(memo: kopf.Memo, **_: Any) -> None:
        state = state_of(memo)
        state.background.append(asyncio.create_task(publisher(state), name="service-graph-publisher"))
