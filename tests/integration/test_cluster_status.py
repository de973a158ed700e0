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


DENY_STATUS = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: deny-cluster-status-NS}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["alertagent.io"]
      apiVersions: ["*"]
      operations: ["UPDATE"]
      resources: ["alertmanagerclusters/status"]
  validations:
  - expression: "false"
    message: "the test refuses cluster status writes"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: deny-cluster-status-NS}
spec:
  policyName: deny-cluster-status-NS
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: NS}
"""


def test_a_refused_status_write_does_not_pause_the_health_probes(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    prometheus: RuleTarget,
    tmp_path: Path,
) -> None:
    """A health probe writes the cluster's status when its health changed; a refused write (an API
    server that is down, a revoked token, an admission policy) is logged and the probes go on (Kopf
    would pause a timer that raised for 60 s), and the status is written once it can be."""
    plane = installed_crds
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(_cluster(alertmanager.url, prometheus.url)))
    operator, _ = start_operator(plane, tmp_path, namespace)  # health probe every second
    policy = DENY_STATUS.replace("NS", namespace)

    def reason() -> str:
        body = json.loads(plane.kubectl("-n", namespace, "get", "amc", "broken", "-o", "json").stdout)
        conditions = {c["type"]: c for c in (body.get("status") or {}).get("conditions") or []}
        return str(conditions.get("Ready", {}).get("reason", ""))

    def refused_by_probe() -> int:
        return operator.log_path.read_text(errors="replace").count("not written by its health probe")

    try:
        eventually(lambda: reason() == "Healthy", 60, what="healthy")
        plane.kubectl("apply", "-f", "-", input=policy)
        time.sleep(2)  # the policy takes effect
        alertmanager.stop()  # the health changes: every probe now has a status to write
        eventually(lambda: refused_by_probe() >= 1, 30, what="a probe's write refused")
        first = refused_by_probe()
        time.sleep(4)
        assert refused_by_probe() >= first + 2, "the probes went on after a refused write"
        assert "Timer 'probe_health' failed" not in operator.log_path.read_text(errors="replace")
        assert reason() == "Healthy"  # nothing written while refused
        plane.kubectl("delete", "-f", "-", input=policy)
        eventually(lambda: reason() == "TargetsUnhealthy", 30, what="the status written once it can be")
    finally:
        plane.kubectl("delete", "--ignore-not-found", "-f", "-", input=policy)
        operator.stop()
