"""No two distinct objects map to one name: rule files, the files of invalid rules carried over from
the former scheme, shards of two evaluators, and a cluster's alertmanager Secret."""

from __future__ import annotations

import pytest

from alertagent.api import AlertmanagerCluster
from alertagent.plans.alertmanager import plan_alertmanager_config
from alertagent.plans.rules import plan_rules
from alertagent.render.alertmanager import render_alertmanager
from tests.unit.test_plan_rules import OWNER, cluster, rule


def test_rules_whose_names_joined_by_a_dash_collide_get_two_files() -> None:
    first, second = rule("x-rules", namespace="team-a"), rule("a-x-rules", namespace="team")
    assert first.legacy_file_name == second.legacy_file_name == "team-a-x-rules.yaml"  # the former scheme
    plan = plan_rules(cluster(), OWNER, [first, second], {}, {})
    (write,) = plan.evaluators[0].config_maps.writes
    assert set(write.body["data"]) == {"team-a_x-rules.yaml", "team_a-x-rules.yaml"}
    assert plan.rule_counts == {"prometheus": 2}


def test_an_invalid_rule_keeps_its_last_good_file_across_the_rename_in_one_write_per_shard() -> None:
    legacy = {
        "prometheus": {
            "main-prometheus-rules-0": {
                "metadata": {"name": "main-prometheus-rules-0", "annotations": {}},
                "data": {"team-a-api.yaml": "groups: [{name: api, rules: [{alert: Old, expr: vector(1)}]}]\n"},
            }
        }
    }
    plan = plan_rules(cluster(), OWNER, [rule("api", expr="sum(("), rule("db")], {}, legacy)
    (write,) = plan.evaluators[0].config_maps.writes  # the migration is one write of the shard
    data = write.body["data"]
    assert data["team-a_api.yaml"] == legacy["prometheus"]["main-prometheus-rules-0"]["data"]["team-a-api.yaml"]
    assert data["team-a-api.yaml"] is None  # the old key goes in the same write
    assert "team-a_db.yaml" in data


def test_a_legacy_file_two_rules_shared_is_carried_for_neither() -> None:
    shared = {
        "prometheus": {
            "main-prometheus-rules-0": {
                "metadata": {"name": "main-prometheus-rules-0", "annotations": {}},
                "data": {"team-a-x-rules.yaml": "groups: []\n"},
            }
        }
    }
    broken = [rule("x-rules", namespace="team-a", expr="sum(("), rule("a-x-rules", namespace="team", expr="(")]
    plan = plan_rules(cluster(), OWNER, broken, {}, shared)
    assert plan.rule_counts == {"prometheus": 0}


def test_two_evaluators_writing_the_same_config_maps_are_refused() -> None:
    same = [
        {"name": "p", "type": "prometheus", "url": "http://p", "configMapPrefix": "rules"},
        {"name": "v", "type": "vmalert", "url": "http://v", "configMapPrefix": "rules"},
    ]
    with pytest.raises(ValueError, match="evaluators share the ConfigMap prefix 'rules'"):
        plan_rules(cluster(*same), OWNER, [], {}, {})


def test_a_secret_of_another_cluster_is_never_overwritten() -> None:
    amc = AlertmanagerCluster.model_validate(
        {
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {"alertmanager": {"url": "http://am", "configSecret": {"name": "shared"}}},
        }
    )
    rendered = render_alertmanager(amc, [], [], lambda ns, ref: None)
    theirs = {"metadata": {"name": "shared", "labels": {"alertagent.io/cluster": "other"}}}
    plan = plan_alertmanager_config(amc, OWNER, [], [], rendered, None, theirs)
    assert plan.secret is None
    assert plan.error == (
        "Secret monitoring/shared exists and is AlertmanagerCluster other's: set spec.alertmanager.configSecret.name"
    )
    unmanaged = plan_alertmanager_config(amc, OWNER, [], [], rendered, None, {"metadata": {"name": "shared"}})
    assert unmanaged.secret is None and "is not AlertAgent's" in (unmanaged.error or "")
