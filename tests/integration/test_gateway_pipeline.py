"""The gateway pipeline on the real test bed: the operator writes the channels Secret and an
Alertmanager receiver pointing at the gateway; real Alertmanager routes an alert to the real gateway
process, which signs and delivers it to a DingTalk stand-in that verifies the signature as DingTalk
does; test-send goes through the gateway and `status.lastTest` records the robot's own answer."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_gateway, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.processes import free_port
from alertagent.devstack.robots import Robot, robots

GROUP = "alertagent.io/v1alpha1"


def _channel(name: str, secret: str) -> dict:
    ref = {"name": secret, "key": "url"}
    sign = {"name": secret, "key": "sign"}
    spec = {"type": "dingtalk", "dingtalk": {"webhookUrl": ref, "signSecret": sign, "language": "en"}, "route": {}}
    return {"apiVersion": GROUP, "kind": "NotificationChannel", "metadata": {"name": name}, "spec": spec}


def _secret(name: str, url: str, sign: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"url": url, "sign": sign}}


def _get(plane: ControlPlane, namespace: str, *what: str) -> dict:
    return json.loads(plane.kubectl("-n", namespace, "get", *what, "-o", "json").stdout)


def test_alertmanager_routes_to_the_gateway_which_delivers_signed_and_test_send_records_the_answer(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    plane = installed_crds
    gateway_port = free_port()
    with robots(Robot(type="dingtalk", secret="SECgood")) as (robot,):
        cluster = {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {
                "alertmanager": {"url": alertmanager.url},
                "gateway": {"url": f"http://127.0.0.1:{gateway_port}"},
                "route": {"groupWait": "1s", "groupInterval": "1s"},
            },
        }
        objects = [
            cluster,
            _secret("good", robot.url, "SECgood"),
            _secret("wrong", robot.url, "SECwrong"),  # the robot refuses its signature (310000)
            _channel("ding", "good"),
            _channel("mis", "wrong"),
        ]
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
        operator, _ = start_operator(plane, tmp_path, namespace)
        sidecar, _ = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        gateway = None
        try:
            # The channels Secret, mounted as the kubelet would: its channels.json in a file.
            def channels() -> dict | None:
                data = _get(plane, namespace, "secret", "main-gateway-channels").get("data") or {}
                file = json.loads(base64.b64decode(data.get("channels.json", "") or "e30="))
                return file if len(file.get("channels") or {}) == 2 else None

            file = eventually(channels, 30, what="channels Secret written")
            assert file["channels"][f"{namespace}/ding"]["webhook_url"] == robot.url
            channels_file = tmp_path / "channels.json"
            channels_file.write_text(json.dumps(file))
            gateway, _ = start_gateway(tmp_path, [channels_file], tmp_path / "queue.db", gateway_port)

            receiver = f"/api/v1/alerts/webhook/{namespace}/ding"
            eventually(lambda: receiver in alertmanager.status()["config"]["original"], 30, what="receiver loaded")
            now = datetime.now(UTC)
            alert = {
                "labels": {"alertname": "GatewayPipeline", "namespace": namespace, "severity": "critical"},
                "annotations": {"summary": "the gateway pipeline works"},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=5)).isoformat(),
            }
            httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[alert]).raise_for_status()
            eventually(lambda: robot.count("GatewayPipeline") >= 1, 60, what="signed message delivered")

            plane.kubectl("-n", namespace, "annotate", "nc", "ding", "alertagent.io/test-send=one")
            last = eventually(lambda: _get(plane, namespace, "nc", "ding")["status"].get("lastTest"), 60, what="test")
            assert (last["result"], last["code"]) == ("Succeeded", 0), last

            plane.kubectl("-n", namespace, "annotate", "nc", "mis", "alertagent.io/test-send=one")
            last = eventually(lambda: _get(plane, namespace, "nc", "mis")["status"].get("lastTest"), 60, what="test")
            assert (last["result"], last["code"]) == ("Failed", 310000), last
            assert "SECwrong" not in json.dumps(last) and robot.token not in json.dumps(last)
        finally:
            for process in (gateway, operator, sidecar):
                if process is not None:
                    process.stop()
