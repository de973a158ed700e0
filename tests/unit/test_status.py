"""Status composition (pure): AlertRule and AlertmanagerCluster conditions from their inputs."""

from __future__ import annotations

from alertagent.api.alertmanagercluster import TargetHealth
from alertagent.api.alertrule import RuleTargetStatus, ValidationIssue
from alertagent.status import ShardReport, alert_rule_status, cluster_status

BODY = {"metadata": {"generation": 3}, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A"}, {"alert": "B"}]}]}}


def _target(state: str, evaluator: str = "p", message: str | None = None) -> RuleTargetStatus:
    return RuleTargetStatus(cluster="m/main", evaluator=evaluator, state=state, message=message)  # type: ignore[arg-type]


def test_rule_synced_everywhere_is_ready() -> None:
    status = alert_rule_status(BODY, [], [_target("Synced", "p"), _target("Synced", "v")], revision=2)
    ready = status["conditions"][0]
    assert (status["synced"], status["ruleCount"], status["revision"], status["observedGeneration"]) == ("2/2", 2, 2, 3)
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "Synced", 3)


def test_rule_states_and_reasons() -> None:
    failed = alert_rule_status(BODY, [], [_target("Synced", "v"), _target("Failed", "p", "reload: HTTP 500")])
    assert failed["synced"] == "1/2" and failed["conditions"][0]["reason"] == "SyncFailed"
    assert "m/main/p: reload: HTTP 500" in failed["conditions"][0]["message"]
    assert alert_rule_status(BODY, [], [_target("Pending")])["conditions"][0]["reason"] == "Pending"
    assert alert_rule_status(BODY, [], [])["conditions"][0]["reason"] == "NotSelected"
    issue = ValidationIssue(group="g", rule="A", field="spec.groups[0].rules[0].expr", message="invalid PromQL: x")
    invalid = alert_rule_status(BODY, [issue], [_target("Synced")])
    assert invalid["conditions"][0]["status"] == "False" and invalid["conditions"][0]["reason"] == "Invalid"
    assert invalid["validationErrors"] == [issue.to_wire()]


def test_last_transition_time_is_kept_while_the_status_holds() -> None:
    first = alert_rule_status(BODY, [], [_target("Synced")])
    again = alert_rule_status({**BODY, "status": {"conditions": first["conditions"]}}, [], [_target("Synced")])
    assert again["conditions"][0]["lastTransitionTime"] == first["conditions"][0]["lastTransitionTime"]


def test_shard_report_states() -> None:
    base = {"cluster": "m/main", "evaluator": "p", "file_hash": "f", "shard_hash": "s", "loaded_time": None}
    assert ShardReport(**base, loaded_hash="s", error=None).target_status().state == "Synced"
    assert ShardReport(**base, loaded_hash="old", error=None).target_status().state == "Pending"
    failed = ShardReport(**base, loaded_hash="old", error="reload failed").target_status()
    assert (failed.state, failed.message) == ("Failed", "reload failed")


def test_cluster_status() -> None:
    health = [
        TargetHealth(name="alertmanager", type="alertmanager", reachable=True),
        TargetHealth(name="p", type="prometheus", reachable=True),
        TargetHealth(name="v", type="vmalert", reachable=False, message="ConnectError"),
    ]
    status = cluster_status({"metadata": {"generation": 1}}, health, {"p": 5, "v": 5}, None)
    assert status["healthy"] == "2/3" and status["counts"]["rules"] == 5
    assert [t.get("rules") for t in status["targets"]] == [None, 5, 5]
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "TargetsUnhealthy", "v: ConnectError")
    assert cluster_status({"metadata": {}}, [], {}, None)["conditions"][0]["reason"] == "Probing"
    assert cluster_status({"metadata": {}}, health[:2], {}, "boom")["conditions"][0]["reason"] == "RenderFailed"
