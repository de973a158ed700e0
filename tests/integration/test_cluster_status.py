"""An AlertmanagerCluster whose targets do not answer: Ready=False / Stalled=True with reason
`TargetsUnhealthy` naming each target and its URL (not `RenderFailed`), the silences that cannot be
synced under the Alertmanager target, exactly one Warning Event per change of reason (none per probe),
and no status write while nothing changes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget

GROUP = "alertagent.io/v1alpha1"
NOTHING = "http://127.0.0.1:9"  # the discard port: nothing listens


def _cluster(alertmanager: str, prometheus: str) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "broken"},
        "spec": {
            "alertmanager": {"url": alertmanager},
            "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus}],
        },
    }


def test_unreachable_targets_are_targets_unhealthy_with_one_event_per_change(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    prometheus: RuleTarget,
    tmp_path: Path,
) -> None:
    plane = installed_crds

    def apply(obj: dict[str, Any]) -> None:
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(obj))

    def cluster() -> dict[str, Any]:
        body: dict[str, Any] = json.loads(plane.kubectl("-n", namespace, "get", "amc", "broken", "-o", "json").stdout)
        return body

    def ready() -> dict[str, Any]:
        conditions = (cluster().get("status") or {}).get("conditions") or [{}]
        return {c["type"]: c for c in conditions}

    def warnings() -> list[tuple[str, str]]:
        listed = plane.kubectl(
            "-n",
            namespace,
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=broken,type=Warning",
            "-o",
            "json",
        ).stdout
        return [(e["reason"], e["message"]) for e in json.loads(listed)["items"]]

    apply(_cluster(NOTHING, NOTHING))
    operator, _ = start_operator(plane, tmp_path, namespace)  # health probe every second
    try:
        # Once the silences step has failed too, its failure is part of Alertmanager's health.
        def settled() -> dict[str, Any] | None:
            conditions = ready()
            message = conditions.get("Ready", {}).get("message", "")
            return conditions if "silences not synced" in message else None

        conditions = eventually(settled, 60, what="Alertmanager's health names the silences")
        assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "TargetsUnhealthy")
        assert (conditions["Stalled"]["status"], conditions["Reconciling"]["status"]) == ("True", "False")
        message = conditions["Ready"]["message"]
        assert f"alertmanager ({NOTHING}): " in message and f"prometheus ({NOTHING}): " in message
        status = cluster()["status"]
        assert status["lastError"] == "" and status["healthy"] == "0/2"
        manager = next(t for t in status["targets"] if t["name"] == "alertmanager")
        assert "silences not synced" in manager["message"]

        # Several probes later: the one Warning Event, and no status write since it settled.
        version = cluster()["metadata"]["resourceVersion"]
        time.sleep(5)
        assert cluster()["metadata"]["resourceVersion"] == version
        events = warnings()
        assert [reason for reason, _ in events] == ["TargetsUnhealthy"], events
        assert f"alertmanager ({NOTHING})" in events[0][1]

        # Fixed: Healthy, and no Event for that.
        apply(_cluster(alertmanager.url, prometheus.url))
        eventually(lambda: ready()["Ready"]["reason"] == "Healthy", 60, what="healthy")
        assert [reason for reason, _ in warnings()] == ["TargetsUnhealthy"]

        # Broken again: a new change of reason, a new Event (one).
        apply(_cluster(NOTHING, prometheus.url))
        eventually(lambda: ready()["Ready"]["reason"] == "TargetsUnhealthy", 60, what="unhealthy again")
        time.sleep(4)
        events = warnings()
        assert [reason for reason, _ in events] == ["TargetsUnhealthy", "TargetsUnhealthy"], events
        # (Events list in no particular order) the new one names Alertmanager alone: Prometheus is back.
        assert sorted("prometheus (" in m for _, m in events) == [False, True]
    finally:
        operator.stop()
