"""Policy status from what the clusters rendered: generated inhibit rules counted, and forgotten with
the cluster's membership."""

from __future__ import annotations

from datetime import UTC, datetime

from alertagent.api import SuppressionPolicy
from alertagent.common.identity import ObjectRef
from alertagent.plans.alertmanager import index_object
from alertagent.plans.status import Memberships, member_status

POLICY = ObjectRef("SuppressionPolicy", "team-a", "deps")
BODY = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "SuppressionPolicy",
    "metadata": {"name": "deps", "namespace": "team-a", "generation": 1},
    "spec": {"dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}]}},
}
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENTRY = index_object(SuppressionPolicy, BODY)


def test_generated_rules_count_and_change_is_reported() -> None:
    members = Memberships()
    assert members.record("monitoring/main", {POLICY: None}, {POLICY: 3}) == {POLICY}
    status = member_status(ENTRY, BODY, members, NOW)
    assert (status["generatedInhibitRules"], status["inhibitRuleCount"]) == (3, 3)
    assert members.record("monitoring/main", {POLICY: None}, {POLICY: 3}) == set()
    assert members.record("monitoring/main", {POLICY: None}, {POLICY: 1}) == {POLICY}
    assert member_status(ENTRY, BODY, members, NOW)["generatedInhibitRules"] == 1


def test_a_cluster_that_drops_the_policy_drops_its_generated_count() -> None:
    members = Memberships()
    members.record("monitoring/main", {POLICY: None}, {POLICY: 3})
    members.record("monitoring/other", {POLICY: None}, {POLICY: 2})
    assert member_status(ENTRY, BODY, members, NOW)["generatedInhibitRules"] == 3
    assert members.record("monitoring/main", {}, {}) == {POLICY}
    assert member_status(ENTRY, BODY, members, NOW)["generatedInhibitRules"] == 2
    assert members.forget_cluster("monitoring/other") == {POLICY}
    status = member_status(ENTRY, BODY, members, NOW)
    assert (status["generatedInhibitRules"], status["inhibitRuleCount"]) == (0, 0)
    assert status["conditions"][0]["reason"] == "NotSelected"


def test_silence_ids_are_listed_on_their_policy_and_changes_name_it() -> None:
    members = Memberships()
    assert members.record_silences("monitoring/main", {"team-a/deps/upgrade": "s1"}) == {POLICY}
    assert members.record_silences("monitoring/main", {"team-a/deps/upgrade": "s1"}) == set()
    status = member_status(ENTRY, BODY, members, NOW)
    assert status["silences"] == [{"window": "upgrade", "cluster": "monitoring/main", "id": "s1"}]
    assert members.record_silences("monitoring/main", {}) == {POLICY}
    assert member_status(ENTRY, BODY, members, NOW)["silences"] == []
