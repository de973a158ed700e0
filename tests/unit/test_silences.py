"""Silences for one-off windows (pure): what should exist and the plan to get there; each cluster
plans only its own silences, so clusters sharing one Alertmanager never expire each other's."""

from __future__ import annotations

from datetime import UTC, datetime

from alertagent.api import AlertmanagerCluster, SuppressionPolicy
from alertagent.plans.silences import (
    DesiredSilence,
    desired_silences,
    expiries_on_delete,
    owner_of,
    plan_silences,
    unreachable_detail,
    unreachable_error,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)
KEY = "monitoring/main"
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
    assert body["createdBy"] == "alertagent"
    assert body["comment"] == "alertagent.io/window=team/p/w alertagent.io/cluster=monitoring/main upgrade"


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
    assert [d.marker for d in plan_silences(KEY, [want], []).create] == ["team/p/w"]

    same = plan_silences(KEY, [want], [_existing("a", want.body())])
    assert (same.create, same.update, same.expire, same.keep) == ([], [], [], {"team/p/w": "a"})

    moved = {**want.body(), "endsAt": "2026-12-01T04:00:00Z"}
    changed = plan_silences(KEY, [want], [_existing("a", moved)])
    assert changed.update == [("a", want)] and changed.create == []

    doubled = plan_silences(KEY, [want], [_existing("a", want.body()), _existing("b", want.body())])
    assert doubled.keep == {"team/p/w": "a"} and doubled.expire == ["b"]

    gone = plan_silences(KEY, [], [_existing("a", want.body()), _existing("z", want.body(), state="expired")])
    assert gone.expire == ["a"]

    foreign = {**want.body(), "createdBy": "someone", "comment": "manual"}
    assert plan_silences(KEY, [], [_existing("m", foreign)]).expire == []


def test_a_window_that_started_before_its_silence_is_kept_not_recreated() -> None:
    """Alertmanager starts a silence whose start is past when it is created: the active silence's later
    start is right, so no update (which Alertmanager would turn into a new silence every reconcile)."""
    started = {"name": "w", "start": "2026-11-21T23:59:00Z", "end": "2026-11-22T02:00:00Z"}
    [want] = desired_silences(CLUSTER, [_policy(started)], NOW)
    clamped = {**want.body(), "startsAt": "2026-11-22T00:00:03.512Z"}
    kept = plan_silences(KEY, [want], [_existing("a", clamped, state="active")])
    assert (kept.keep, kept.update, kept.create) == ({"team/p/w": "a"}, [], [])
    # A pending silence with another start, or an active one starting before the window, is updated.
    assert plan_silences(KEY, [want], [_existing("a", clamped)]).update == [("a", want)]
    early = {**want.body(), "startsAt": "2026-11-21T23:00:00Z"}
    assert plan_silences(KEY, [want], [_existing("a", early, state="active")]).update == [("a", want)]


# Two clusters on one Alertmanager, as the tester had them: the demo's `monitoring/main`, and
# `ha-test/main` with a one-off window of its own.
HA = AlertmanagerCluster.model_validate(
    {"metadata": {"name": "main", "namespace": "ha-test"}, "spec": {"alertmanager": {"url": "http://am:9093"}}}
)


def _silences_after(key: str, desired: list[DesiredSilence], alertmanager: list[dict]) -> list[dict]:
    """Apply `key`'s plan to a list standing for Alertmanager (an update keeps its id; an expired
    silence stays listed as expired, as Alertmanager lists it)."""
    plan = plan_silences(key, desired, alertmanager)
    by_id = {s["id"]: s for s in alertmanager}
    for silence_id in plan.expire:
        by_id[silence_id] = {**by_id[silence_id], "status": {"state": "expired"}}
    for silence_id, want in plan.update:
        by_id[silence_id] = _existing(silence_id, want.body())
    for n, want in enumerate(plan.create):
        silence_id = f"{key}#{len(by_id) + n}"
        by_id[silence_id] = _existing(silence_id, want.body())
    return list(by_id.values())


def test_two_clusters_on_one_alertmanager_keep_each_others_silences() -> None:
    mine = desired_silences(HA, [_policy(FUTURE)], NOW)
    am = _silences_after("ha-test/main", mine, [])
    [made] = [s for s in am if s["status"]["state"] != "expired"]
    assert owner_of(made) is not None and owner_of(made).cluster == "ha-test/main"  # type: ignore[union-attr]
    # The demo's cluster wants no window at all: the other cluster's silence is not its to expire.
    demo = plan_silences(KEY, [], am)
    assert (demo.create, demo.update, demo.expire, demo.keep) == ([], [], [], {})
    # Both want the same window (both select the policy): each has its own silence, and rounds of
    # both plans in turn change nothing more (no churn).
    theirs = desired_silences(CLUSTER, [_policy(FUTURE)], NOW)
    am = _silences_after(KEY, theirs, am)
    for _ in range(3):
        before = am
        am = _silences_after("ha-test/main", mine, _silences_after(KEY, theirs, am))
        assert am == before
    live = sorted(owner_of(s).cluster for s in am if s["status"]["state"] != "expired")  # type: ignore[union-attr]
    assert live == ["ha-test/main", "monitoring/main"]
    # Removing the window from one cluster's selection expires its silence alone.
    gone = plan_silences(KEY, [], am)
    assert [owner_of(s).cluster for s in am if s["id"] in gone.expire] == ["monitoring/main"]  # type: ignore[union-attr]


