"""Status plans: written only on a real change, Warning Events only for new problems, the cluster's
errors gathered from its steps, and no status written before every cluster reconciled once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alertagent.api import NotificationChannel
from alertagent.api.alertmanagercluster import TargetHealth
from alertagent.api.alertrule import ValidationIssue
from alertagent.common.identity import ObjectRef, namespace_of, owner_reference
from alertagent.plans.alertmanager import AlertmanagerPlan, LoadedReport, index_object
from alertagent.plans.status import Memberships, plan_cluster_status, plan_member_status, plan_rule_status
from alertagent.reconcile.state import ClusterRecord, OperatorState
from alertagent.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHANNEL = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "NotificationChannel",
    "metadata": {"name": "hooks", "namespace": "team-a", "generation": 2},
    "spec": {"type": "webhook", "webhook": {"url": "http://x.example/hook"}},
}
REF = ObjectRef("NotificationChannel", "team-a", "hooks")


def with_status(body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**body, "status": status}


def test_a_channel_status_is_planned_once_and_a_new_problem_warns_once() -> None:
    members = Memberships()
    members.record("monitoring/main", {REF: None}, {})
    entry = index_object(NotificationChannel, CHANNEL)
    first = plan_member_status(entry, CHANNEL, members, NOW)
    assert first is not None and first.warning is None
    assert first.status["clusters"] == ["monitoring/main"] and first.status["delivery"] == "Native"
    assert plan_member_status(entry, with_status(CHANNEL, first.status), members, NOW) is None
    members.record("monitoring/main", {REF: "secret team-a/x key url not found"}, {})
    broken = plan_member_status(entry, with_status(CHANNEL, first.status), members, NOW)
    assert broken is not None and broken.warning is not None
    assert broken.warning == ("Invalid", "monitoring/main: secret team-a/x key url not found")
    assert plan_member_status(entry, with_status(CHANNEL, broken.status), members, NOW) is None


def test_a_rule_status_announces_changed_validation_errors_only() -> None:
    body = {"kind": "AlertRule", "metadata": {"name": "r", "namespace": "team-a", "generation": 1}, "spec": {}}
    issue = ValidationIssue(field="spec.groups[0].rules[0].expr", message="unexpected end of input")
    first = plan_rule_status(body, [issue], [], None, announce=True)
    assert first is not None and first.warning is not None and first.warning[0] == "InvalidRule"
    assert plan_rule_status(with_status(body, first.status), [issue], [], None, announce=True) is None
    quiet = plan_rule_status(body, [issue], [], None, announce=False)
    assert quiet is not None and quiet.warning is None


def test_cluster_status_gathers_step_errors_the_tools_verdict_and_the_sidecar_report() -> None:
    body = {"kind": "AlertmanagerCluster", "metadata": {"name": "main", "namespace": "monitoring", "generation": 1}}
    health = [TargetHealth(name="alertmanager", type="alertmanager", reachable=True)]
    config = AlertmanagerPlan(
        None, None, True, {"receivers": 2}, {}, {}, (), LoadedReport("h", None, "reload: HTTP 400"), "amtool: bad"
    )
    patch = plan_cluster_status(body, health, {"prometheus": 3}, {"silences": "ConnectError: refused"}, config)
    assert patch is not None
    assert (
        patch.status["lastError"]
        == "silences: ConnectError: refused; amtool: bad; alertmanager sidecar: reload: HTTP 400"
    )
    assert patch.status["conditions"][0]["status"] == "False"
    assert patch.status["counts"]["rules"] == 3


def test_statuses_wait_until_every_cluster_has_reconciled_once_or_the_limit() -> None:
    state = OperatorState(settings=Settings(priming_max_seconds=60), kube=None, queue=None, api=None)  # type: ignore[arg-type]
    assert not state.primed(["monitoring/main"])
    state.clusters["monitoring/main"] = ClusterRecord(reconciled=True)  # its steps ran, failed or not
    assert not state.primed(["monitoring/main", "monitoring/new"])
    assert state.primed(["monitoring/main"])
    assert state.primed(["monitoring/main", "monitoring/new"])  # once primed, a new cluster holds nothing back
    waiting = OperatorState(settings=Settings(priming_max_seconds=60), kube=None, queue=None, api=None)  # type: ignore[arg-type]
    waiting.started -= 61  # a cluster that never reconciles does not hold statuses back for ever
    assert waiting.primed(["monitoring/stuck"])
    assert OperatorState(settings=Settings(), kube=None, queue=None, api=None).primed([])  # type: ignore[arg-type]


def test_a_cluster_whose_steps_failed_keeps_its_counts_and_says_why() -> None:
    body = {
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": "monitoring", "generation": 1},
        "status": {
            "targets": [{"name": "prometheus", "type": "prometheus", "rules": 7}],
            "counts": {"rules": 7, "receivers": 3, "routes": 5, "inhibitRules": 1},
            "configHash": "abc",
        },
    }
    health = [TargetHealth(name="prometheus", type="prometheus", reachable=True)]
    patch = plan_cluster_status(body, health, None, {"rules": "ApiException: (403)"}, None)
    assert patch is not None
    assert patch.status["counts"] == {"rules": 7, "receivers": 3, "routes": 5, "inhibitRules": 1, "lastKnownGood": 0}
    assert (patch.status["configHash"], patch.status["lastError"]) == ("abc", "rules: ApiException: (403)")
    assert patch.status["conditions"][0]["reason"] == "RenderFailed"


def test_one_identity_one_namespace_default_one_owner_reference() -> None:
    ref = ObjectRef.of(CHANNEL)
    assert (str(ref), ref.key) == ("NotificationChannel team-a/hooks", "team-a/hooks")
    assert ObjectRef.of({"kind": "AlertRule", "metadata": {"name": "x"}}).key == "default/x"
    assert ObjectRef.parse_key("AlertmanagerCluster", "main") == ObjectRef("AlertmanagerCluster", "default", "main")
    assert namespace_of({}) == "default"
    assert owner_reference("v1", "Thing", {"name": "a", "uid": "u"}) == {
        "apiVersion": "v1",
        "kind": "Thing",
        "name": "a",
        "uid": "u",
        "controller": True,
        "blockOwnerDeletion": True,
    }
