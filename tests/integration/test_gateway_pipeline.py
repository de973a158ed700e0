"""The gateway pipeline on the real test bed: the operator writes the channels Secret and an
Alertmanager receiver pointing at the gateway; the Secret is mounted into a folder as the kubelet
mounts it (`devstack.mounts`), which the gateway reads; an AlertRule reaches real Prometheus through
the rules sidecar, Prometheus fires it to real Alertmanager, which routes it to the real gateway
process, which signs and delivers it to a DingTalk stand-in that verifies the signature as DingTalk
does; test-send goes through the gateway and `status.lastTest` records the robot's own answer."""

from __future__ import annotations

import json
from pathlib import Path

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


def _rule(name: str, alert: str) -> dict:
    rule = {
        "alert": alert,
        "expr": "vector(1) > 0",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "the gateway pipeline works"},
    }
    spec = {"groups": [{"name": name, "rules": [rule]}]}
    return {"apiVersion": GROUP, "kind": "AlertRule", "metadata": {"name": name}, "spec": spec}


def _get(plane: ControlPlane, namespace: str, *what: str) -> dict:
    return json.loads(plane.kubectl("-n", namespace, "get", *what, "-o", "json").stdout)


def test_prometheus_fires_alertmanager_routes_to_the_gateway_which_delivers_signed_and_test_send_records(
    installed_crds: ControlPlane,
    namespace: str,
    alerting_prometheus: RuleTarget,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
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
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": alerting_prometheus.url}],
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
            _rule("gateway-pipeline", "GatewayPipeline"),
        ]
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
            # The channels Secret, mounted as the kubelet mounts it; the gateway starts before the
            # operator has written it (an optional volume: empty) and picks it up when it appears.
            with mounted_secret(plane, namespace, "main-gateway-channels", tmp_path / "channels") as mount:
                gateway, _ = start_gateway(
                    tmp_path, [mount.folder], tmp_path / "queue.db", gateway_port, ("--poll-interval", "0.5")
                )
                channels = f"http://127.0.0.1:{gateway_port}/api/v1/channels"
                eventually(lambda: len(httpx.get(channels).json()) == 2, 60, what="the gateway reads both channels")
                file = json.loads((mount.folder / "channels.json").read_text())
                assert file["channels"][f"{namespace}/ding"]["webhook_url"] == robot.url

                receiver = f"/api/v1/alerts/webhook/{namespace}/ding"
                eventually(lambda: receiver in alertmanager.status()["config"]["original"], 30, what="receiver")
                # Prometheus evaluates the AlertRule the sidecar wrote and fires it to Alertmanager.
                eventually(lambda: robot.count("GatewayPipeline") >= 1, 90, what="signed message delivered")
                [text] = [t for t in robot.texts() if "GatewayPipeline" in t]
                assert "the gateway pipeline works" in text and "g0.expr" in text  # Prometheus' generatorURL
                # Only the channel with the wrong secret was refused (the alert goes to both channels).
                assert set(robot.refused) <= {310000}, robot.refused

                plane.kubectl("-n", namespace, "annotate", "nc", "ding", "alertagent.io/test-send=one")
                last = eventually(lambda: _get(plane, namespace, "nc", "ding")["status"].get("lastTest"), 60)
                assert (last["result"], last["code"]) == ("Succeeded", 0), last

                plane.kubectl("-n", namespace, "annotate", "nc", "mis", "alertagent.io/test-send=one")
                last = eventually(lambda: _get(plane, namespace, "nc", "mis")["status"].get("lastTest"), 60)
                assert (last["result"], last["code"]) == ("Failed", 310000), last
                assert "SECwrong" not in json.dumps(last) and robot.token not in json.dumps(last)
        finally:
            for process in (gateway, operator, sidecar, rules_sidecar):
                if process is not None:
                    process.stop()
