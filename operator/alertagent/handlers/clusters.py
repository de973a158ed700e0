"""AlertmanagerCluster wiring: an index of clusters and of namespace labels, a health timer, and one
reconciler per cluster that takes due steps from the work queue (see `reconcile.queue` for the
contract) and runs them (`reconcile.cluster`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import kopf
from pydantic import ValidationError

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP, VERSION
from ..clients.probe import Probed
from ..common.identity import ObjectRef
from ..metrics import CLUSTER_HEALTH
from ..plans.alertmanager import IndexedObject
from ..reconcile import operator_mode
from ..reconcile.cluster import forget_cluster, periodic_steps, reconcile_cluster
from ..reconcile.queue import WorkQueue
from ..reconcile.state import OperatorState, StatusInputs
from ..reconcile.status import write_cluster_status
from ..reconcile.steps import ClusterInputs, check_rules_ahead, expire_deleted_cluster_silences
from ..settings import Settings
from ..status import ShardReport
from .memo import state_of, status_inputs, world_of

log = logging.getLogger(__name__)


def _entries(index: kopf.Index[Any, Any]) -> tuple[Any, ...]:
    return tuple(entry for entries in index.values() for entry in entries)


async def _next_steps(
    queue: WorkQueue, key: str, stopped: kopf.DaemonStopped, prepare: Callable[[frozenset[str]], Awaitable[None]]
) -> frozenset[str]:
    """The due steps, or nothing once the daemon is asked to stop (`prepare`: see `WorkQueue.get`)."""
    getting = asyncio.ensure_future(queue.get(key, prepare))
    stopping = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait([getting, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not getting.done():
            getting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await getting
    return getting.result() if getting.done() and not getting.cancelled() and not stopped else frozenset()


def _inputs_for(
    state: OperatorState,
    key: str,
    body: kopf.Body,
    channel_index: kopf.Index[ObjectRef, IndexedObject],
    policy_index: kopf.Index[ObjectRef, IndexedObject],
    namespace_labels: kopf.Index[str, dict[str, str]],
    alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
) -> Callable[[frozenset[str], int], ClusterInputs]:
    """What a run of these steps of cluster `key` works from, copied from the indexes when called
    (the AlertRules indexed after `rule_seq` was `since`)."""

    def inputs_for(steps: frozenset[str], since: int) -> ClusterInputs:
        return ClusterInputs(
            key=key,
            body=dict(body),
            rules=state.rule_entries(since) if "rules" in steps or not state.flushed else (),
            rules_seq=state.rule_seq,
            channels=_entries(channel_index),
            policies=_entries(policy_index),
            namespace_labels={ns: next(iter(v)) for ns, v in namespace_labels.items()},
            graph=state.discovery.published,
            world=world_of(alertmanagercluster_index, namespace_labels),
        )

    return inputs_for


def _rules_checked_ahead(
    state: OperatorState, key: str, inputs_for: Callable[[frozenset[str], int], ClusterInputs]
) -> Callable[[frozenset[str]], Awaitable[None]]:
    """The work queue's `prepare` for cluster `key`: while a burst holds a rules step back, check the
    files of the AlertRules indexed since the cluster last planned its rules (`steps.check_rules_ahead`)."""

    async def prepare(pending: frozenset[str]) -> None:
        if "rules" not in pending:
            return
        inputs = inputs_for(pending, state.cluster(key).rules_checked_seq)
        try:
            if inputs.rules:
                await asyncio.to_thread(check_rules_ahead, state, inputs)
        except Exception as err:  # only a head start: the rules step checks them anyway, and reports
            log.warning("%s: checking rule files ahead failed (the rules step checks them): %s", key, err)

    return prepare


def _parsed(body: kopf.Body) -> AlertmanagerCluster | None:
    try:
        return AlertmanagerCluster.model_validate(dict(body))
    except ValidationError:
        return None


def _mark_stalled(state: OperatorState, key: str, live: Callable[[], StatusInputs]) -> None:
    """Rules in shards of the cluster that have just waited too long for their sidecar get a status
    that says so. The indexes are copied only then (every probe would copy every rule)."""
    if stalled := state.note_pending(key):
        state.rule_statuses.mark({ref for ref, e in live().rules.items() if e.file_name in stalled}, live)


def _record_probe(state: OperatorState, key: str, probed: Probed, rules_resync_seconds: float) -> tuple[str, ...]:
    """Keep a probe's health in the cluster's record and metrics; the steps it makes due."""
    record, health = state.cluster(key), probed.targets
    steps = periodic_steps(record, health, time.monotonic(), rules_resync_seconds, probed.alertmanager_started)
    record.health = health
    for target in health:
        CLUSTER_HEALTH.labels(key, target.name).set(1 if target.reachable else 0)
    return steps


def _cluster_seen(state: OperatorState, key: str, event_type: str | None, body: kopf.Body) -> None:
    """A new spec (or a deletion) makes the cluster reconcile; its first listing after a start does
    not (its reconciler's first run renders it). The events of a deleted cluster make no record: its
    reconciler forgets it (`forget_cluster`), maybe before they come."""
    if event_type == "DELETED" or body.metadata.uid in state.deleted_clusters:
        state.queue.add(key)  # nothing once the reconciler has stopped (the queue forgot the key)
        return
    record = state.cluster(key)
    generation = body.metadata.get("generation", 0)
    first = record.generation is None
    if record.generation != generation:
        record.generation = generation
        if not (event_type is None and first):
            state.queue.add(key)


def _namespace_seen(state: OperatorState, name: str, event_type: str | None, labels: kopf.Labels) -> None:
    """Namespace labels feed namespace selectors: every cluster re-renders when they change (not for
    the first listing after a start: the clusters' first runs read them)."""
    current = {} if event_type == "DELETED" else dict(labels)
    first = name not in state.namespace_labels
    if state.namespace_labels.get(name) != current:
        state.namespace_labels[name] = current
        if not (event_type is None and first and not state.primed_once):
            state.queue.add_all()


# Kopf cancels a stopping daemon after its `cancellation_backoff` (5 s) and releases the finalizer: the
# deleted cluster's silences get what is left of it (the step at hand finishes first, so no silences
# step makes one again behind the expiry).
DELETE_EXPIRY_SECONDS = 4.0


async def _expire_silences(key: str, body: dict[str, Any]) -> None:
    """A deleted cluster's own silences are expired before its finalizer goes (best effort, bounded)."""
    try:
        await asyncio.to_thread(expire_deleted_cluster_silences, key, body, DELETE_EXPIRY_SECONDS)
    except asyncio.CancelledError:
        log.warning("%s: deleted before its silences were all expired; the rest end by themselves", key)
        raise


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.index(GROUP, VERSION, "alertmanagerclusters", registry=registry, id="alertmanagercluster_index")
    async def alertmanagercluster_index(
        namespace: str, name: str, body: kopf.Body, **_: Any
    ) -> dict[str, AlertmanagerCluster | None]:
        """The clusters that will reconcile (one being deleted will not: nothing waits for it), parsed
        (None: its spec is invalid), for status: which clusters include an object."""
        if body.metadata.get("deletionTimestamp"):
            return {}
        return {ObjectRef("AlertmanagerCluster", namespace, name).key: _parsed(body)}

    @kopf.index("", "v1", "namespaces", registry=registry, id="namespace_labels")
    async def namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
        return {name: dict(labels)}

    @kopf.on.event(GROUP, VERSION, "alertmanagerclusters", registry=registry, id="cluster_changed")
    async def cluster_changed(namespace: str, name: str, body: kopf.Body, type: str, memo: kopf.Memo, **_: Any) -> None:
        _cluster_seen(state_of(memo), ObjectRef("AlertmanagerCluster", namespace, name).key, type, body)

    @kopf.on.event("", "v1", "namespaces", registry=registry, id="namespace_changed")
    async def namespace_changed(
        type: str,
        name: str,
        labels: kopf.Labels,
        memo: kopf.Memo,
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        **_: Any,
    ) -> None:
        state = state_of(memo)
        state.indexes_complete = True  # Kopf runs no handler before every index has its listing
        _namespace_seen(state, name, type, labels)
        state.primed(list(alertmanagercluster_index))  # with no cluster at all, the operator is ready now

    @kopf.timer(
        GROUP,
        VERSION,
        "alertmanagerclusters",
        interval=settings.health_interval_seconds,
        registry=registry,
        id="probe_health",
    )
    async def probe_health(
        body: kopf.Body,
        namespace: str,
        name: str,
        memo: kopf.Memo,
        rule_shard_index: kopf.Index[str, ShardReport],
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        namespace_labels: kopf.Index[str, dict[str, str]],
        **_: Any,
    ) -> None:
        """Probe the targets, then check again (re-resolves Secrets, so a rotated credential reaches
        Alertmanager; windows open and close with time) without postponing pending work. Rules in
        shards that have waited too long for their sidecar get a status that says so."""
        state = state_of(memo)
        key = ObjectRef("AlertmanagerCluster", namespace, name).key
        probed = await state.probes.probe(AlertmanagerCluster.model_validate(dict(body)))
        if body.metadata.uid in state.deleted_clusters:
            return  # deleted while it was probed: its record and metrics are already forgotten
        steps = _record_probe(state, key, probed, settings.rules_resync_seconds)
        try:
            await asyncio.to_thread(write_cluster_status, state, key, dict(body))  # now, even while a retry waits
        except Exception as err:  # the status step writes it too; a failed write must not pause the probes
            log.warning("status of %s not written by its health probe: %s", key, err)
        if body.metadata.uid in state.deleted_clusters:
            return  # deleted while its status was written
        state.queue.add_periodic(key, steps)
        live = status_inputs(state, rule_shard_index, alertmanagercluster_index, namespace_labels)
        _mark_stalled(state, key, live)

    @kopf.daemon(
        GROUP,
        VERSION,
        "alertmanagerclusters",
        cancellation_backoff=5,  # asked to stop first: it finishes the step at hand and forgets the cluster
        cancellation_timeout=10,
        registry=registry,
        id="cluster_reconciler",
    )
    async def cluster_reconciler(
        *,
        body: kopf.Body,
        namespace: str,
        name: str,
        stopped: kopf.DaemonStopped,
        memo: kopf.Memo,
        channel_index: kopf.Index[ObjectRef, IndexedObject],
        policy_index: kopf.Index[ObjectRef, IndexedObject],
        namespace_labels: kopf.Index[str, dict[str, str]],
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        rule_shard_index: kopf.Index[str, ShardReport],
        **_: Any,
    ) -> None:
        state = state_of(memo)
        key = ObjectRef("AlertmanagerCluster", namespace, name).key
        live = status_inputs(state, rule_shard_index, alertmanagercluster_index, namespace_labels)
        inputs_for = _inputs_for(
            state, key, body, channel_index, policy_index, namespace_labels, alertmanagercluster_index
        )
        prepare = _rules_checked_ahead(state, key, inputs_for)
        state.queue.register(key)
        try:
            while not stopped:
                steps = await _next_steps(state.queue, key, stopped, prepare)
                if not steps:
                    break
                inputs = inputs_for(steps, 0)
                results = await reconcile_cluster(state, inputs, steps, live, list(alertmanagercluster_index))
                state.queue.done(key, results)
        finally:
            state.queue.forget(key)
            operator_mode.stop(state, key)
        if stopped.reason is not None and stopped.reason & kopf.DaemonStoppingReason.RESOURCE_DELETED:
            await _expire_silences(key, dict(body))
            await forget_cluster(state, key, body.metadata.uid, live)
