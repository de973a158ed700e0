"""No alert silently lost, on the real test bed: a channel whose Secret is deleted keeps its receiver live
in Alertmanager (and says so, as does its cluster), Secret changes reach Alertmanager in seconds through
the Secret watch (the health interval is set to minutes here), and objects that are live nowhere are
Ready=False with a Warning Event that names why."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client

from alertagent.clients.alertmanager import config_hash_metric, loaded_config_hash
from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator
from alertagent.devstack.controlplane import ControlPlane, table
from alertagent.devstack.monitoring import AlertmanagerTarget

GROUP = "alertagent.io/v1alpha1"
SLOW_HEALTH = {"ALERTAGENT_HEALTH_INTERVAL_SECONDS": "600"}  # only the Secret watch can be fast here


def _live_receivers(core: client.CoreV1Api, namespace: str, alertmanager: AlertmanagerTarget) -> dict[str, Any]:
    """The receivers the real Alertmanager runs now: the config Secret's file, once Alertmanager reports
    loading exactly that file (its config hash metric; its status API masks the secrets we check)."""
    secret = core.read_namespaced_secret("main-alertmanager-config", namespace)
    text = base64.b64decode(secret.data["alertmanager.yaml"]).decode()
    with httpx.Client(timeout=5) as http:
        if loaded_config_hash(http, alertmanager.url) != config_hash_metric(text):
            return {}
    return {r["name"]: r for r in yaml.safe_load(text).get("receivers") or []}


def _custom(plane: ControlPlane, namespace: str, plural: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(plane.kubectl("-n", namespace, "get", plural, name, "-o", "json").stdout)
    return result


def _ready(plane: ControlPlane, namespace: str, plural: str, name: str) -> dict[str, Any]:
    conditions = (_custom(plane, namespace, plural, name).get("status") or {}).get("conditions") or [{}]
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def _warnings(core: client.CoreV1Api, namespace: str, name: str) -> list[tuple[str, str]]:
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return [(e.reason, e.message) for e in events if e.type == "Warning"]


def test_a_deleted_secret_keeps_the_receiver_live_and_says_so(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    plane, core = installed_crds, client.CoreV1Api(api_client)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "slack", "labels": {"alertagent.io/watch": "true"}},
        "stringData": {"url": "https://hooks.slack.example/one"},
    }
    objects = [
        {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": alertmanager.url}},
        },
        secret,
        {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "pager"},
            "spec": {
                "type": "slack",
                "slack": {"apiUrl": {"name": "slack", "key": "url"}, "channel": "#team"},
                "route": {"matchers": [{"name": "severity", "value": "critical"}]},
            },
        },
    ]
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, namespace, env=SLOW_HEALTH)
    sidecar, _port = start_alertmanager_sidecar(
        plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
    )
    pager = f"{namespace}/pager"

    def api_url() -> str | None:
        receiver = _live_receivers(core, namespace, alertmanager).get(pager)
        return receiver["slack_configs"][0]["api_url"] if receiver else None

    try:
        eventually(lambda: api_url() == "https://hooks.slack.example/one", 60, what="receiver live")
        eventually(lambda: _ready(plane, namespace, "notificationchannels", "pager").get("status") == "True", 30)

        # A rotation reaches Alertmanager through the Secret watch, not the (10-minute) health timer.
        core.patch_namespaced_secret("slack", namespace, {"stringData": {"url": "https://hooks.slack.example/two"}})
        eventually(lambda: api_url() == "https://hooks.slack.example/two", 20, what="rotated URL live")

        core.delete_namespaced_secret("slack", namespace)
        eventually(
            lambda: _ready(plane, namespace, "notificationchannels", "pager").get("reason") == "LastKnownGood",
            20,
            what="channel on its last-known-good receiver",
        )
        assert api_url() == "https://hooks.slack.example/two"  # still live, with the last value it had
        message = _ready(plane, namespace, "notificationchannels", "pager")["message"]
        assert f"secret {namespace}/slack not found (key url)" in message and "https://" not in message
        eventually(
            lambda: any(r == "LastKnownGood" for r, _ in _warnings(core, namespace, "pager")), 20, what="Warning"
        )
        cluster = _custom(plane, namespace, "alertmanagerclusters", "main")["status"]
        degraded = next(c for c in cluster["conditions"] if c["type"] == "Degraded")
        assert degraded["status"] == "True" and f"NotificationChannel {namespace}/pager" in degraded["message"]
        assert cluster["counts"]["lastKnownGood"] == 1
        [row] = table(plane.kubectl("-n", namespace, "get", "amc", "main").stdout)
        assert row["DEGRADED"] == "True"
        assert "on their last-known-good receiver" in operator.log_path.read_text()

        # Restored: current again, and the cluster is no longer degraded.
        secret["stringData"] = {"url": "https://hooks.slack.example/three"}
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(secret))
        eventually(lambda: api_url() == "https://hooks.slack.example/three", 20, what="restored URL live")
        eventually(lambda: _ready(plane, namespace, "notificationchannels", "pager").get("status") == "True", 20)

        def not_degraded() -> bool:
            conditions = _custom(plane, namespace, "alertmanagerclusters", "main")["status"]["conditions"]
            return next(c for c in conditions if c["type"] == "Degraded")["status"] == "False"

        eventually(not_degraded, 20, what="cluster no longer degraded")

        # Deleting the channel itself still removes its receiver.
        core.delete_namespaced_secret("slack", namespace)
        eventually(
            lambda: _ready(plane, namespace, "notificationchannels", "pager").get("reason") == "LastKnownGood", 20
        )
        plane.kubectl("-n", namespace, "delete", "notificationchannel", "pager")
        eventually(
            lambda: pager not in _live_receivers(core, namespace, alertmanager),
            30,
            what="receiver removed with its channel",
        )
    finally:
        sidecar.stop()
        operator.stop()


def test_objects_live_nowhere_are_not_ready_and_say_why(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    plane, core = installed_crds, client.CoreV1Api(api_client)
    group = {"name": "g", "rules": [{"alert": "Always", "expr": "vector(1) > 0"}]}
    objects = [
        {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {
                "alertmanager": {"url": alertmanager.url, "reloadMode": "None"},
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": "http://127.0.0.1:9"}],
                "selectors": {"alertRules": {"labelSelector": {"matchLabels": {"team": "a"}}}},
            },
        },
        {"apiVersion": GROUP, "kind": "AlertRule", "metadata": {"name": "orphan"}, "spec": {"groups": [group]}},
        {
            "apiVersion": GROUP,
            "kind": "AlertRule",
            "metadata": {"name": "typo", "labels": {"team": "a"}},
            "spec": {"targets": ["mian"], "groups": [group]},
        },
        {
            "apiVersion": GROUP,
            "kind": "AlertRule",
            "metadata": {"name": "nosidecar", "labels": {"team": "a"}},
            "spec": {"groups": [group]},
        },
        {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "typo"},
            "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/x"}, "targets": ["mian"]},
        },
    ]
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, namespace, env={"ALERTAGENT_PENDING_WARN_SECONDS": "3"})
    try:

        def rule_rows() -> dict[str, dict[str, str]]:
            return {r["NAME"]: r for r in table(plane.kubectl("-n", namespace, "get", "alertrules").stdout)}

        def settled() -> dict[str, dict[str, str]] | None:
            rows = rule_rows()
            wanted = {"orphan": "NotSelected", "typo": "UnknownTarget"}
            return rows if all(rows[name]["REASON"] == reason for name, reason in wanted.items()) else None

        rows = eventually(settled, 60, what="orphan and typo not ready")
        assert rows["orphan"]["READY"] == rows["typo"]["READY"] == "False"
        assert f"{namespace}/mian" in _ready(plane, namespace, "alertrules", "typo")["message"]
        eventually(lambda: any(f"{namespace}/mian" in m for _, m in _warnings(core, namespace, "typo")), 20)
        eventually(lambda: any(r == "NotSelected" for r, _ in _warnings(core, namespace, "orphan")), 20)

        channel = eventually(
            lambda: (
                (c := _ready(plane, namespace, "notificationchannels", "typo")).get("reason") == "UnknownTarget" and c
            ),
            30,
            what="channel naming no cluster",
        )
        assert channel["status"] == "False" and f"{namespace}/mian" in channel["message"]

        # No sidecar reports on the shard: past the bound, the status names the ConfigMap and the command.
        def stalled() -> str | None:
            message = _ready(plane, namespace, "alertrules", "nosidecar").get("message") or ""
            return message if "has had no report from a sidecar" in message else None

        message = eventually(stalled, 60, what="stalled Pending names the sidecar")
        assert f"ConfigMap {namespace}/main-prometheus-rules-0" in message
        assert "--selector alertagent.io/cluster=main,alertagent.io/evaluator=prometheus" in message
        assert (rule_rows()["nosidecar"]["READY"], rule_rows()["nosidecar"]["REASON"]) == ("False", "Stalled")
        eventually(lambda: any(r == "Stalled" for r, _ in _warnings(core, namespace, "nosidecar")), 20)
    finally:
        operator.stop()
