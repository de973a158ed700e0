"""Deletions during a watch outage (issue 12, item 6) on the real test bed: the operator is paused
(SIGSTOP), the API server restarts (every watch is cut), an AlertRule, a NotificationChannel, a
SuppressionPolicy and an AlertmanagerCluster (its finalizer removed by hand) are deleted and etcd is
compacted; resumed, the operator's watches resume from revisions etcd no longer has, get 410 Gone and
relist, and the objects that vanished must leave the rule ConfigMaps, Prometheus, the
alertmanager.yaml Secret, Alertmanager, the cluster's status and the metrics.

This module runs its own control plane with the API server's watch cache off, so a compacted
revision is answered with 410 at once (with the cache on, 410 comes once the cache window has moved
past the revision; a pause alone, with the connection kept, loses nothing: the DELETED event waits in
the socket)."""

from __future__ import annotations

import base64
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client, config

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane, install_crds, start_control_plane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget

GROUP = "alertagent.io/v1alpha1"
REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "relist"


@pytest.fixture(scope="module")
def uncached_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = start_control_plane(
        Path(tmp_path_factory.mktemp("relist")), with_controller_manager=False, apiserver_args=("--watch-cache=false",)
    )
    try:
        install_crds(plane, REPO / "crds")
        plane.kubectl("create", "namespace", NAMESPACE)
        yield plane
    finally:
        plane.stop()


def _objects(alertmanager: AlertmanagerTarget, prometheus: RuleTarget) -> list[dict[str, Any]]:
    cluster = {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {
            "alertmanager": {"url": alertmanager.url},
            "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus.url}],
        },
    }
    other = {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "other"},
        "spec": {"alertmanager": {"url": alertmanager.url}},
    }
    rules = [
        {
            "apiVersion": GROUP,
            "kind": "AlertRule",
            "metadata": {"name": name},
            "spec": {"groups": [{"name": f"{name}.rules", "rules": [{"alert": alert, "expr": "vector(1) > 2"}]}]},
        }
        for name, alert in (("kept", "Kept"), ("gone", "Gone"))
    ]
    channels = [
        {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": name},
            "spec": {"type": "webhook", "webhook": {"url": f"http://127.0.0.1:9/{name}"}, "route": {}},
        }
        for name in ("kept-hook", "gone-hook")
    ]
    policies = [
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": name},
            "spec": {
                "maintenanceWindows": [
                    {"name": "nightly", "recurring": {"times": [{"startTime": "01:00", "endTime": "02:00"}]}}
                ],
                "inhibitRules": [
                    {
                        "sourceMatchers": [{"name": "alertname", "value": f"{name}-source"}],
                        "targetMatchers": [{"name": "severity", "value": "warning"}],
                    }
                ],
            },
        }
        for name in ("kept-window", "gone-window")
    ]
    return [cluster, other, *rules, *channels, *policies]


def _secret_config(core: client.CoreV1Api) -> dict[str, Any]:
    secret = core.read_namespaced_secret("main-alertmanager-config", NAMESPACE)
    return yaml.safe_load(base64.b64decode(secret.data["alertmanager.yaml"]))  # type: ignore[no-any-return]


def _shard_rules(core: client.CoreV1Api) -> set[str]:
    """Alert names in the rule ConfigMaps of cluster main."""
    names = set()
    for cm in core.list_namespaced_config_map(NAMESPACE, label_selector="alertagent.io/cluster=main").items:
        for text in (cm.data or {}).values():
            for group in yaml.safe_load(text).get("groups") or []:
                names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


def _prometheus_alerts(prometheus: RuleTarget) -> set[str]:
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"] or []
    return {rule["name"] for group in groups for rule in group["rules"]}


def _summary(config: dict[str, Any]) -> tuple[set[str], set[str], int]:
    """Receivers, time intervals and inhibit rules of one alertmanager.yaml."""
    return (
        {r["name"] for r in config.get("receivers") or []},
        {t["name"] for t in config.get("time_intervals") or []},
        len(config.get("inhibit_rules") or []),
    )