def _legacy(silence_id: str, want: DesiredSilence, state: str = "pending", **changes: str) -> dict:
    """A silence as versions before the cluster was named made it."""
    body = {**want.body(), "comment": f"alertagent.io/window={want.marker} {want.comment}".strip(), **changes}
    return _existing(silence_id, body, state)


def test_a_legacy_silence_is_adopted_in_place_once_not_recreated() -> None:
    [want] = desired_silences(CLUSTER, [_policy(FUTURE)], NOW)
    legacy = _legacy("old", want)
    assert owner_of(legacy) is not None and owner_of(legacy).cluster is None  # type: ignore[union-attr]
    plan = plan_silences(KEY, [want], [legacy])
    assert (plan.update, plan.adopted, plan.create, plan.expire) == ([("old", want)], ["old"], [], [])
    adopted = _existing("old", want.body())
    assert plan_silences(KEY, [want], [adopted]).keep == {"team/p/w": "old"}
    # An active one whose start Alertmanager clamped keeps that start: Alertmanager then updates it in
    # place (an active silence's start cannot change) instead of replacing it with a new id.
    started = {"name": "w", "start": "2026-11-21T23:59:00Z", "end": "2026-11-22T02:00:00Z"}
    [now] = desired_silences(CLUSTER, [_policy(started)], NOW)
    clamped = _legacy("act", now, state="active", startsAt="2026-11-22T00:00:03.512Z")
    [(silence_id, body)] = plan_silences(KEY, [now], [clamped]).update
    assert silence_id == "act" and body.body()["startsAt"] == "2026-11-22T00:00:03.512000Z"
    assert body.body()["comment"].startswith("alertagent.io/window=team/p/w alertagent.io/cluster=monitoring/main")
    # Once adopted, it is kept as it is (its start is the clamped one, which is right).
    kept = plan_silences(KEY, [now], [_existing("act", body.body(), state="active")])
    assert (kept.keep, kept.update, kept.create) == ({"team/p/w": "act"}, [], [])


def test_a_legacy_silence_is_expired_only_by_a_cluster_that_selects_its_policy() -> None:
    [want] = desired_silences(CLUSTER, [_policy(FUTURE)], NOW)
    legacy = _legacy("old", want)
    assert plan_silences(KEY, [], [legacy]).expire == []  # not its policy: another cluster's, perhaps
    assert plan_silences(KEY, [], [legacy], selected={"team/p"}).expire == ["old"]  # its window was removed
    # A cluster that already has its own silence for the window leaves a legacy one to the cluster
    # that may still adopt it.
    own = _existing("new", want.body())
    assert plan_silences(KEY, [want], [own, legacy], selected={"team/p"}).expire == []


def test_a_silence_expired_outside_alertagent_is_created_again_and_reported() -> None:
    [want] = desired_silences(CLUSTER, [_policy(FUTURE)], NOW)
    expired = _existing("a", want.body(), state="expired")
    plan = plan_silences(KEY, [want], [expired], known={"team/p/w": "a"})
    assert plan.create == [want] and plan.recreated == {"team/p/w": "a"}
    assert plan_silences(KEY, [want], [], known={"team/p/w": "a"}).recreated == {"team/p/w": "a"}  # deleted
    # First run after a start (nothing known) or a window never made before: a creation, no report.
    assert plan_silences(KEY, [want], [expired]).recreated == {}
    # Taken over by another cluster (two adopted one legacy silence at once): not expired by anyone.
    other = _existing("a", {**want.body(), "comment": "alertagent.io/window=team/p/w alertagent.io/cluster=x/y"})
    assert plan_silences(KEY, [want], [other], known={"team/p/w": "a"}).recreated == {}


def test_deleting_a_cluster_expires_only_its_own_unexpired_silences() -> None:
    """A deleted cluster's silences would otherwise stay and mute alerts in later windows; another
    cluster's, a legacy one (names no cluster), someone else's and expired ones are left alone."""
    [mine] = desired_silences(CLUSTER, [_policy(FUTURE)], NOW)
    [theirs] = desired_silences(HA, [_policy(FUTURE)], NOW)
    started = {"name": "now", "start": "2026-11-21T23:00:00Z", "end": "2026-11-22T02:00:00Z"}
    [active] = desired_silences(CLUSTER, [_policy(started)], NOW)
    alertmanager = [
        _existing("b", mine.body()),
        _existing("a", active.body(), state="active"),
        _existing("c", mine.body(), state="expired"),
        _existing("h", theirs.body()),
        _legacy("l", mine),
        _existing("m", {**mine.body(), "createdBy": "someone", "comment": "manual"}),
    ]
    assert expiries_on_delete(KEY, alertmanager) == ["a", "b"]
    assert expiries_on_delete(KEY, []) == []


def test_the_unreachable_error_is_told_apart_from_other_step_errors() -> None:
    error = unreachable_error("ConnectError: [Errno 111] Connection refused")
    assert unreachable_detail(error) == "ConnectError: [Errno 111] Connection refused"
    assert unreachable_detail("HTTPStatusError: 400 bad matcher") is None and unreachable_detail(None) is None
