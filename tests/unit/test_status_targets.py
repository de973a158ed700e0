"""An AlertRule's `status.targets` holds one entry per (cluster, evaluator), so `synced` counts
evaluators (`2/2`), never rule files: the tester's sequence, a valid rule synced by two evaluators,
then an edit to invalid PromQL that both evaluators' tools refuse while their shards keep (and the
targets still load) the last good file."""

from __future__ import annotations

import copy
from typing import Any

from alertagent.api.alertrule import RuleTargetStatus
from alertagent.common.hashing import content_hash
from alertagent.plans.rules import index_alert_rule
from alertagent.reconcile.state import OperatorState
from alertagent.reconcile.status import write_rule_status
from alertagent.render.validation import template_issues
from alertagent.settings import Settings
from alertagent.status import ShardReport, alert_rule_status, one_per_target

RULE: dict[str, Any] = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "AlertRule",
    "metadata": {"name": "api", "namespace": "team", "uid": "u", "generation": 1, "resourceVersion": "1"},
    "spec": {"groups": [{"name": "g", "rules": [{"alert": "Down", "expr": "up == 0"}]}]},
}
EVALUATORS = ("prometheus", "vmalert")


class _Kube:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.statuses.append(copy.deepcopy(status))
        return {**RULE, "status": copy.deepcopy(status)}

    def post_event(self, about: dict[str, Any], type: str, reason: str, message: str) -> None:
        pass


def _loaded(file_hash: str) -> list[ShardReport]:
    """Each evaluator's shard holds a file with this hash, loaded by its target."""
    return [
        ShardReport("team/main", e, file_hash, f"s-{e}", f"s-{e}", "2026-11-30T10:00:00+00:00", None, f"team/{e}-0")
        for e in EVALUATORS
    ]


def test_an_edit_to_invalid_promql_keeps_one_entry_per_evaluator() -> None:
    kube = _Kube()
    state = OperatorState(settings=Settings(), kube=kube, queue=None, api=None)  # type: ignore[arg-type]
    valid = index_alert_rule(RULE, template_issues)
    assert valid.valid and valid.rule_file is not None
    good = content_hash({valid.file_name: valid.rule_file})
    assert write_rule_status(state, RULE, valid, lambda _: _loaded(good))
    first = kube.statuses[-1]
    assert (first["synced"], first["conditions"][0]["reason"]) == ("2/2", "Synced")

    edited = copy.deepcopy({**RULE, "status": first})
    edited["metadata"]["generation"] = 2
    edited["spec"]["groups"][0]["rules"][0]["expr"] = "rate(up[5m]"  # a parenthesis short
    invalid = index_alert_rule(edited, template_issues)
    # Each evaluator's tool refuses the new file; its last good file stays in the shard, loaded.
    for evaluator in EVALUATORS:
        state.rejections.update(
            "team/main", evaluator, {invalid.file_name: "refused; its last good version stays live"}
        )
    assert write_rule_status(state, edited, invalid, lambda _: _loaded(good))
    status = kube.statuses[-1]
    assert [(t["cluster"], t["evaluator"], t["state"]) for t in status["targets"]] == [
        ("team/main", "prometheus", "Failed"),
        ("team/main", "vmalert", "Failed"),
    ]
    assert status["synced"] == "0/2"
    # Nothing new: nothing written.
    assert not write_rule_status(state, {**edited, "status": status}, invalid, lambda _: _loaded(good))


def test_the_least_advanced_state_stands_for_a_target_whatever_the_order() -> None:
    def target(evaluator: str, state: str, config_hash: str) -> RuleTargetStatus:
        return RuleTargetStatus(cluster="m/main", evaluator=evaluator, state=state, config_hash=config_hash)

    moving = [target("p", "Synced", "old"), target("p", "Pending", "new"), target("v", "Synced", "new")]
    for order in (moving, moving[::-1]):
        assert [(t.evaluator, t.state) for t in one_per_target(order)] == [("p", "Pending"), ("v", "Synced")]
    status = alert_rule_status(RULE, [], moving)
    assert status["synced"] == "1/2" and len(status["targets"]) == 2
