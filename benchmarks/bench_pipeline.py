"""The rules pipeline on the real test bed (etcd, kube-apiserver, Prometheus, the operator and the
sidecar as processes), measuring:

1. ConfigMap writes caused by applying 500 AlertRules (1,000 rules) at once;
2. apply → loaded latency in Prometheus for a single rule change with those 1,000 rules loaded
   (median and p95 of 20 changes).

    .venv/bin/python -m benchmarks.bench_pipeline      (after ./tests/run.sh has set up the test bed)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client, config

from alertagent.devstack.agents import eventually, metric_value, start_operator, start_sidecar
from alertagent.devstack.controlplane import install_crds, start_control_plane
from alertagent.devstack.monitoring import start_prometheus
from benchmarks.common import latency_summary

REPO = Path(__file__).resolve().parents[1]
NAMESPACE, OBJECTS, RULES_PER_OBJECT, CHANGES = "bench", 500, 2, 20


def alert_rule(i: int, first_alert: str) -> dict[str, Any]:
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertRule",
        "metadata": {"name": f"rule-{i:03d}"},
        "spec": {
            "groups": [
                {
                    "name": f"g{i}",
                    "rules": [
                        {
                            "alert": first_alert,
                            "expr": f'up{{job="svc{i}"}} == 0',
                            "for": "5m",
                            "labels": {"severity": "critical"},
                        },
                        {
                            "alert": f"Slow{i}",
                            "expr": f'histogram_quantile(0.99, rate(latency_bucket{{job="svc{i}"}}[5m])) > 1',
                        },
                    ],
                }
            ]
        },
    }


def loaded_alerts(prometheus_url: str) -> set[str]:
    body = httpx.get(f"{prometheus_url}/api/v1/rules", timeout=10).json()
    return {r["name"] for g in body["data"]["groups"] or [] for r in g["rules"]}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="alertagent-bench-"))
    plane = start_control_plane(work, with_controller_manager=False)
    processes = list(plane.processes)
    prometheus = start_prometheus(work)
    try:
        install_crds(plane, REPO / "crds")
        plane.kubectl("create", "namespace", NAMESPACE)
        evaluator = {"name": "prometheus", "type": "prometheus", "url": prometheus.url}
        cluster = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": "http://127.0.0.1:9"}, "ruleEvaluators": [evaluator]},
        }
        plane.kubectl("-n", NAMESPACE, "apply", "-f", "-", input=yaml.safe_dump(cluster))
        operator, metrics_port = start_operator(plane, work, NAMESPACE, debounce=0.3)
        sidecar, _ = start_sidecar(plane, work, NAMESPACE, "main", "prometheus", prometheus.rules_dir, prometheus.url)
        processes += [operator, sidecar]

        bulk = work / "bulk.yaml"
        bulk.write_text(yaml.safe_dump_all([alert_rule(i, f"Down{i}") for i in range(OBJECTS)]))
        writes_before = metric_value(metrics_port, "alertagent_rule_distribution_total")
        started = time.monotonic()
        plane.kubectl("-n", NAMESPACE, "apply", "--server-side", "-f", str(bulk))
        eventually(lambda: len(loaded_alerts(prometheus.url)) == OBJECTS * RULES_PER_OBJECT, 300, 0.5)
        bulk_seconds = time.monotonic() - started
        time.sleep(2)  # let any straggling reconcile show up in the counter
        writes = metric_value(metrics_port, "alertagent_rule_distribution_total") - writes_before
        config.load_kube_config(str(plane.kubeconfig))
        core, custom = client.CoreV1Api(), client.CustomObjectsApi()
        shards = core.list_namespaced_config_map(NAMESPACE, label_selector="alertagent.io/component=rules").items

        latencies = []
        for change in range(CHANGES):
            i = (change * 37) % OBJECTS
            new_name = f"Changed{change}"
            started = time.monotonic()
            custom.patch_namespaced_custom_object(
                "alertagent.io", "v1alpha1", NAMESPACE, "alertrules", f"rule-{i:03d}", alert_rule(i, new_name)
            )
            eventually(lambda n=new_name: n in loaded_alerts(prometheus.url), 60, 0.02)
            latencies.append(time.monotonic() - started)

        print(
            f"bulk apply: {OBJECTS} AlertRules ({OBJECTS * RULES_PER_OBJECT} rules) loaded in Prometheus "
            f"after {bulk_seconds:.1f} s"
        )
        print(f"ConfigMap writes for the bulk apply: {writes:.0f} for {len(shards)} shard(s)")
        print(
            f"single change apply -> loaded ({CHANGES} changes, operator debounce 0.3 s, sidecar debounce 0.2 s): "
            f"{latency_summary(latencies)}"
        )
    finally:
        for proc in reversed(processes):
            proc.stop()
        prometheus.stop()


if __name__ == "__main__":
    main()
