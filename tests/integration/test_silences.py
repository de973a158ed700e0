"""One-off windows become real Alertmanager silences: created before they start, updated when the
window changes, never duplicated across operator restarts, expired when the window is removed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget

GROUP = "alertagent.io/v1alpha1"


def _ours(alertmanager: AlertmanagerTarget) -> list[dict[str, Any]]:
    silences = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
    return [s for s in silences if s["createdBy"] == "alertagent" and s["status"]["state"] != "expired"]


def test_one_off_window_silence_lifecycle(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    plane = installed_crds
    window = {"name": "upgrade", "start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z", "comment": "db"}
    policy = {
        "apiVersion": GROUP,
        "kind": "SuppressionPolicy",
        "metadata": {"name": "maint"},
        "spec": {"matchers": [{"name": "service", "value": "db"}], "maintenanceWindows": [window]},
    }
    cluster = {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {"alertmanager": {"url": alertmanager.url}},
    }
    apply = lambda *objs: plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objs))  # noqa: E731
    apply(cluster, policy)
    operator, _ = start_operator(plane, tmp_path, namespace)
    try:
        [silence] = eventually(lambda: _ours(alertmanager), 30, what="silence created")
        assert silence["status"]["state"] == "pending"  # created before the window starts
        # The policy lives in the cluster's own namespace, so no namespace matcher is added.
        assert [(m["name"], m["value"]) for m in silence["matchers"]] == [("service", "db")]
        assert silence["comment"] == f"alertagent.io/window={namespace}/maint/upgrade db"

        def status_ids() -> list[str]:
            status = json.loads(plane.kubectl("-n", namespace, "get", "sp", "maint", "-o", "json").stdout)
            return [s["id"] for s in (status.get("status") or {}).get("silences") or []]

        eventually(lambda: status_ids() == [silence["id"]], 30, what="silence id in status")

        # Moving the window updates the silence (still exactly one).
        apply({**policy, "spec": {**policy["spec"], "maintenanceWindows": [{**window, "end": "2030-01-01T05:00:00Z"}]}})
        eventually(lambda: [s["endsAt"][:19] for s in _ours(alertmanager)] == ["2030-01-01T05:00:00"], 30)

        # A restart finds it again instead of creating another.
        operator.stop()
        operator, _ = start_operator(plane, tmp_path, namespace)
        eventually(lambda: len(status_ids()) == 1, 30)
        assert len(_ours(alertmanager)) == 1

        # Removing the window expires the silence.
        apply({**policy, "spec": {**policy["spec"], "maintenanceWindows": []}})
        eventually(lambda: _ours(alertmanager) == [], 30, what="silence expired")
    finally:
        operator.stop()


def test_a_window_already_started_gets_one_silence_not_one_per_reconcile(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """Alertmanager starts a silence whose start is past at its creation time; the operator must take
    that for the window's silence, not replace it at every health check (1 s here)."""
    plane = installed_crds
    now = datetime.now(UTC)
    window = {
        "name": "now",
        "start": (now - timedelta(minutes=1)).isoformat(),
        "end": (now + timedelta(hours=2)).isoformat(),
    }
    objects = [
        {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": alertmanager.url}},
        },
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "maint"},
            "spec": {"matchers": [{"name": "service", "value": "db"}], "maintenanceWindows": [window]},
        },
    ]
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, namespace)
    try:
        [silence] = eventually(lambda: _ours(alertmanager), 30, what="silence created")
        assert silence["status"]["state"] == "active"
        time.sleep(6)  # several health checks, each a reconcile of the silences
        every = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
        assert [s["id"] for s in every if s["createdBy"] == "alertagent"] == [silence["id"]]
    finally:
        operator.stop()
