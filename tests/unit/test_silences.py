"""Silences for one-off windows (pure): what should exist and the plan to get there."""

from __future__ import annotations

from datetime import UTC, datetime

from alertagent.api import AlertmanagerCluster, SuppressionPolicy
from alertagent.plans.silences import desired_silences, plan_silences

NOW = datetime(2026, 11, 22, tzinfo=UTC)
CLUSTER = AlertmanagerCluster.model_validate(
    {"metadata": {"name": "main", "namespace": "monitoring"}, "spec": {"alertmanager": {"url": "http://am:9093"}}}
)


def _policy(*windows: dict, matchers: list | None = None) -> SuppressionPolicy:
    return SuppressionPolicy.model_validate(
        {
            "metadata": {"name": "p", "namespace": "team"},
            "spec": {
                "matchers": [{"name": "service", "value": "api"}] if matchers is None else matchers,
                "maintenanceWindows": list(windows),
            },
        }
    )


FUTURE = {"name": "w", "start": "2026-12-01T01:00:00Z", "end": "2026-12-01T03:00:00Z", "comment": "upgrade"}


def test_desired_silence_is_scoped_and_marked() -> None:
    [silence] = desired_silences(CLUSTER, [_policy(FUTURE, {"name": "r", "recurring": {}})], NOW)
    body = silence.body()
    assert body["matchers"] == [
        {"name": "namespace", "value": "team", "isRegex": False, "isEqual": True},
        {"name": "service", "value": "api", "isRegex": False, "isEqual": True},
    ]
    assert (body["startsAt"], body["endsAt"]) == ("2026-12-01T01:00:00Z", "2026-12-01T03:00:00Z")
    assert body["createdBy"] == "alertagent" and body["comment"] == "alertagent.io/window=team/p/w upgrade"


def test_ended_windows_and_policies_without_matchers_get_no_silence() -> None:
    past = {"name": "old", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    assert desired_silences(CLUSTER, [_policy(past)], NOW) == []
    unscoped = AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "m", "namespace": "x"},
            "spec": {"alertmanager": {"url": "http://a"}, "namespaceIsolation": "None"},
        }
    )
    assert desired_silences(unscoped, [_policy(FUTURE, matchers=[])], NOW) == []


def _existing(silence_id: str, body: dict, state: str = "pending") -> dict:
    return {**body, "id": silence_id, "status": {"state": state}}


def test_plan_creates_keeps_updates_expires_and_dedupes() -> None:
    [want] = desired_silences(CLUSTER, [_policy(FUTURE)], NOW)
    assert [d.marker for d in plan_silences([want], []).create] == ["team/p/w"]

    same = plan_silences([want], [_existing("a", want.body())])
    assert (same.create, same.update, same.expire, same.keep) == ([], [], [], {"team/p/w": "a"})

    moved = {**want.body(), "endsAt": "2026-12-01T04:00:00Z"}
    changed = plan_silences([want], [_existing("a", moved)])
    assert changed.update == [("a", want)] and changed.create == []

    doubled = plan_silences([want], [_existing("a", want.body()), _existing("b", want.body())])
    assert doubled.keep == {"team/p/w": "a"} and doubled.expire == ["b"]

    gone = plan_silences([], [_existing("a", want.body()), _existing("z", want.body(), state="expired")])
    assert gone.expire == ["a"]

    foreign = {**want.body(), "createdBy": "someone", "comment": "manual"}
    assert plan_silences([], [_existing("m", foreign)]).expire == []


def test_a_window_that_started_before_its_silence_is_kept_not_recreated() -> None:
    """Alertmanager starts a silence whose start is past when it is created: the active silence's later
    start is right, so no update (which Alertmanager would turn into a new silence every reconcile)."""
    started = {"name": "w", "start": "2026-11-21T23:59:00Z", "end": "2026-11-22T02:00:00Z"}
    [want] = desired_silences(CLUSTER, [_policy(started)], NOW)
    clamped = {**want.body(), "startsAt": "2026-11-22T00:00:03.512Z"}
    kept = plan_silences([want], [_existing("a", clamped, state="active")])
    assert (kept.keep, kept.update, kept.create) == ({"team/p/w": "a"}, [], [])
    # A pending silence with another start, or an active one starting before the window, is updated.
    assert plan_silences([want], [_existing("a", clamped)]).update == [("a", want)]
    early = {**want.body(), "startsAt": "2026-11-21T23:00:00Z"}
    assert plan_silences([want], [_existing("a", early, state="active")]).update == [("a", want)]
