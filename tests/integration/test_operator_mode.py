"""Operator-driven mode: no sidecar; the evaluator mounts the rule ConfigMaps itself and the operator
reloads it and retries until the rules API shows the expected rules.

There is no kubelet in the test bed, so a thread stands in for its ConfigMap volume projection:
every second it copies the ConfigMaps' data into Prometheus' rules directory, as the kubelet does on
its sync period. Everything else is real: API server, operator, Prometheus."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import RuleTarget
from tests.integration.test_rules_pipeline import alert_rule, rules_in


def _project_config_maps(core: client.CoreV1Api, namespace: str, rules_dir: Path, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        items = core.list_namespaced_config_map(namespace, label_selector="alertagent.io/evaluator=prometheus").items
        files = {k: v for cm in items for k, v in (cm.data or {}).items()}
        for name, text in files.items():
            (rules_dir / name).write_text(text)
        for stale in rules_dir.glob("*.yaml"):
            if stale.name not in files:
                stale.unlink()


@pytest.fixture
def projected(api_client: client.ApiClient, namespace: str, prometheus: RuleTarget) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(
        target=_project_config_maps, args=(client.CoreV1Api(api_client), namespace, prometheus.rules_dir, stop)
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_operator_reloads_and_verifies_a_target_that_mounts_the_config_maps(
    installed_crds: ControlPlane, namespace: str, prometheus: RuleTarget, projected: None, tmp_path: Path
) -> None:
    cluster = {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {
            "alertmanager": {"url": "http://127.0.0.1:9"},
            "ruleEvaluators": [
                {"name": "prometheus", "type": "prometheus", "url": prometheus.url, "reloadMode": "Operator"}
            ],
        },
    }
    kubectl = lambda *a, **kw: installed_crds.kubectl("-n", namespace, *a, **kw)  # noqa: E731
    kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all([cluster, alert_rule("mounted", {"alert": "M1", "expr": "vector(1)"})]),
    )
    operator, _ = start_operator(installed_crds, tmp_path, namespace)
    try:

        def synced() -> bool:
            status = yaml.safe_load(kubectl("get", "alertrule", "mounted", "-o", "yaml").stdout).get("status") or {}
            return status.get("synced") == "1/1"

        eventually(synced, 60, what="synced by the operator alone")
        assert rules_in(prometheus, f"{namespace}_mounted.yaml") == {"mounted.rules": ["M1"]}

        kubectl("apply", "-f", "-", input=yaml.safe_dump(alert_rule("mounted", {"alert": "M2", "expr": "vector(2)"})))
        eventually(lambda: rules_in(prometheus, f"{namespace}_mounted.yaml") == {"mounted.rules": ["M2"]}, 60)
        eventually(synced, 60)
    finally:
        operator.stop()
