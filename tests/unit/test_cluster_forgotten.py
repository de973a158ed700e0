"""A deleted AlertmanagerCluster is forgotten for good: Kopf lets a health probe that is running when
the cluster is deleted finish after the cluster's reconciler has forgotten it (`forget_cluster`), and
that probe must not bring back the cluster's record or its `alertagent_cluster_health_status` series
(found by `tests/integration/test_relist.py`, where the deletion comes from a relist). A cluster
created again under the same name has another uid and is probed as usual."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import kopf
import pytest

from alertagent.api.alertmanagercluster import TargetHealth
from alertagent.clients.probe import Probed
from alertagent.handlers import build_registry, clusters
from alertagent.handlers.clusters import _cluster_seen
from alertagent.metrics import CLUSTER_HEALTH
from alertagent.reconcile.cluster import forget_cluster
from alertagent.reconcile.queue import Backoff, WorkQueue
from alertagent.reconcile.state import DELETED_CLUSTERS_KEPT, OperatorState, StatusInputs
from alertagent.reconcile.status import write_cluster_status
from alertagent.settings import Settings

NAMESPACE, NAME = "forgotten", "main"
KEY = f"{NAMESPACE}/{NAME}"


class HeldProbes:
    """Probes that answer only when the test lets them (a probe in flight)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.answer = asyncio.Event()

    async def probe(self, _cluster: Any) -> Probed:
        self.started.set()
        await self.answer.wait()
        return Probed(targets=[TargetHealth(name="alertmanager", type="alertmanager", reachable=True)])


def _body(uid: str) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"namespace": NAMESPACE, "name": NAME, "uid": uid},
            "spec": {"alertmanager": {"url": "http://127.0.0.1:9"}},
        }
    )


def _series() -> list[dict[str, str]]:
    return [s.labels for m in CLUSTER_HEALTH.collect() for s in m.samples if s.labels["cluster"] == KEY]


async def _probe(state: OperatorState, uid: str, forget_meanwhile: bool) -> None:
    """One health probe of the cluster; with `forget_meanwhile`, the cluster is forgotten while the
    probe waits for its targets."""
    probes = state.probes = HeldProbes()  # type: ignore[assignment]
    running = _run_timer(state, uid)
    await probes.started.wait()
    if forget_meanwhile:
        await forget_cluster(state, KEY, uid, lambda: StatusInputs(rules={}, reports={}))
    probes.answer.set()
    await running


def _run_timer(state: OperatorState, uid: str) -> asyncio.Task[Any]:
    (timer,) = [h for h in build_registry(Settings())._spawning.get_all_handlers() if str(h.id) == "probe_health"]
    return asyncio.create_task(
        timer.fn(  # type: ignore[call-arg]
            body=_body(uid),
            namespace=NAMESPACE,
            name=NAME,
            memo=kopf.Memo(state=state),
            rule_shard_index={},
            alertmanagercluster_index={},
            namespace_labels={},
        )
    )


def _state() -> OperatorState:
    return OperatorState(settings=Settings(), kube=None, queue=WorkQueue(1.0, 30.0, Backoff()), api=None)  # type: ignore[arg-type]


def test_a_probe_in_flight_when_its_cluster_is_forgotten_brings_back_neither_record_nor_metric() -> None:
    state = _state()
    asyncio.run(_probe(state, "uid-1", forget_meanwhile=False))
    assert KEY in state.clusters and _series() == [{"cluster": KEY, "target": "alertmanager"}]

    asyncio.run(_probe(state, "uid-1", forget_meanwhile=True))
    assert KEY not in state.clusters
    assert _series() == []
    # Its last events (the finalizer's removal, the deletion) may come after it was forgotten.
    _cluster_seen(state, KEY, "MODIFIED", _body("uid-1"))
    _cluster_seen(state, KEY, "DELETED", _body("uid-1"))
    assert KEY not in state.clusters

    # Created again under the same name: a new uid, probed and counted as any cluster.
    asyncio.run(_probe(state, "uid-2", forget_meanwhile=False))
    assert state.clusters[KEY].health is not None
    assert _series() == [{"cluster": KEY, "target": "alertmanager"}]
    asyncio.run(forget_cluster(state, KEY, "uid-2", lambda: StatusInputs(rules={}, reports={})))
    assert _series() == []


def test_the_deleted_clusters_remembered_are_bounded() -> None:
    state = _state()
    for n in range(DELETED_CLUSTERS_KEPT + 5):
        state.forget_cluster(f"{NAMESPACE}/c{n}", f"uid-{n}")
    assert len(state.deleted_clusters) == DELETED_CLUSTERS_KEPT
    assert "uid-0" not in state.deleted_clusters and f"uid-{DELETED_CLUSTERS_KEPT + 4}" in state.deleted_clusters


def test_a_probe_writing_the_status_when_its_cluster_is_forgotten_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The probe's second wait: the status write (in a thread). The cluster is forgotten meanwhile:
    the write finds no record (none is made for it), and the probe queues nothing and marks nothing."""
    state = _state()
    asyncio.run(_probe(state, "uid-1", forget_meanwhile=False))
    state.cluster(KEY).reconciled = True  # its status can be written
    writing, written = threading.Event(), threading.Event()
    wrote: list[bool] = []

    def write_status(state: OperatorState, key: str, body: dict[str, Any]) -> bool:
        writing.set()
        written.wait(5)
        wrote.append(write_cluster_status(state, key, body))
        return wrote[-1]

    monkeypatch.setattr(clusters, "write_cluster_status", write_status)

    async def run() -> None:
        probes = state.probes = HeldProbes()  # type: ignore[assignment]
        probes.answer.set()
        running = _run_timer(state, "uid-1")
        await asyncio.to_thread(writing.wait, 5)
        await forget_cluster(state, KEY, "uid-1", lambda: StatusInputs(rules={}, reports={}))
        written.set()
        await running

    asyncio.run(run())
    assert wrote == [False]
    assert KEY not in state.clusters and KEY not in state.pending_since and KEY not in state.stalled
    assert _series() == []
