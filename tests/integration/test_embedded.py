"""The operator runs embedded in a process, twice, with two different configurations: each has its own
registry (handlers for its settings only) and its own state, and neither sees the other's work."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from alertagent.clients.connection import of_client_configuration
from alertagent.clients.kube import Kube
from alertagent.devstack.agents import eventually
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.processes import free_port
from alertagent.operator import operate
from alertagent.settings import Settings

GROUP, VERSION = "alertagent.io", "v1alpha1"


def manifests(namespace: str, rule: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": namespace},
            "spec": {
                "alertmanager": {"url": "http://127.0.0.1:9"},  # nothing listens: rules are written all the same
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": "http://127.0.0.1:9"}],
            },
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AlertRule",
            "metadata": {"name": rule, "namespace": namespace},
            "spec": {"groups": [{"name": rule, "rules": [{"alert": "Up", "expr": "vector(1)"}]}]},
        },
    ]


@pytest.fixture
def second_namespace(namespace: str, api_client: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = f"{namespace[:50]}-b"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


def test_two_operators_with_different_settings_run_in_one_process(
    installed_crds: ControlPlane,
    namespace: str,
    second_namespace: str,
    api_client: client.ApiClient,
) -> None:
    def settings(own: str, discovery: bool, debounce: float) -> Settings:
        return Settings(
            namespaces=(own,),
            operator_namespace=own,
            discovery=discovery,
            debounce_seconds=debounce,
            http_port=free_port(),
            metrics_port=free_port(),
        )

    lean, full = settings(namespace, False, 0.1), settings(second_namespace, True, 0.5)
    # An embedding hands over its own kubernetes client: both operators use its connection.
    embedded = Kube(of_client_configuration(api_client.configuration))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failures: list[BaseException] = []

    def run() -> None:
        async def both() -> None:
            await asyncio.gather(operate(lean, stop, embedded), operate(full, stop, embedded))

        try:
            loop.run_until_complete(both())
        except BaseException as err:
            failures.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        for ns, rule in ((namespace, "lean-rules"), (second_namespace, "full-rules")):
            installed_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests(ns, rule)))
        core = client.CoreV1Api(api_client)

        def rule_files(ns: str) -> set[str]:
            items = core.list_namespaced_config_map(ns, label_selector="alertagent.io/component=rules").items
            return {key for cm in items for key in (cm.data or {})}

        eventually(lambda: rule_files(namespace) == {f"{namespace}_lean-rules.yaml"}, 60, what="lean operator's rules")
        eventually(
            lambda: rule_files(second_namespace) == {f"{second_namespace}_full-rules.yaml"},
            60,
            what="full operator's rules",
        )

        def graphs(ns: str) -> int:
            selector = "alertagent.io/component=service-graph"
            return len(core.list_namespaced_config_map(ns, label_selector=selector).items)

        eventually(lambda: graphs(second_namespace) == 1, 30, what="the service graph of the operator with discovery")
        assert graphs(namespace) == 0  # discovery is off in the other one
        assert failures == []
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
    assert not thread.is_alive()
    assert failures == []
