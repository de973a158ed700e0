"""Test-send (pure): the synthetic alert carries the channel's test label, so only its test route takes it."""

from __future__ import annotations

from datetime import UTC, datetime

from alertagent.common.identity import ObjectRef
from alertagent.common.labels import TEST_LABEL
from alertagent.plans.testsend import last_test, synthetic_alert

NOW = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_synthetic_alert_names_the_channel_and_fires_for_five_minutes() -> None:
    alert = synthetic_alert(ObjectRef("NotificationChannel", "team-a", "hooks"), "v1", NOW)
    assert alert["labels"][TEST_LABEL] == "team-a/hooks"
    assert alert["labels"]["namespace"] == "team-a"  # isolation routes see it as the team's own alert
    assert (alert["startsAt"], alert["endsAt"]) == ("2026-01-01T12:00:00.123456Z", "2026-01-01T12:05:00.123456Z")
    assert alert["labels"]["alertagent_test_send"] == "v1"  # each request an alert (and a group) of its own


def test_last_test_records_the_outcome_with_a_bounded_message() -> None:
    result = last_test("v2", False, "x" * 5000, NOW)
    assert (result["time"], result["result"], len(result["message"])) == ("2026-01-01T12:00:00Z", "Failed", 1000)
    assert last_test("v2", True, "accepted", NOW)["result"] == "Succeeded"
