"""One tenant's flood against another tenant's change latency (issue 12 item 7), on the real test bed
(etcd, kube-apiserver, Prometheus and the operator as processes), measuring:

1. baseline: the latency of one AlertRule change of a quiet tenant, from apply to its rule ConfigMap
   and to loaded in Prometheus (the sidecar's loaded hash on that shard), median and p95 of 20
   changes, seen by a watch on the shards;
2. the flood: another tenant applies 200 AlertRules of 5 rules each (1,000 rules) with 50-120 KB of
   annotations each; printed: how many the cluster's default limits (`spec.tenancy.limits`) admit,
   and the rule ConfigMaps' count and bytes once it settled;
3. the quiet tenant's same 20 changes again, with the flood at its namespace's limits;
4. with `--unlimited`, the same again after setting every limit to 0 (no limit): what the limits save.

    .venv/bin/python -m benchmarks.bench_tenants [--unlimited]   (after ./tests/run.sh set up the test bed)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

from alertagent.common.labels import CONTENT_HASH_ANNOTATION, LOADED_HASH_ANNOTATION
from alertagent.devstack.agents import eventually, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane, install_crds, start_control_plane
from alertagent.devstack.monitoring import start_prometheus
from benchmarks.common import latency_summary

REPO = Path(__file__).resolve().parents[1]
CLUSTER_NS, QUIET, FLOOD = "monitoring", "team-quiet", "team-flood"
FLOOD_OBJECTS, RULES_PER_OBJECT, CHANGES = 200, 5, 20
SHARDS = "alertagent.io/cluster=main"
QUIET_FILE = f"{QUIET}_app.yaml"


def alert_rule(namespace: str, name: str, alert: str, rules: int = 1, annotation_bytes: int = 0) -> dict[str, Any]:
    per_rule = annotation_bytes // max(rules, 1)
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "groups": [
                {
                    "name": f"{name}.rules",
                    "rules": [
                        {
                            "alert": f"{alert}{i}",
                            "expr": f'up{{job="{name}-{i}"}} == 0',
                            "labels": {"severity": "warning"},
                            "annotations": {"description": "d" * per_rule},
                        }
                        for i in range(rules)
                    ],
                }
            ]
        },
    }


class ShardWatch:
    """Watches the cluster's rule ConfigMaps: the quiet tenant's file as written, and whether the
    shard holding it is loaded (the sidecar's loaded-hash equals the operator's content-hash)."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core, self.text, self.loaded, self.lock = core, "", False, threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                stream = watch.Watch().stream(
                    self.core.list_namespaced_config_map, CLUSTER_NS, label_selector=SHARDS, timeout_seconds=30
                )
                for event in stream:
                    data = (event["object"].data or {}) if event["type"] != "DELETED" else {}
                    if QUIET_FILE in data:
                        notes = event["object"].metadata.annotations or {}
                        with self.lock:
                            self.text = data[QUIET_FILE]
                            self.loaded = notes.get(LOADED_HASH_ANNOTATION) == notes.get(CONTENT_HASH_ANNOTATION)
            except (ProtocolError, ApiException):
                time.sleep(0.1)  # the watch broke (e.g. a huge list): watch again

    def holds(self, alert: str, loaded: bool = False) -> bool:
        with self.lock:
            return alert in self.text and (self.loaded or not loaded)


def measure(plane: ControlPlane, shards: ShardWatch, label: str) -> tuple[list[float], list[float]]:
    """The quiet tenant's changes: seconds until its ConfigMap holds each, and until it is loaded."""
    written, loaded = [], []
    for change in range(CHANGES):
        alert = f"{label}Change{change}x0"
        started = time.monotonic()
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(alert_rule(QUIET, "app", alert[:-1])))
        eventually(lambda a=alert: shards.holds(a), 120, 0.01)
        written.append(time.monotonic() - started)
        eventually(lambda a=alert: shards.holds(a, loaded=True), 300, 0.01)
        loaded.append(time.monotonic() - started)
    return written, loaded


