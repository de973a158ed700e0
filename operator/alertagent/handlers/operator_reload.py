"""Operator-driven reload mode (`reloadMode: Operator`): the evaluator mounts the rule ConfigMaps
itself; the operator reloads it and retries until its rules API shows the expected rules, then
reports on the shards exactly as a sidecar would."""

from __future__ import annotations

import asyncio
import logging

import httpx

from .. import kube
from ..delivery import ShardState, deliver
from ..settings import CONTENT_HASH_ANNOTATION, LOADED_HASH_ANNOTATION, rule_shard_labels

log = logging.getLogger(__name__)


def deliver_once(namespace: str, cluster: str, evaluator: str, url: str) -> bool:
    """Operator-driven mode, one attempt (blocking): reload the evaluator and verify it loaded the
    current shards (which it mounts itself). True when nothing is left to do."""
    existing = kube.list_config_maps(namespace, rule_shard_labels(cluster, evaluator))
    states = [
        ShardState(
            name,
            cm.get("data") or {},
            ((cm.get("metadata") or {}).get("annotations") or {}).get(CONTENT_HASH_ANNOTATION, ""),
            ((cm.get("metadata") or {}).get("annotations") or {}).get(LOADED_HASH_ANNOTATION),
        )
        for name, cm in existing.items()
    ]
    if all(s.loaded_hash == s.content_hash for s in states):
        return True
    with httpx.Client(timeout=10) as http:
        deliver(kube.core(), http, namespace, url, evaluator, states, verify_timeout=10)
    return True


async def _operator_delivery(namespace: str, cluster: str, evaluator: str, url: str) -> None:
    """Retry with backoff until the evaluator reports the expected rules: a mounted ConfigMap reaches
    the pod's files only when the kubelet syncs it (up to a minute or so)."""
    delay = 1.0
    while True:
        try:
            if await asyncio.to_thread(deliver_once, namespace, cluster, evaluator, url):
                return
        except Exception as err:
            log.info("operator-driven reload of %s/%s/%s not done yet: %s", namespace, cluster, evaluator, err)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30)


_DELIVERIES: dict[tuple[str, str], asyncio.Task[None]] = {}  # (cluster, evaluator) → running delivery


def start(key: str, namespace: str, cluster: str, evaluators: list[tuple[str, str]]) -> None:
    """(Re)start delivery to these Operator-mode evaluators of a cluster; an older one is superseded."""
    for evaluator, url in evaluators:
        running = _DELIVERIES.pop((key, evaluator), None)
        if running is not None:
            running.cancel()  # superseded by the newer shards
        _DELIVERIES[key, evaluator] = asyncio.create_task(_operator_delivery(namespace, cluster, evaluator, url))


def stop(key: str) -> None:
    """Cancel every delivery of a cluster (its reconciler stopped)."""
    for (cluster_key, evaluator), task in list(_DELIVERIES.items()):
        if cluster_key == key:
            task.cancel()
            del _DELIVERIES[cluster_key, evaluator]
