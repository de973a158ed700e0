"""One notification per cascade, on the real test bed: real Alertmanager (its dependency inhibit rule
suppressing the services above the database) posting webhooks to the real gateway process, whose
incident engine reads Alertmanager's API v2, the published service graph and a real kube-apiserver;
a DingTalk stand-in counts what arrives.

The database's alert is held until its incident gathered, then arrives once naming the root, the
impacted services and the suppressed count; a service joining later makes one update; the end of
the outage makes one resolve message; the Incident records the notifications."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from alertagent.devstack.agents import eventually, start_gateway
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.processes import free_port
from alertagent.devstack.robots import Robot, robots

from .test_incidents import gateway_kubeconfig, incidents, publish_graph  # noqa: F401 (a fixture)

TOKEN = "gateway-token-" + "x" * 16
HOLD = 6.0
EDGES = [("api", "db"), ("web", "api"), ("worker", "db")]


def post(alertmanager: AlertmanagerTarget, namespace: str, services: dict[str, str], ended: bool = False) -> None:
    """Alerts (service -> alertname) starting now, through Alertmanager's API v2 as Prometheus sends
    them; `ended`: resolved."""
    now = datetime.now(UTC)
    alerts: list[dict[str, Any]] = []
    for service, name in services.items():
        labels = {"alertname": name, "service": service, "namespace": namespace, "severity": "critical"}
        alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": f"{service} is failing"}}
        alert["startsAt"] = (now - timedelta(seconds=1)).isoformat()
        if ended:
            alert["startsAt"] = (now - timedelta(minutes=5)).isoformat()
            alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
        alerts.append(alert)
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=10)
    assert response.status_code == 200, response.text


def configure(alertmanager: AlertmanagerTarget, namespace: str, gateway_port: int) -> None:
    """Every alert to the gateway channel `<namespace>/oncall`; the services above the database
    inhibited while it alerts (what dependency suppression renders)."""
    url = f"http://127.0.0.1:{gateway_port}/api/v1/alerts/webhook/{namespace}/oncall"
    alertmanager.write_config(
        {
            "route": {
                "receiver": "oncall",
                "group_by": ["alertname", "service"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "oncall",
                    "webhook_configs": [
                        {"url": url, "send_resolved": True, "http_config": {"authorization": {"credentials": TOKEN}}}
                    ],
                }
            ],
            "inhibit_rules": [
                {
                    "source_matchers": ['service="db"'],
                    "target_matchers": ['service=~"api|web|worker"'],
                    "equal": ["namespace"],
                }
            ],
        }
    )
    assert alertmanager.reload().status_code == 200


def channels_file(path: Path, namespace: str, robot: Robot, alertmanager: AlertmanagerTarget) -> Path:
    key = f"{namespace}/oncall"
    channel = {"key": key, "type": "dingtalk", "webhook_url": robot.url, "token": TOKEN, "language": "en"}
    incidents = {
        "alertmanager_url": alertmanager.url,
        "window": 300,
        "hold": HOLD,
        "update_interval": 2,
        "poll_interval": 1,
        "graph_namespace": namespace,
        "namespaces": None,
    }
    path.write_text(json.dumps({"cluster": f"{namespace}/main", "channels": {key: channel}, "incidents": incidents}))
    return path


def test_a_cascade_is_one_message_naming_the_root_and_the_impacted_then_one_update_and_one_resolve(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    gateway_kubeconfig: Path,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    plane = installed_crds
    publish_graph(plane, namespace, EDGES)
    port = free_port()
    with robots(Robot("dingtalk")) as (robot,):
        proc, _ = start_gateway(
            tmp_path,
            [channels_file(tmp_path / "channels.json", namespace, robot, alertmanager)],
            tmp_path / "queue.db",
            port,
            ("--pod-name", "gw-a", "--pod-namespace", "test", "--kubeconfig", str(gateway_kubeconfig)),
        )
        try:
            configure(alertmanager, namespace, port)
            started = time.monotonic()
            post(alertmanager, namespace, {"db": "DatabaseDown"})
            time.sleep(1.5)
            post(alertmanager, namespace, {"api": "ApiErrors", "web": "WebErrors"})

            eventually(lambda: robot.count("DatabaseDown") >= 1, 40, what="the root alert's message")
            waited = time.monotonic() - started
            time.sleep(4)  # anything else Alertmanager or the gateway would send
            texts = robot.texts()
            assert len(texts) == 1, texts  # one message for the cascade
            text = texts[0]
            for expected in (f"{namespace}/db", f"{namespace}/api", f"{namespace}/web", "2 services impacted"):
                assert expected in text, text
            assert "2 of 3 alerts suppressed" in text, text
            assert "ApiErrors" not in text and "WebErrors" not in text  # inhibited: only named as services
            assert waited >= HOLD - 2  # held for the cascade to gather (the alert started 1 s before)
            print(f"\nroot alert posted -> incident message: {waited:.1f}s (hold {HOLD:.0f}s)")

            def recorded() -> dict[str, Any] | None:
                found = [i["status"] for i in incidents(plane, namespace) if (i.get("status") or {}).get("services")]
                done = [s for s in found if (s.get("notifications") or {}).get("sent")]
                return done[0] if done else None

            status = eventually(recorded, 30, what="the Incident's notifications")
            assert status["notifications"]["channels"] == [f"{namespace}/oncall"]
            assert status["notifications"]["sent"] == 1 and status["services"] == 3

            post(alertmanager, namespace, {"worker": "WorkerLag"})
            eventually(lambda: robot.count("Incident grew") == 1, 30, what="one update")
            assert "now 4 services" in robot.texts()[1]

            post(alertmanager, namespace, {"db": "DatabaseDown", "api": "ApiErrors", "web": "WebErrors"}, ended=True)
            post(alertmanager, namespace, {"worker": "WorkerLag"}, ended=True)
            eventually(lambda: robot.count("Incident resolved after") == 1, 40, what="one resolve")
            time.sleep(4)  # Alertmanager's resolved message for the database group comes in this time
            texts = robot.texts()
            # Alertmanager's resolved message for the root alert is delivered only if it came before the
            # incident's resolve; after it, it is folded into it (tests/unit/test_incident_delivery.py
            # makes that order deterministic).
            resolve_at = next(i for i, t in enumerate(texts) if "Incident resolved after" in t)
            root_resolved = [i for i, t in enumerate(texts) if "RESOLVED" in t and "DatabaseDown" in t]
            assert all(i < resolve_at for i in root_resolved) and len(root_resolved) <= 1, texts
            assert sum("Incident resolved after" in t for t in texts) == 1
            assert sum("Incident grew" in t for t in texts) == 1
            assert sum("FIRING" in t and "DatabaseDown" in t for t in texts) == 1
            assert all("ApiErrors" not in t and "WebErrors" not in t for t in texts)
            assert robot.duplicates() == 0
        finally:
            proc.stop()
        log = proc.log_path.read_text()
        assert "Traceback" not in log and "subscriber failed" not in log, log[-3000:]
