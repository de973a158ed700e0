"""The sidecar's watch against a real API server: a resourceVersion the server no longer has
(410 Gone) makes it relist, and it sees creates, updates and deletes.

This module runs its own control plane with the API server's watch cache off, so that a compacted
etcd revision is answered with 410 right away (with the cache on, 410 comes only once the cache
window has moved past it, which a test cannot wait for)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from alertagent.devstack.agents import eventually
from alertagent.devstack.controlplane import ControlPlane, start_control_plane
from alertagent_sidecar.watcher import ShardWatcher


@pytest.fixture(scope="module")
def uncached_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = start_control_plane(
        Path(tmp_path_factory.mktemp("uncached")),
        with_controller_manager=False,
        apiserver_args=("--watch-cache=false",),
    )
    try:
        yield plane
    finally:
        plane.stop()


def test_watch_relists_on_410_and_sees_every_change(uncached_plane: ControlPlane) -> None:
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(uncached_plane.kubeconfig)))
    namespace = "default"
    labels = {"alertagent.io/cluster": "w", "alertagent.io/evaluator": "p"}
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="w-0", labels=labels, annotations={"alertagent.io/content-hash": "h1"}),
            data={"a.yaml": "groups: []\n"},
        ),
    )
    stale_version = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="later", labels=labels))
    )
    core.delete_namespaced_config_map("w-0", namespace)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="w-0", labels=labels, annotations={"alertagent.io/content-hash": "h1"}),
            data={"a.yaml": "groups: []\n"},
        ),
    )
    uncached_plane.compact_etcd()

    changes = threading.Event()
    watcher = ShardWatcher(core, namespace, "alertagent.io/cluster=w,alertagent.io/evaluator=p", changes.set, 5)
    # The watch resumes from a compacted revision: 410 Gone, and only the relist finds both objects.
    thread = threading.Thread(target=watcher.run, args=(stale_version,), daemon=True)
    thread.start()
    try:
        eventually(lambda: set(watcher.snapshot()) == {"w-0", "later"}, 30, what="relisted after 410")
        assert watcher.listed.is_set() and changes.is_set() and not watcher.stale()

        changes.clear()
        core.patch_namespaced_config_map("w-0", namespace, {"metadata": {"annotations": {"x": "y"}}})
        update = {
            "data": {"a.yaml": "groups: [{name: g, rules: []}]\n"},
            "metadata": {"annotations": {"alertagent.io/content-hash": "h2"}},
        }
        core.patch_namespaced_config_map("w-0", namespace, update)
        eventually(lambda: watcher.snapshot()["w-0"].content_hash == "h2", 30, what="update seen")
        assert changes.is_set()

        core.delete_namespaced_config_map("w-0", namespace)
        eventually(lambda: set(watcher.snapshot()) == {"later"}, 30, what="delete seen")
    finally:
        watcher.stop()
        thread.join(timeout=15)


def test_bookmarks_move_the_watch_on_and_cause_no_relist(
    installed_crds: ControlPlane, namespace: str, api_client: client.ApiClient
) -> None:
    """The (cached) API server sends a BOOKMARK about 2 s before a watch times out, once the cache has
    moved on (here: another ConfigMap, not the sidecar's, changes twice a second); with 5 s watches the
    sidecar sees one per watch. A bookmark is progress, never an error: the first list stays the only
    one, and a change after the bookmarks is still seen."""
    core = client.CoreV1Api(api_client)
    labels = {"alertagent.io/cluster": "b", "alertagent.io/evaluator": "p"}
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b-0", labels=labels), data={"a": "1"})
    )
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other")))
    churning = threading.Event()

    def churn() -> None:
        count = 0
        while not churning.wait(0.5):
            count += 1
            core.patch_namespaced_config_map("other", namespace, {"data": {"n": str(count)}})

    changes = threading.Event()
    watcher = ShardWatcher(core, namespace, "alertagent.io/cluster=b,alertagent.io/evaluator=p", changes.set, 5)
    thread = threading.Thread(target=watcher.run, daemon=True)
    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    thread.start()
    try:
        eventually(lambda: watcher.bookmarks >= 3, 60, interval=1, what="three bookmarks")
        assert watcher.relists == 1, watcher.relists
        changes.clear()
        core.patch_namespaced_config_map("b-0", namespace, {"data": {"a": "2"}})
        eventually(lambda: watcher.snapshot()["b-0"].data == {"a": "2"}, 15, what="a change after the bookmarks")
        assert changes.is_set() and watcher.relists == 1 and not watcher.stale()
    finally:
        churning.set()
        churner.join(5)
        watcher.stop()
        thread.join(15)
