"""`/readyz` on the operator's HTTP port: 503 until every AlertmanagerCluster has reconciled once since
start, 200 from then on (also at once when there is no cluster at all); a restart with nothing changed
writes no status (the batched writer computes every status again and finds nothing to write)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import yaml

from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.processes import free_port

GROUP = "alertagent.io/v1alpha1"


def _ready(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200


def test_ready_once_every_cluster_reconciled_and_a_restart_writes_no_status(
    installed_crds: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    plane = installed_crds
    port = free_port()
    operator, _ = start_operator(plane, tmp_path, namespace, http_port=port)
    try:
        eventually(lambda: _ready(port), 30, what="ready with no cluster")
    finally:
        operator.stop()

    rules = [
        {
            "apiVersion": GROUP,
            "kind": "AlertRule",
            "metadata": {"name": f"r{i}"},
            "spec": {"groups": [{"name": f"g{i}", "rules": [{"alert": f"A{i}", "expr": "vector(1)"}]}]},
        }
        for i in range(20)
    ]
    cluster = {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {
            "alertmanager": {"url": "http://127.0.0.1:9", "reloadMode": "None"},
            "ruleEvaluators": [{"name": "p", "type": "prometheus", "url": "http://127.0.0.1:9", "reloadMode": "None"}],
        },
    }
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all([cluster, *rules]))

    def statuses() -> dict[str, str]:
        listed = json.loads(plane.kubectl("-n", namespace, "get", "alertrules", "-o", "json").stdout)["items"]
        return {r["metadata"]["name"]: r["metadata"]["resourceVersion"] for r in listed if r.get("status")}

    operator, _ = start_operator(plane, tmp_path, namespace, http_port=port)
    try:
        eventually(lambda: _ready(port), 30, what="ready after the first reconcile")
        written = eventually(lambda: (s := statuses()) and len(s) == 20 and s, 30, what="20 statuses")
        reasons = json.loads(plane.kubectl("-n", namespace, "get", "alertrules", "-o", "json").stdout)["items"]
        assert {r["status"]["conditions"][0]["reason"] for r in reasons} == {"Synced"}  # reloadMode None: written
    finally:
        operator.stop()

    operator, _ = start_operator(plane, tmp_path, namespace, http_port=port)
    try:
        eventually(lambda: _ready(port), 30, what="ready after a restart")
        time.sleep(3)  # the status writer's batch (0.3 s after the first reconcile) has run by now
        assert statuses() == written  # not one status rewritten
    finally:
        operator.stop()