def _counts(plane: ControlPlane) -> tuple[str, str]:
    """The Rules and Receivers columns of cluster main."""
    out = plane.kubectl(
        "-n", NAMESPACE, "get", "amc", "main", "-o", "jsonpath={.status.counts.rules} {.status.counts.receivers}"
    )
    rules, _, receivers = out.stdout.partition(" ")
    return rules, receivers


def _loaded(alertmanager: AlertmanagerTarget) -> tuple[set[str], set[str], int]:
    status = httpx.get(f"{alertmanager.url}/api/v2/status", timeout=5).json()
    return _summary(yaml.safe_load(status["config"]["original"]))


def _health_series(port: int, labels: dict[str, str]) -> list[str]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return [
        line
        for line in text.splitlines()
        if line.startswith("alertagent_cluster_health_status{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    ]


def test_deletions_during_a_watch_outage_leave_every_output(
    uncached_plane: ControlPlane, prometheus: RuleTarget, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    plane = uncached_plane
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(plane.kubeconfig)))
    plane.kubectl("-n", NAMESPACE, "apply", "-f", "-", input=yaml.safe_dump_all(_objects(alertmanager, prometheus)))
    operator, metrics_port = start_operator(plane, tmp_path, NAMESPACE)
    other_health = {"cluster": f"{NAMESPACE}/other"}
    sidecars = [
        start_sidecar(plane, tmp_path, NAMESPACE, "main", "prometheus", prometheus.rules_dir, prometheus.url)[0],
        start_alertmanager_sidecar(
            plane, tmp_path, NAMESPACE, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )[0],
    ]
    receivers = {f"{NAMESPACE}/kept-hook", f"{NAMESPACE}/gone-hook", "alertagent/null"}
    intervals = {f"{NAMESPACE}/kept-window/nightly", f"{NAMESPACE}/gone-window/nightly"}
    try:
        eventually(lambda: _prometheus_alerts(prometheus) == {"Kept", "Gone"}, 60, what="both rules loaded")
        eventually(lambda: _loaded(alertmanager) == (receivers, intervals, 2), 60, what="Alertmanager loaded both")
        eventually(lambda: _counts(plane) == ("2", "3"), 30, what="cluster status counts both")
        eventually(lambda: _health_series(metrics_port, other_health), 30, what="health of cluster other")

        # The outage: the operator's watches are cut while it is paused; what it last saw is gone
        # from etcd's history by the time it reconnects.
        os.kill(operator.popen.pid, signal.SIGSTOP)
        try:
            plane.restart_apiserver()
            plane.kubectl("-n", NAMESPACE, "delete", "alertrule/gone", "nc/gone-hook", "sp/gone-window")
            plane.kubectl(
                "-n", NAMESPACE, "patch", "amc/other", "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
            )
            plane.kubectl("-n", NAMESPACE, "delete", "amc/other")
            plane.compact_etcd()
        finally:
            os.kill(operator.popen.pid, signal.SIGCONT)

        after = ({f"{NAMESPACE}/kept-hook", "alertagent/null"}, {f"{NAMESPACE}/kept-window/nightly"}, 1)
        eventually(lambda: _shard_rules(core) == {"Kept"}, 60, what="the deleted rule left the rule ConfigMaps")
        eventually(lambda: _prometheus_alerts(prometheus) == {"Kept"}, 60, what="Prometheus unloaded the rule")
        eventually(lambda: _summary(_secret_config(core)) == after, 60, what="alertmanager.yaml without them")
        eventually(lambda: _loaded(alertmanager) == after, 60, what="Alertmanager loaded it")
        eventually(lambda: _counts(plane) == ("1", "2"), 30, what="cluster status counts the rest")
        # The vanished cluster's reconciler and health timer stop: its health series is removed.
        eventually(lambda: not _health_series(metrics_port, other_health), 30, what="cluster other forgotten")

        # The operator still follows changes after the relist.
        plane.kubectl("-n", NAMESPACE, "delete", "alertrule/kept")
        eventually(lambda: not _prometheus_alerts(prometheus), 60, what="a later deletion seen too")
    finally:
        for proc in [operator, *sidecars]:
            proc.stop()
