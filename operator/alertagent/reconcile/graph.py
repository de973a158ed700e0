"""Publishing the service graph: a debounced publisher snapshots the graph, sets the metrics, writes
the graph's ConfigMaps when they changed, and marks every cluster due when the graph changed
(dependency suppression renders from it)."""

from __future__ import annotations

import asyncio
import logging

from ..discovery.confidence import EdgeSelection
from ..discovery.export import to_json
from ..discovery.store import GRAPH_LABELS, graph_configmaps
from ..metrics import GRAPH_CYCLES, GRAPH_EDGES, GRAPH_NODES, GRAPH_UNRESOLVED
from ..plans.configmaps import plan_config_maps
from .queue import Backoff, quiet_period
from .state import OperatorState

log = logging.getLogger(__name__)


def write_graph(state: OperatorState, text: str) -> int:
    """Write the graph's ConfigMaps whose content changed, then delete surplus parts (blocking).
    Returns the API writes made."""
    namespace = state.settings.operator_namespace
    existing = state.kube.list_config_maps(namespace, GRAPH_LABELS)
    return state.kube.apply_config_maps(plan_config_maps(namespace, graph_configmaps(namespace, text), existing))


async def publish(state: OperatorState) -> None:
    """Snapshot the graph, update the metrics and, when it changed, the ConfigMaps and the clusters."""
    discovery = state.discovery
    selection = EdgeSelection(enforce_network_policies=state.settings.network_policies_enforced)
    async with discovery.lock:
        snapshot = await asyncio.to_thread(discovery.graph.snapshot, selection)
    text = await asyncio.to_thread(to_json, snapshot)
    GRAPH_NODES.set(len(snapshot.nodes))
    GRAPH_EDGES.set(len(snapshot.edges))
    GRAPH_UNRESOLVED.set(len(snapshot.unresolved))
    GRAPH_CYCLES.set(len(snapshot.cycles))
    changed = text != discovery.published_json
    discovery.published, discovery.published_json = snapshot, text
    if changed:
        state.queue.add_all(("alertmanager", "status"))  # dependency suppression renders from the graph
    writes = await asyncio.to_thread(write_graph, state, text)
    if writes:
        counts = (len(snapshot.nodes), len(snapshot.edges), len(snapshot.unresolved), len(snapshot.cycles))
        log.info("service graph published: %d nodes, %d edges, %d unresolved, %d cycles (%d writes)", *counts, writes)


async def publisher(state: OperatorState) -> None:
    """Publish after each burst of changes (debounced like the clusters); a failed publish is retried
    with the reconcile backoff."""
    changed, settings = state.discovery.changed, state.settings
    backoff = Backoff(settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_jitter)
    attempt = 0
    while True:
        await changed.wait()
        await quiet_period(changed, settings.debounce_seconds, settings.debounce_max_seconds)
        try:
            await publish(state)
            attempt = 0
        except Exception as err:
            attempt += 1
            delay = backoff.delay(attempt)
            log.error("publishing the service graph failed, retrying in %.1fs: %s", delay, err)
            await asyncio.sleep(delay)
            changed.set()
