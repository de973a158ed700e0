"""The rules step's plan: what is written, skipped, carried over, removed and rejected per evaluator."""

from __future__ import annotations

from typing import Any

from alertagent.api import AlertmanagerCluster
from alertagent.common.hashing import content_hash
from alertagent.common.labels import CONTENT_HASH_ANNOTATION
from alertagent.plans.configmaps import plan_config_maps
from alertagent.plans.rules import IndexedRule, RulesPlan, index_alert_rule, plan_rules

OWNER = {"name": "main", "namespace": "monitoring", "uid": "uid-1"}


def cluster(*evaluators: dict[str, Any]) -> AlertmanagerCluster:
    return AlertmanagerCluster.model_validate(
        {
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {
                "alertmanager": {"url": "http://am:9093"},
                "ruleEvaluators": list(evaluators)
                or [{"name": "prometheus", "type": "prometheus", "url": "http://prom:9090"}],
            },
        }
    )


def rule(name: str, expr: str = "vector(1)", namespace: str = "team-a", alerts: int = 1) -> IndexedRule:
    rules = [{"alert": f"{name.title()}{i}", "expr": expr} for i in range(alerts)]
    return index_alert_rule(
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertRule",
            "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"groups": [{"name": name, "rules": rules}]},
        }
    )


def deployed_from(plan: RulesPlan) -> dict[str, dict[str, dict[str, Any]]]:
    """The shards as they would be listed after applying `plan` to an empty namespace."""
    return {e.evaluator: {w.body["metadata"]["name"]: w.body for w in e.config_maps.writes} for e in plan.evaluators}


def test_valid_rules_are_written_once_with_hash_labels_and_owner() -> None:
    plan = plan_rules(cluster(), OWNER, [rule("api"), rule("db", alerts=2)], {}, {})
    (evaluator,) = plan.evaluators
    (write,) = evaluator.config_maps.writes
    meta = write.body["metadata"]
    assert (meta["name"], meta["namespace"], write.exists) == ("main-prometheus-rules-0", "monitoring", False)
    assert set(write.body["data"]) == {"team-a_api.yaml", "team-a_db.yaml"}
    assert meta["annotations"][CONTENT_HASH_ANNOTATION] == content_hash(write.body["data"])
    assert meta["labels"]["alertagent.io/evaluator"] == "prometheus"
    assert (
        meta["ownerReferences"][0] | {"uid": "uid-1", "kind": "AlertmanagerCluster", "controller": True}
        == (meta["ownerReferences"][0])
    )
    assert plan.rule_counts == {"prometheus": 3}
    assert plan.changes == 1


def test_an_unchanged_shard_is_not_written_again() -> None:
    rules = [rule("api"), rule("db")]
    first = plan_rules(cluster(), OWNER, rules, {}, {})
    again = plan_rules(cluster(), OWNER, rules, {}, deployed_from(first))
    assert again.changes == 0
    assert again.rule_counts == {"prometheus": 2}


def test_an_invalid_rule_keeps_its_last_good_file_and_a_new_invalid_one_is_left_out() -> None:
    good = plan_rules(cluster(), OWNER, [rule("api"), rule("db")], {}, {})
    broken = [rule("api", expr="sum(("), rule("db"), rule("new", expr="rate(x[5m]")]
    assert not broken[0].valid and not broken[2].valid
    plan = plan_rules(cluster(), OWNER, broken, {}, deployed_from(good))
    assert plan.changes == 0  # api's deployed file carried over unchanged; "new" was never deployed
    assert plan.rule_counts == {"prometheus": 2}  # the carried-over file is counted by parsing it


def test_a_file_no_longer_selected_is_removed_from_its_shard() -> None:
    first = plan_rules(cluster(), OWNER, [rule("api"), rule("db")], {}, {})
    plan = plan_rules(cluster(), OWNER, [rule("api")], {}, deployed_from(first))
    (write,) = plan.evaluators[0].config_maps.writes
    assert write.exists
    assert write.body["data"]["team-a_db.yaml"] is None  # strategic merge patch: null removes the key
    assert "team-a_api.yaml" in write.body["data"]


def test_surplus_shards_are_deleted_after_the_writes() -> None:
    evaluator = {"name": "p", "type": "prometheus", "url": "http://p", "maxConfigMapBytes": 16384}
    many = [rule(f"r{i}", alerts=150) for i in range(4)]
    first = plan_rules(cluster(evaluator), OWNER, many, {}, {})
    assert len(first.evaluators[0].config_maps.writes) > 1
    plan = plan_rules(cluster(evaluator), OWNER, many[:1], {}, deployed_from(first))
    shards = plan.evaluators[0].config_maps
    assert shards.deletes and "main-p-rules-0" not in shards.deletes
    assert [w.body["metadata"]["name"] for w in shards.writes] == ["main-p-rules-0"]


def test_a_file_too_large_is_rejected_for_that_evaluator_alone() -> None:
    small = {"name": "small", "type": "vmalert", "url": "http://vm", "maxConfigMapBytes": 16384}
    large = {"name": "large", "type": "prometheus", "url": "http://p"}
    plan = plan_rules(cluster(small, large), OWNER, [rule("big", alerts=700), rule("tiny")], {}, {})
    assert plan.rejected["small"].keys() == {"team-a_big.yaml"}
    assert "over the 16384-byte ConfigMap limit of evaluator small" in plan.rejected["small"]["team-a_big.yaml"]
    assert plan.rejected["large"] == {}
    assert plan.rule_counts == {"small": 1, "large": 701}


def test_operator_mode_evaluators_are_listed_with_their_url() -> None:
    operator = {"name": "p", "type": "prometheus", "url": "http://p:9090/", "reloadMode": "Operator"}
    plan = plan_rules(cluster(operator), OWNER, [], {}, {})
    assert plan.operator_mode == (("p", "http://p:9090"),)


def test_config_map_set_plan_skips_matching_annotations_and_deletes_the_rest() -> None:
    desired = [
        {"metadata": {"name": "a", "annotations": {"h": "1"}}, "data": {"k": "v"}},
        {"metadata": {"name": "b", "annotations": {"h": "2"}}, "data": {"k": "v"}},
    ]
    existing = {
        "a": {"metadata": {"name": "a", "annotations": {"h": "1", "other": "kept"}}, "data": {"k": "v"}},
        "b": {"metadata": {"name": "b", "annotations": {"h": "1"}}, "data": {"k": "v", "old": "x"}},
        "c": {"metadata": {"name": "c"}},
    }
    plan = plan_config_maps("ns", desired, existing)
    assert [(w.body["metadata"]["name"], w.exists, w.body["data"]) for w in plan.writes] == [
        ("b", True, {"k": "v", "old": None})
    ]
    assert plan.deletes == ("c",)
