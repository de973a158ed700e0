"""Test-send on the real Alertmanager: a new annotation value reaches exactly that channel's receiver
(a local webhook server), and `status.lastTest` records the outcome; a request made while no operator
runs, or with the channel's creation, or before the gateway has loaded the channel, is sent once
(not lost, not repeated by a restart)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import yaml

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_gateway, start_operator
from alertagent.devstack.controlplane import ControlPlane, table
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.mounts import mounted_secret
from alertagent.devstack.processes import free_port
from alertagent.devstack.receivers import webhook_receiver
from alertagent.devstack.robots import Robot, robots

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
            assert alert["labels"]["alertagent_test_send"] == "first"
            status = json.loads(plane.kubectl("-n", namespace, "get", "nc", "two", "-o", "json").stdout)["status"]
            assert status["lastTest"]["value"] == "first" and status["lastTest"]["result"] == "Succeeded"
            assert received.alerts("/one") == []  # only the channel under test

            # A second test while the first test alert still fires (5 minutes) is notified too, at once.
            plane.kubectl("-n", namespace, "annotate", "--overwrite", "nc", "two", "alertagent.io/test-send=second")
            second = eventually(
                lambda: [a for a in received.alerts("/two") if a["labels"]["alertagent_test_send"] == "second"],
                30,
                what="the second test alert delivered",
            )
            assert len(second) == 1

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


def _last_test(plane: ControlPlane, namespace: str, name: str) -> dict[str, object]:
    status = json.loads(plane.kubectl("-n", namespace, "get", "nc", name, "-o", "json").stdout).get("status") or {}
    return dict(status.get("lastTest") or {})


def _test_alerts(alertmanager: AlertmanagerTarget, channel: str) -> list[dict[str, object]]:
    """The test alerts Alertmanager holds for a channel (`updatedAt` changes whenever one is posted again)."""
    alerts = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=10).json()
    return [a for a in alerts if a["labels"].get("alertagent_test_channel") == channel]


def test_test_send_survives_restarts(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """A test-send requested while no operator runs is sent once the next one knows which clusters
    render the channel (not failed at start with "no AlertmanagerCluster renders this channel"), exactly
    once: a further restart sends nothing again. A channel created with the annotation already set is
    tested once its first render is done."""
    plane = installed_crds
    with webhook_receiver() as (url, received):
        channel = {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "late"},
            "spec": {"type": "webhook", "webhook": {"url": f"{url}/late"}, "route": {}},
        }
        cluster = {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": alertmanager.url}},
        }
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all([cluster, channel]))
        sidecar, _ = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        operator, _ = start_operator(plane, tmp_path, namespace)
        try:
            eventually(lambda: f"{namespace}/late" in alertmanager.status()["config"]["original"], 30, what="loaded")
            operator.stop()

            # Requested while no operator runs: the next one sends it, once.
            plane.kubectl("-n", namespace, "annotate", "nc", "late", "alertagent.io/test-send=while-stopped")
            operator, _ = start_operator(plane, tmp_path, namespace)
            [alert] = eventually(lambda: received.alerts("/late"), 30, what="test alert delivered after a start")
            assert alert["labels"]["alertagent_test_send"] == "while-stopped"
            last = eventually(
                lambda: _last_test(plane, namespace, "late").get("value") and _last_test(plane, namespace, "late"), 30
            )
            assert last["value"] == "while-stopped" and last["result"] == "Succeeded", last
            [posted] = _test_alerts(alertmanager, f"{namespace}/late")

            # Another restart: the status says it was sent, so nothing is posted again.
            operator.stop()
            port = free_port()
            operator, _ = start_operator(plane, tmp_path, namespace, http_port=port)
            eventually(
                lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200, 60, what="ready"
            )
            time.sleep(5)  # a few health intervals (1 s here) and reconciles after priming
            assert len(received.alerts("/late")) == 1
            assert _last_test(plane, namespace, "late") == last  # not sent (nor recorded) again
            assert _test_alerts(alertmanager, f"{namespace}/late")[0]["updatedAt"] == posted["updatedAt"]

            # Created with the annotation already set, while the operator runs: sent once it is rendered.
            fresh = {
                **channel,
                "metadata": {"name": "fresh", "annotations": {"alertagent.io/test-send": "at-creation"}},
                "spec": {"type": "webhook", "webhook": {"url": f"{url}/fresh"}, "route": {}},
            }
            plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(fresh))
            [alert] = eventually(lambda: received.alerts("/fresh"), 30, what="test alert of a new channel")
            assert alert["labels"]["alertagent_test_send"] == "at-creation"
            last = eventually(
                lambda: _last_test(plane, namespace, "fresh").get("value") and _last_test(plane, namespace, "fresh"), 30
            )
            assert last["result"] == "Succeeded", last
        finally:
            operator.stop()
            sidecar.stop()


def test_gateway_test_send_waits_for_the_gateway_to_load_the_channel(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """A DingTalk channel created with the annotation set: the gateway reads its channels Secret from
    a mount the kubelet refreshes late (here every 8 s), so it first answers 404 "no gateway channel";
    the test-send waits for it instead of failing, and the robot gets exactly one test message."""
    plane = installed_crds
    gateway_port = free_port()
    with robots(Robot(type="dingtalk", secret="SECgood")) as (robot,):
        objects = [
            {
                "apiVersion": GROUP,
                "kind": "AlertmanagerCluster",
                "metadata": {"name": "main"},
                "spec": {
                    "alertmanager": {"url": alertmanager.url},
                    "gateway": {"url": f"http://127.0.0.1:{gateway_port}"},
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "ding"},
                "stringData": {"url": robot.url, "sign": "SECgood"},
            },
            {
                "apiVersion": GROUP,
                "kind": "NotificationChannel",
                "metadata": {"name": "ding", "annotations": {"alertagent.io/test-send": "at-creation"}},
                "spec": {
                    "type": "dingtalk",
                    "dingtalk": {
                        "webhookUrl": {"name": "ding", "key": "url"},
                        "signSecret": {"name": "ding", "key": "sign"},
                        "language": "en",
                    },
                    "route": {},
                },
            },
        ]
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
        gateway = operator = None
        with mounted_secret(plane, namespace, "main-gateway-channels", tmp_path / "channels", interval=8.0) as mount:
            try:
                gateway, _ = start_gateway(
                    tmp_path, [mount.folder], tmp_path / "queue.db", gateway_port, ("--poll-interval", "0.5")
                )
                started = time.monotonic()
                operator, _ = start_operator(plane, tmp_path, namespace)
                last = eventually(lambda: _last_test(plane, namespace, "ding"), 60, what="lastTest")
                waited = time.monotonic() - started
                assert (last["result"], last["code"], last["value"]) == ("Succeeded", 0, "at-creation"), last
                assert robot.count("AlertAgent") == 1, robot.texts()
                print(f"gateway test-send recorded {waited:.1f}s after the operator's start (mount refresh 8 s)")
            finally:
                for process in (operator, gateway):
                    if process is not None:
                        process.stop()
