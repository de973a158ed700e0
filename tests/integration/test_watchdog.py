"""The chart's dead-man's switch on the real pipeline: its self-monitoring AlertRule and heartbeat
NotificationChannel (rendered by the real helm) applied on the test bed, the operator and the sidecars
delivering them to a real Prometheus and Alertmanager. A local HTTP receiver, standing in for an
external heartbeat service, gets Watchdog again and again, and no other channel gets it; once
Prometheus stops, the heartbeats stop, which is how the external service notices."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import yaml

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane, binary
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.receivers import webhook_receiver

CHART = Path(__file__).resolve().parents[2] / "charts" / "alertagent"
INTERVAL = 5  # seconds: selfMonitoring.heartbeat.interval (repeat_interval; group ticks of 1 s)


def chart_objects(namespace: str, heartbeat_url: str) -> list[dict]:
    """The AlertRule and the heartbeat NotificationChannel, as `helm template` renders them."""
    out = subprocess.run(
        [
            binary("helm"),
            "template",
            "aa",
            str(CHART),
            "-n",
            namespace,
            "--set",
            "selfMonitoring.targets[0]=main",
            "--set",
            f"selfMonitoring.heartbeat.url={heartbeat_url}",
            "--set",
            f"selfMonitoring.heartbeat.interval={INTERVAL}s",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d and d["kind"] in ("AlertRule", "NotificationChannel")]


def test_watchdog_heartbeats_arrive_and_stop_when_prometheus_stops(
    installed_crds: ControlPlane,
    namespace: str,
    alerting_prometheus: RuleTarget,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    plane = installed_crds
    with webhook_receiver() as (url, received):
        objects = chart_objects(namespace, f"{url}/heartbeat")
        assert sorted(o["kind"] for o in objects) == ["AlertRule", "NotificationChannel"]
        cluster = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {
                "alertmanager": {"url": alertmanager.url},
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": alerting_prometheus.url}],
            },
        }
        # Every other alert goes to this channel: Watchdog must not (the heartbeat channel is exclusive).
        everything = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "NotificationChannel",
            "metadata": {"name": "everything"},
            "spec": {"type": "webhook", "webhook": {"url": f"{url}/everything"}, "route": {"groupWait": "0s"}},
        }
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all([cluster, everything, *objects]))
        operator, _ = start_operator(plane, tmp_path, namespace)
        am_sidecar, _ = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        rules_sidecar, _ = start_sidecar(
            plane, tmp_path, namespace, "main", "prometheus", alerting_prometheus.rules_dir, alerting_prometheus.url
        )
        try:
            eventually(lambda: "alertagent.watchdog" in alerting_prometheus.loaded_groups(), 90, what="rules loaded")

            def heartbeats() -> int:
                alerts = received.alerts("/heartbeat")
                assert all(a["labels"]["alertname"] == "Watchdog" for a in alerts), alerts
                return len(received.posts.get("/heartbeat", []))

            eventually(lambda: heartbeats() >= 3, 120, what="three Watchdog heartbeats")
            first = received.posts["/heartbeat"][0]
            assert first["receiver"] == f"{namespace}/aa-alertagent-heartbeat" and first["status"] == "firing"
            assert first["alerts"][0]["labels"]["alertagent_selfmonitoring"] == "watchdog"
            assert all(a["labels"]["alertname"] != "Watchdog" for a in received.alerts("/everything"))
            # Re-sent every interval, not every second one (a group tick as long as the interval lands just
            # short of repeat_interval): 6 intervals bring at least 5 heartbeats.
            before = heartbeats()
            time.sleep(6 * INTERVAL)
            assert heartbeats() - before >= 5, f"{heartbeats() - before} heartbeats in {6 * INTERVAL}s"

            # Prometheus goes away: Alertmanager resolves Watchdog once its endsAt passes (Prometheus
            # sends 4 x its 5 s resend delay ahead) and, with sendResolved off, sends nothing more.
            alerting_prometheus.stop()
            stopped = time.monotonic()

            def quiet_for(seconds: float) -> bool:
                before = heartbeats()
                time.sleep(seconds)
                return heartbeats() == before

            eventually(lambda: quiet_for(4 * INTERVAL), 120, interval=0, what="heartbeats stop")
            silent_after = time.monotonic() - stopped
            count = heartbeats()
            time.sleep(6 * INTERVAL)
            assert heartbeats() == count, "a heartbeat arrived with Prometheus down"
            assert silent_after < 90
        finally:
            for process in (operator, am_sidecar, rules_sidecar):
                process.stop()
