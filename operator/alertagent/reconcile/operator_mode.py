"""Operator-driven reload mode (`reloadMode: Operator`): the evaluator mounts the rule ConfigMaps
itself; the operator reloads it and retries until its rules API shows the expected rules, then
reports on the shards exactly as a sidecar would."""

from __future__ import annotations

import asyncio
import logging

from ..clients.delivery import ShardState, deliver
from ..clients.http import http_client
from ..common.labels import CONTENT_HASH_ANNOTATION, LOADED_HASH_ANNOTATION, rule_shard_labels
from .queue import Backoff
from .state import OperatorState

log = logging.getLogger(__name__)

# A mounted ConfigMap reaches the pod's files only when the kubelet syncs it (up to a minute or so).
DELIVERY_BACKOFF = Backoff(base_seconds=1.0, max_seconds=30.0, jitter=0.0)


def deliver_once(state: OperatorState, namespace: str, cluster: str, evaluator: str, url: str) -> None:
    """One attempt (blocking): reload the evaluator and verify it loaded the current shards. Raises
    ReloadError, httpx.HTTPError or TimeoutError (after reporting it on the shards) when it did not."""
    existing = state.kube.list_config_maps(namespace, rule_shard_labels(cluster, evaluator))
    states = []
    for name, cm in existing.items():
        annotations = (cm.get("metadata") or {}).get("annotations") or {}
        states.append(
            ShardState(
                name,
                cm.get("data") or {},
                annotations.get(CONTENT_HASH_ANNOTATION, ""),
                annotations.get(LOADED_HASH_ANNOTATION),
            )
        )
    if all(s.loaded_hash == s.content_hash for s in states):
        return
    with http_client(state.settings.target_timeout_seconds) as http:
        deliver(state.kube.core, http, namespace, url, evaluator, states, state.settings.verify_timeout_seconds)


async def _deliver_until_loaded(state: OperatorState, namespace: str, cluster: str, evaluator: str, url: str) -> None:
    attempt = 0
    while True:
        try:
            await asyncio.to_thread(deliver_once, state, namespace, cluster, evaluator, url)
            return
        except Exception as err:
            log.info("operator-driven reload of %s/%s/%s not done yet: %s", namespace, cluster, evaluator, err)
        attempt += 1
        await asyncio.sleep(DELIVERY_BACKOFF.delay(attempt))


def start(state: OperatorState, key: str, evaluators: tuple[tuple[str, str], ...]) -> None:
    """(Re)start delivery to these Operator-mode evaluators of cluster `key`; an older one is superseded."""
    namespace, cluster = key.split("/", 1)
    for evaluator, url in evaluators:
        running = state.deliveries.pop((key, evaluator), None)
        if running is not None:
            running.cancel()  # superseded by the newer shards
        state.deliveries[key, evaluator] = asyncio.create_task(
            _deliver_until_loaded(state, namespace, cluster, evaluator, url)
        )


def stop(state: OperatorState, key: str) -> None:
    """Cancel every delivery of a cluster (its reconciler stopped)."""
    for cluster_key, evaluator in [k for k in state.deliveries if k[0] == key]:
        state.deliveries.pop((cluster_key, evaluator)).cancel()
