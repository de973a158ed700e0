"""apply -> Alertmanager-loaded latency for one NotificationChannel change (median of 20), on the real
test bed: API server, operator, sidecar next to a real Alertmanager.

    .venv/bin/python -m benchmarks.bench_alertmanager_latency    (after ./tests/run.sh set up the test bed)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import yaml
from kubernetes import client, config

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator
from alertagent.devstack.controlplane import install_crds, start_control_plane
from alertagent.devstack.monitoring import start_alertmanager
from benchmarks.common import latency_summary

REPO = Path(__file__).resolve().parents[1]
NAMESPACE, CHANGES = "bench", 20


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="alertagent-bench-am-"))
    plane = start_control_plane(work, with_controller_manager=False)
    processes = list(plane.processes)
    alertmanager = start_alertmanager(work)
    try:
        install_crds(plane, REPO / "crds")
        plane.kubectl("create", "namespace", NAMESPACE)
        cluster = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": alertmanager.url}},
        }
        channel = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "NotificationChannel",
            "metadata": {"name": "hook"},
            "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/v0"}, "route": {}},
        }
        plane.kubectl("-n", NAMESPACE, "apply", "-f", "-", input=yaml.safe_dump_all([cluster, channel]))
        operator, _ = start_operator(plane, work, NAMESPACE, debounce=0.3)
        sidecar, _ = start_alertmanager_sidecar(
            plane, work, NAMESPACE, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        processes += [operator, sidecar]
        eventually(lambda: "127.0.0.1:9/v0" in alertmanager.status()["config"]["original"], 60)
        config.load_kube_config(str(plane.kubeconfig))
        custom = client.CustomObjectsApi()
        latencies = []
        for change in range(1, CHANGES + 1):
            url = f"http://127.0.0.1:9/v{change}"
            started = time.monotonic()
            custom.patch_namespaced_custom_object(
                "alertagent.io",
                "v1alpha1",
                NAMESPACE,
                "notificationchannels",
                "hook",
                {"spec": {"webhook": {"url": url}}},
            )
            eventually(
                lambda u=url: u in httpx.get(f"{alertmanager.url}/api/v2/status").json()["config"]["original"], 60, 0.02
            )
            latencies.append(time.monotonic() - started)
        print(
            f"one channel change apply -> loaded in Alertmanager ({CHANGES} changes, operator debounce 0.3 s, "
            f"sidecar debounce 0.2 s): {latency_summary(latencies)}"
        )
    finally:
        for proc in reversed(processes):
            proc.stop()
        alertmanager.stop()


if __name__ == "__main__":
    main()
