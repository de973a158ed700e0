"""The incident engine on the real test bed: a real kube-apiserver with the CRDs, a real Alertmanager
(alerts posted to its API v2), a service graph ConfigMap as the operator publishes it, and the real
gateway process (`alertagent gateway`) under the ServiceAccount and RBAC the Helm chart gives it.

- A database and the services above it alerting become one Incident (root, impacted, state) in the
  root's namespace; the Lease names the gateway; resolving the alerts resolves the Incident.
- Two replicas: one holds the Lease and writes, the other writes nothing; kill -9 the leader and the
  other takes the Lease over within the lease duration (the failover time is printed) and continues
  the same Incident; a SIGTERM'd leader releases its Lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alertagent.devstack.agents import eventually, metric_value, start_gateway
from alertagent.devstack.controlplane import ControlPlane, binary
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.processes import Process
from alertagent.discovery.export import to_json
from alertagent.discovery.facts import Evidence
from alertagent.discovery.snapshot import Edge, Graph, Node
from alertagent.discovery.store import graph_configmaps

CHART = Path(__file__).resolve().parents[2] / "charts" / "alertagent"
LEASE_DURATION = 15.0


@pytest.fixture
def gateway_kubeconfig(installed_crds: ControlPlane, namespace: str) -> Iterator[Path]:
    """A kubeconfig of the gateway's ServiceAccount with the chart's gateway RBAC, nothing more."""
    release = f"g{namespace[-6:]}"
    rendered = subprocess.run(
        [
            *(binary("helm"), "template", release, str(CHART), "-n", namespace, "--kube-version", "1.34.4"),
            *("--set", "gateway.enabled=true", "--show-only", "templates/gateway-rbac.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    installed_crds.kubectl("-n", namespace, "apply", "-f", "-", input=rendered)
    name = f"{release}-alertagent-gateway"
    try:
        yield installed_crds.service_account_kubeconfig(namespace, name)
    finally:
        names = (name, f"{name}-analysis")
        installed_crds.kubectl("delete", "clusterrole,clusterrolebinding", *names, "--ignore-not-found", check=False)


def publish_graph(plane: ControlPlane, namespace: str, edges: list[tuple[str, str]]) -> None:
    """The service graph ConfigMap, as the operator publishes it (caller -> callee, Services)."""
    names = sorted({n for e in edges for n in e})
    said = (Evidence("annotation", "test"),)
    graph = Graph.build(
        [Node(f"{namespace}/{n}", "service", namespace, n) for n in names],
        [Edge(f"{namespace}/{a}", f"{namespace}/{b}", said) for a, b in edges],
        [],
    )
    maps = graph_configmaps(namespace, to_json(graph))
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(maps))


def channels_file(path: Path, namespace: str, alertmanager: AlertmanagerTarget) -> Path:
    """A channels file with no channels and an incidents section, as the operator writes it."""
    incidents = {
        "alertmanager_url": alertmanager.url,
        "window": 300,
        "poll_interval": 1,
        "graph_namespace": namespace,
        "namespaces": None,
    }
    path.write_text(json.dumps({"cluster": f"{namespace}/main", "channels": {}, "incidents": incidents}))
    return path


def post_alerts(
    alertmanager: AlertmanagerTarget, namespace: str, services: dict[str, str], ended: bool = False
) -> None:
    """Alerts (service -> alertname) through Alertmanager's API v2, as Prometheus sends them; `ended`:
    with endsAt in the past (resolved)."""
    now = datetime.now(UTC)
    alerts: list[dict[str, Any]] = []
    for i, (service, name) in enumerate(services.items()):
        alert: dict[str, Any] = {
            "labels": {"alertname": name, "service": service, "namespace": namespace, "severity": "critical"},
            "annotations": {"summary": f"{service} is failing"},
            "startsAt": (now - timedelta(minutes=2) + timedelta(seconds=i)).isoformat(),
        }
        if ended:
            alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
        alerts.append(alert)
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=10)
    assert response.status_code == 200, response.text


def incidents(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    out = plane.kubectl("-n", namespace, "get", "incidents", "-o", "json").stdout
    return list(json.loads(out)["items"])


def lease_holder(plane: ControlPlane, namespace: str) -> str | None:
    got = plane.kubectl("-n", namespace, "get", "lease", "main-incidents", "-o", "json", check=False)
    if got.returncode != 0:
        return None
    return str(json.loads(got.stdout)["spec"].get("holderIdentity") or "")


def gateway(tmp_path: Path, name: str, channels: Path, kubeconfig: Path) -> tuple[Process, int]:
    return start_gateway(
        tmp_path,
        [channels],
        tmp_path / f"{name}.db",
        extra_args=("--pod-name", name, "--pod-namespace", "test", "--kubeconfig", str(kubeconfig)),
    )


CASCADE = {"db": "DatabaseDown", "api": "ApiErrors", "web": "WebErrors"}
EDGES = [("api", "db"), ("web", "api"), ("worker", "db"), ("lonely", "other")]


def test_a_cascade_becomes_one_incident_that_resolves(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    gateway_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    plane = installed_crds
    publish_graph(plane, namespace, EDGES)
    proc, port = gateway(
        tmp_path, "gw-a", channels_file(tmp_path / "c.json", namespace, alertmanager), gateway_kubeconfig
    )
    try:
        post_alerts(alertmanager, namespace, CASCADE)
        post_alerts(alertmanager, namespace, {"lonely": "LonelyDown"})

        def firing() -> dict[str, Any] | None:
            found = [i for i in incidents(plane, namespace) if (i.get("status") or {}).get("services") == 3]
            return found[0] if found else None

        incident = eventually(firing, 30, what="the cascade's Incident")
        status = incident["status"]
        assert incident["spec"] == {"cluster": f"{namespace}/main"}
        assert status["state"] == "Firing" and status["severity"] == "critical"
        assert status["root"] == {"namespace": namespace, "name": "db", "inGraph": True, "alerts": ["DatabaseDown"]}
        assert [(i["name"], i["depth"], i.get("parent")) for i in status["impacted"]] == [
            ("api", 1, f"{namespace}/db"),
            ("web", 2, f"{namespace}/api"),
        ]
        assert (
            status["alerts"] == 3 and status["timeline"][0]["event"] == f"first alert: DatabaseDown on {namespace}/db"
        )
        ready = {c["type"]: c["status"] for c in status["conditions"]}
        assert ready == {"Ready": "True", "Reconciling": "False", "Stalled": "False", "Resolved": "False"}
        eventually(lambda: len(incidents(plane, namespace)) == 2, 15, what="the unrelated service's own Incident")
        assert lease_holder(plane, namespace) == "gw-a"
        view = httpx.get(f"http://127.0.0.1:{port}/api/v1/incidents", timeout=5).json()[f"{namespace}/main"]
        assert view["leader"] is True and {i["name"] for i in view["incidents"]} >= {incident["metadata"]["name"]}
        cluster = {"cluster": f"{namespace}/main"}
        assert metric_value(port, "alertagent_incidents_total", cluster) == 2
        assert metric_value(port, "alertagent_incident_alerts_seen_total", cluster) == 4
        assert metric_value(port, "alertagent_incident_leader", cluster) == 1

        post_alerts(alertmanager, namespace, CASCADE, ended=True)

        def resolved() -> dict[str, Any] | None:
            got = next(i for i in incidents(plane, namespace) if i["metadata"]["name"] == incident["metadata"]["name"])
            return got if got["status"]["state"] == "Resolved" else None

        done = eventually(resolved, 30, what="the Incident resolved")["status"]
        assert done["resolveTime"] and done["timeline"][-1]["event"] == "resolved: all alerts are gone"
        assert {c["type"]: c["status"] for c in done["conditions"]}["Resolved"] == "True"
        assert metric_value(port, "alertagent_incident_alerts_count", cluster) == 1  # one resolved incident observed

        alertmanager.stop()  # unreachable: the last state stays (nothing resolves), one log line, a metric
        eventually(lambda: metric_value(port, "alertagent_incident_alertmanager_up", cluster) == 0, 10, what="down")
        time.sleep(3)
        lonely = [i for i in incidents(plane, namespace) if i["status"]["root"]["name"] == "lonely"]
        assert [i["status"]["state"] for i in lonely] == ["Firing"]
        assert metric_value(port, "alertagent_incident_poll_errors_total", {**cluster, "what": "alertmanager"}) >= 3
        assert proc.log_path.read_text().count("reading Alertmanager's alerts") == 1
        assert proc.popen.poll() is None
    finally:
        proc.stop()
    log = proc.log_path.read_text()
    assert "forbidden" not in log.lower() and "Traceback" not in log, log[-3000:]
    assert lease_holder(plane, namespace) == ""  # released on SIGTERM


def test_two_replicas_write_once_and_the_survivor_takes_over_after_kill_9(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    gateway_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    plane = installed_crds
    publish_graph(plane, namespace, EDGES)
    channels = channels_file(tmp_path / "c.json", namespace, alertmanager)
    a = gateway(tmp_path, "gw-a", channels, gateway_kubeconfig)
    b = gateway(tmp_path, "gw-b", channels, gateway_kubeconfig)
    replicas = {"gw-a": a, "gw-b": b}
    try:
        leader = eventually(lambda: lease_holder(plane, namespace), 20, what="a Lease holder")
        follower = "gw-b" if leader == "gw-a" else "gw-a"
        post_alerts(alertmanager, namespace, CASCADE)
        eventually(lambda: [i for i in incidents(plane, namespace) if i.get("status")], 30, what="the Incident")
        time.sleep(3)  # a few more polls on both replicas
        (incident,) = incidents(plane, namespace)
        name = incident["metadata"]["name"]
        cluster = {"cluster": f"{namespace}/main"}
        leader_writes = metric_value(replicas[leader][1], "alertagent_incident_writes_total", cluster)
        assert leader_writes >= 2  # create + status
        assert metric_value(replicas[follower][1], "alertagent_incident_writes_total", cluster) == 0
        assert metric_value(replicas[follower][1], "alertagent_incident_leader", cluster) == 0
        # The follower tracks the same incident under the same name (it enriches messages too).
        view = httpx.get(f"http://127.0.0.1:{replicas[follower][1]}/api/v1/incidents", timeout=5).json()
        assert [i["name"] for i in view[f"{namespace}/main"]["incidents"]] == [name]

        killed = time.monotonic()
        os.killpg(replicas[leader][0].popen.pid, signal.SIGKILL)
        eventually(lambda: lease_holder(plane, namespace) == follower, LEASE_DURATION + 10, 0.1, what="takeover")
        failover = time.monotonic() - killed
        print(f"\nfailover: the Lease moved from {leader} to {follower} {failover:.1f}s after kill -9")
        assert failover <= LEASE_DURATION + 1

        post_alerts(alertmanager, namespace, {"worker": "WorkerLag"})

        def continued() -> dict[str, Any] | None:
            items = incidents(plane, namespace)
            status = items[0]["status"] if len(items) == 1 else {}
            return items[0] if status.get("services") == 4 else None

        after = eventually(continued, 30, what="the new leader continues the same Incident")
        assert after["metadata"]["name"] == name
        events = [e["event"] for e in after["status"]["timeline"]]
        assert events[0].startswith("first alert: DatabaseDown") and f"{namespace}/worker joined (depth 1)" in events
        assert metric_value(replicas[follower][1], "alertagent_incident_writes_total", cluster) >= 1

        started = time.monotonic()
        replicas[follower][0].stop()  # SIGTERM: the Lease is released, not left to expire
        assert lease_holder(plane, namespace) == ""
        print(f"graceful stop released the Lease in {time.monotonic() - started:.1f}s")
    finally:
        for proc, _ in replicas.values():
            proc.stop()
    for proc, _ in replicas.values():
        text = proc.log_path.read_text()
        assert "forbidden" not in text.lower() and "Traceback" not in text, text[-3000:]