def flood_status(custom: client.CustomObjectsApi) -> tuple[int, int]:
    """(flood AlertRules with a Ready condition, those refused by a limit)."""
    items = custom.list_namespaced_custom_object("alertagent.io", "v1alpha1", FLOOD, "alertrules")["items"]
    ready = [
        next((c for c in (i.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None) for i in items
    ]
    return sum(c is not None for c in ready), sum("tenancy.limits" in ((c or {}).get("message") or "") for c in ready)


def settle(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> tuple[int, int, int]:
    """Wait until the shards stop changing for 5 s and every flood AlertRule's status says whether a
    limit refused it; returns (flood AlertRules admitted, rule ConfigMaps, bytes of their data)."""
    last, stable_since = "", time.monotonic()
    while time.monotonic() - stable_since < 5:
        maps = core.list_namespaced_config_map(CLUSTER_NS, label_selector=SHARDS).items
        now = json.dumps(sorted((m.metadata.name, m.metadata.resource_version) for m in maps))
        if now != last:
            last, stable_since = now, time.monotonic()
        time.sleep(0.5)
    admitted = sum(k.startswith(f"{FLOOD}_") for m in maps for k in m.data or {})
    eventually(lambda: flood_status(custom) == (FLOOD_OBJECTS, FLOOD_OBJECTS - admitted), 600, 1, "flood statuses")
    size = sum(len(k.encode()) + len(v.encode()) for m in maps for k, v in (m.data or {}).items())
    return admitted, len(maps), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unlimited", action="store_true", help="also measure with every limit set to 0")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alertagent-bench-tenants-"))
    plane = start_control_plane(work, with_controller_manager=False)
    processes = list(plane.processes)
    prometheus = start_prometheus(work)
    try:
        install_crds(plane, REPO / "crds")
        for namespace in (CLUSTER_NS, QUIET, FLOOD):
            plane.kubectl("create", "namespace", namespace)
        cluster = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": CLUSTER_NS},
            "spec": {
                "alertmanager": {"url": "http://127.0.0.1:9"},
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus.url}],
            },
        }
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([cluster, alert_rule(QUIET, "app", "Start")]))
        operator, _ = start_operator(plane, work, (CLUSTER_NS, QUIET, FLOOD), debounce=0.3)
        sidecar, _ = start_sidecar(plane, work, CLUSTER_NS, "main", "prometheus", prometheus.rules_dir, prometheus.url)
        processes += [operator, sidecar]
        config.load_kube_config(str(plane.kubeconfig))
        core, custom = client.CoreV1Api(), client.CustomObjectsApi()
        shards = ShardWatch(core)
        eventually(lambda: shards.holds("Start0", loaded=True), 60)
        figures = {"baseline": measure(plane, shards, "Baseline")}

        sizes = [50_000 + (70_000 * i) // (FLOOD_OBJECTS - 1) for i in range(FLOOD_OBJECTS)]  # 50-120 KB
        flood = [
            alert_rule(FLOOD, f"flood-{i:03d}", f"Flood{i}x", RULES_PER_OBJECT, sizes[i]) for i in range(FLOOD_OBJECTS)
        ]
        bulk = work / "flood.yaml"
        bulk.write_text(yaml.safe_dump_all(flood))
        started = time.monotonic()
        plane.kubectl("apply", "--server-side", "-f", str(bulk))
        admitted, maps, size = settle(core, custom)
        print(
            f"flood: {FLOOD_OBJECTS} AlertRules ({FLOOD_OBJECTS * RULES_PER_OBJECT} rules, "
            f"{sum(sizes) / 1e6:.1f} MB of annotations) in {FLOOD}: {admitted} admitted by the default limits, "
            f"{FLOOD_OBJECTS - admitted} refused (each status says why); settled after "
            f"{time.monotonic() - started:.1f} s; rule ConfigMaps: {maps}, {size / 1e6:.2f} MB"
        )
        figures["flood at the limits"] = measure(plane, shards, "Flood")

        if args.unlimited:
            none = {"rulesPerAlertRule": 0, "bytesPerRuleFile": 0, "rulesPerNamespace": 0, "bytesPerNamespace": 0}
            patch = {"spec": {"tenancy": {"limits": none}}}
            custom.patch_namespaced_custom_object(
                "alertagent.io", "v1alpha1", CLUSTER_NS, "alertmanagerclusters", "main", patch
            )
            started = time.monotonic()
            admitted, maps, size = settle(core, custom)
            print(
                f"without limits: {admitted} flood AlertRules admitted, settled after "
                f"{time.monotonic() - started:.1f} s; rule ConfigMaps: {maps}, {size / 1e6:.2f} MB"
            )
            figures["flood without limits"] = measure(plane, shards, "Unlimited")
        for name, (written, loaded) in figures.items():
            print(f"{QUIET} change, {name} ({CHANGES} changes): apply -> its ConfigMap {latency_summary(written)}")
            print(
                f"{QUIET} change, {name} ({CHANGES} changes): apply -> loaded in Prometheus {latency_summary(loaded)}"
            )
        shards.stop.set()
    finally:
        for proc in reversed(processes):
            proc.stop()
        prometheus.stop()


if __name__ == "__main__":
    main()
