"""Test-send on the real Alertmanager: a new annotation value reaches exactly that channel's receiver
(a local webhook server), and `status.lastTest` records the outcome."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator
from alertagent.devstack.controlplane import ControlPlane, table
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.receivers import webhook_receiver

GROUP = "alertagent.io/v1alpha1"


def test_test_send_reaches_only_that_channel(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    plane = installed_crds
    with webhook_receiver() as (url, received):
        channels = [
            {
                "apiVersion": GROUP,
                "kind": "NotificationChannel",
                "metadata": {"name": name},
                "spec": {"type": "webhook", "webhook": {"url": f"{url}/{name}"}, "route": {}},
            }
            for name in ("one", "two")
        ] + [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "slack"},
                "stringData": {"url": f"{url}/slack"},
            },
            {
                "apiVersion": GROUP,
                "kind": "NotificationChannel",
                "metadata": {"name": "chat"},
                "spec": {"type": "slack", "slack": {"apiUrl": {"name": "slack", "key": "url"}, "channel": "#ops"}},
            },
        ]
        cluster = {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": alertmanager.url}},
        }
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all([cluster, *channels]))
        operator, _ = start_operator(plane, tmp_path, namespace)
        sidecar, _ = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        try:
            eventually(lambda: f"{namespace}/two" in alertmanager.status()["config"]["original"], 30, what="loaded")
            plane.kubectl("-n", namespace, "annotate", "nc", "two", "alertagent.io/test-send=first")
            [alert] = eventually(lambda: received.alerts("/two"), 30, what="test alert delivered")
            assert alert["labels"]["alertname"] == "AlertAgentTestSend"
            assert alert["annotations"]["test_send"] == "first"
            status = json.loads(plane.kubectl("-n", namespace, "get", "nc", "two", "-o", "json").stdout)["status"]
            assert status["lastTest"]["value"] == "first" and status["lastTest"]["result"] == "Succeeded"
            assert received.alerts("/one") == []  # only the channel under test

            # Slack (a local server checking Slack's payload) gets its own test notification too.
            plane.kubectl("-n", namespace, "annotate", "nc", "chat", "alertagent.io/test-send=1")
            [message] = eventually(lambda: received.slack_messages("/slack"), 30, what="slack message")
            assert message["channel"] == "#ops" and "AlertAgentTestSend" in json.dumps(message["attachments"])
            assert {r["NAME"]: r["LAST TEST"] for r in table(plane.kubectl("-n", namespace, "get", "nc").stdout)} == {
                "chat": "Succeeded",
                "one": "",
                "two": "Succeeded",
            }
        finally:
            operator.stop()
            sidecar.stop()
