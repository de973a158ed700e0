"""Policy status from what the clusters rendered: generated inhibit rules counted, and forgotten with
the cluster's membership."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alertagent.handlers import object_status

POLICY = ("SuppressionPolicy", "team-a", "deps")
BODY = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "SuppressionPolicy",
    "metadata": {"name": "deps", "namespace": "team-a", "generation": 1},
    "spec": {"dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}]}},
}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(object_status, "_MEMBERS", {})
    monkeypatch.setattr(object_status, "_GENERATED", {})


def test_generated_rules_count_and_change_is_reported() -> None:
    assert object_status.record("monitoring/main", {POLICY: None}, {"team-a/deps": 3}) == {POLICY}
    status = object_status.compose("SuppressionPolicy", BODY, NOW)
    assert (status["generatedInhibitRules"], status["inhibitRuleCount"]) == (3, 3)
    assert object_status.record("monitoring/main", {POLICY: None}, {"team-a/deps": 3}) == set()
    assert object_status.record("monitoring/main", {POLICY: None}, {"team-a/deps": 1}) == {POLICY}
    assert object_status.compose("SuppressionPolicy", BODY, NOW)["generatedInhibitRules"] == 1


def test_a_cluster_that_drops_the_policy_drops_its_generated_count() -> None:
    object_status.record("monitoring/main", {POLICY: None}, {"team-a/deps": 3})
    object_status.record("monitoring/other", {POLICY: None}, {"team-a/deps": 2})
    assert object_status.compose("SuppressionPolicy", BODY, NOW)["generatedInhibitRules"] == 3
    assert object_status.record("monitoring/main", {}, {}) == {POLICY}
    assert object_status.compose("SuppressionPolicy", BODY, NOW)["generatedInhibitRules"] == 2
    object_status.record("monitoring/other", {}, {})
    status = object_status.compose("SuppressionPolicy", BODY, NOW)
    assert (status["generatedInhibitRules"], status["inhibitRuleCount"]) == (0, 0)
