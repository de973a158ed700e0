"""Slack and webhook channels with `spec.delivery: Gateway` on the real test bed: the operator renders
their receivers as the gateway's webhook and writes their credentials into the gateway's channels
Secret (mounted as the kubelet mounts it); an AlertRule reaches real Prometheus through the rules
sidecar, Prometheus fires it to real Alertmanager, which posts it to the real gateway process, which
delivers it to a Slack stand-in (checking what Slack checks) and to a webhook receiver (Alertmanager's
payload version 4, with the channel's basic authentication). A type the gateway does not deliver is
refused on its status naming spec.delivery; test-send of the slack channel goes through the gateway.
No credential appears in a ConfigMap, a status or a log."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from alertagent.devstack.agents import (
    eventually,
    start_alertmanager_sidecar,
    start_gateway,
    start_operator,
    start_sidecar,
)
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.mounts import mounted_secret
from alertagent.devstack.native_receivers import SlackStandIn, WebhookStandIn, stand_ins
from alertagent.devstack.processes import free_port

GROUP = "alertagent.io/v1alpha1"
PASSWORD = "hook-password-" + "p" * 12


def _object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": GROUP, "kind": kind, "metadata": {"name": name}, "spec": spec}


def _get(plane: ControlPlane, namespace: str, *what: str) -> dict[str, Any]:
    return dict(json.loads(plane.kubectl("-n", namespace, "get", *what, "-o", "json").stdout))


def _ready(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    status = _get(plane, namespace, "nc", name).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})


def _objects(
    alertmanager_url: str, prometheus_url: str, gateway_port: int, slack: SlackStandIn, hook: WebhookStandIn
) -> list[dict[str, Any]]:
    """The cluster, the destinations' Secret, a slack and a webhook channel delivered by the gateway, an
    email channel asking for it (refused), and an AlertRule that fires at once."""
    cluster = {
        "alertmanager": {"url": alertmanager_url},
        "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus_url}],
        "gateway": {"url": f"http://127.0.0.1:{gateway_port}"},
        "route": {"groupWait": "1s", "groupInterval": "1s"},
    }
    rule = {
        "alert": "NativeGateway",
        "expr": "vector(1) > 0",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "delivered by the gateway <for real> & checked"},
    }
    secrets = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "destinations"},
        "stringData": {"slack": slack.webhook_url, "password": PASSWORD},
    }
    objects = [
        _object("AlertmanagerCluster", "main", cluster),
        secrets,
        _object(
            "NotificationChannel",
            "slack",
            {
                "type": "slack",
                "delivery": "Gateway",
                "slack": {"apiUrl": {"name": "destinations", "key": "slack"}, "channel": "#alerts"},
                "gatewayMessage": {"timeZone": "Europe/Berlin"},
                "route": {},
            },
        ),
        _object(
            "NotificationChannel",
            "hook",
            {
                "type": "webhook",
                "delivery": "Gateway",
                "webhook": {
                    "url": hook.url,
                    "basicAuth": {
                        "username": "alertagent",
                        "password": {"name": "destinations", "key": "password"},
                    },
                },
                "route": {},
            },
        ),
        _object(
            "NotificationChannel",
            "mail",
            {"type": "email", "delivery": "Gateway", "email": {"to": "a@example.com", "smarthost": "smtp:25"}},
        ),
        _object("AlertRule", "native-gateway", {"groups": [{"name": "native-gateway", "rules": [rule]}]}),
    ]
    return objects


def _check_statuses(plane: ControlPlane, namespace: str) -> None:
    """Delivered by the gateway, Ready; a type it does not deliver says so, naming spec.delivery."""
    for name in ("slack", "hook"):
        eventually(lambda n=name: _ready(plane, namespace, n).get("status") == "True", 60, what=name)
        assert _get(plane, namespace, "nc", name)["status"]["delivery"] == "Gateway"
    mail = eventually(lambda: _ready(plane, namespace, "mail").get("message"), 60, what="mail refused")
    assert "spec.delivery: Gateway is not supported for type email" in mail
    assert _ready(plane, namespace, "mail")["status"] == "False"


def _check_no_credentials(plane: ControlPlane, namespace: str, logs: str, credentials: tuple[str, ...]) -> None:
    """No credential in a ConfigMap, a channel's status or a log."""
    config_maps = json.dumps(_get(plane, namespace, "configmaps"))
    statuses = json.dumps([_get(plane, namespace, "nc", n)["status"] for n in ("slack", "hook", "mail")])
    for credential in credentials:
        assert credential not in config_maps and credential not in statuses and credential not in logs


def test_alertmanager_posts_to_the_gateway_which_delivers_to_slack_and_a_webhook(
    installed_crds: ControlPlane,
    namespace: str,
    alerting_prometheus: RuleTarget,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    plane = installed_crds
    gateway_port = free_port()
    basic = "Basic " + base64.b64encode(f"alertagent:{PASSWORD}".encode()).decode()
    with stand_ins(SlackStandIn(), WebhookStandIn(authorization=basic)) as (slack, hook):
        objects = _objects(alertmanager.url, alerting_prometheus.url, gateway_port, slack, hook)
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
        operator, _ = start_operator(plane, tmp_path, namespace)
        sidecar, _ = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        rules_sidecar, _ = start_sidecar(
            plane, tmp_path, namespace, "main", "prometheus", alerting_prometheus.rules_dir, alerting_prometheus.url
        )
        gateway = None
        try:
            with mounted_secret(plane, namespace, "main-gateway-channels", tmp_path / "channels") as mount:
                gateway, _ = start_gateway(
                    tmp_path, [mount.folder], tmp_path / "queue.db", gateway_port, ("--poll-interval", "0.5")
                )
                channels = f"http://127.0.0.1:{gateway_port}/api/v1/channels"
                eventually(lambda: len(httpx.get(channels).json()) == 2, 60, what="the gateway reads both channels")
                file = json.loads((mount.folder / "channels.json").read_text())
                assert sorted(file["channels"]) == [f"{namespace}/hook", f"{namespace}/slack"]
                assert file["channels"][f"{namespace}/slack"]["webhook_url"] == slack.webhook_url
                assert file["channels"][f"{namespace}/hook"]["authorization"] == basic

                original = lambda: alertmanager.status()["config"]["original"]  # noqa: E731
                eventually(lambda: f"/api/v1/alerts/webhook/{namespace}/slack" in original(), 30, what="receiver")
                assert f"/api/v1/alerts/webhook/{namespace}/hook" in original()
                assert slack.token not in original() and PASSWORD not in original()

                # Prometheus fires the rule; Alertmanager posts to the gateway; the gateway delivers.
                eventually(lambda: slack.count("NativeGateway") >= 1, 90, what="Slack message delivered")
                eventually(lambda: hook.count("NativeGateway") >= 1, 30, what="webhook payload delivered")
                message = next(a for a in slack.arrivals if "NativeGateway" in a.text).body
                assert message["channel"] == "#alerts" and message["attachments"][0]["color"] == "danger"
                text = message["attachments"][0]["text"]
                assert "delivered by the gateway &lt;for real&gt; &amp; checked" in text and "CET" in text
                payload = next(a for a in hook.arrivals if "NativeGateway" in a.text)
                assert payload.headers["authorization"] == basic
                body = payload.body
                assert (body["version"], body["receiver"], body["status"]) == ("4", f"{namespace}/hook", "firing")
                assert body["alerts"][0]["labels"]["alertname"] == "NativeGateway"
                assert "g0.expr=vector" in body["alerts"][0]["generatorURL"]  # Prometheus' own link
                assert not slack.refused and not hook.refused

                _check_statuses(plane, namespace)

                # Test-send goes through the gateway and records Slack's answer.
                plane.kubectl("-n", namespace, "annotate", "nc", "slack", "alertagent.io/test-send=one")
                last = eventually(lambda: _get(plane, namespace, "nc", "slack")["status"].get("lastTest"), 60)
                assert last["result"] == "Succeeded", last
                eventually(lambda: slack.count("TEST MESSAGE") == 1, 30, what="test message")

                logs = "".join(p.log_path.read_text(errors="replace") for p in (operator, gateway, sidecar))
                _check_no_credentials(plane, namespace, logs, (slack.token, PASSWORD, basic.split()[1]))
        finally:
            for process in (gateway, operator, sidecar, rules_sidecar):
                if process is not None:
                    process.stop()
