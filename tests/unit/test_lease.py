"""Leader election through a Lease (`plans.lease`, `clients.leader`), with time faked and an
in-memory Lease store that keeps resourceVersions as the API server does (an update carrying an
older one gets 409): acquire when there is none, when released or expired, never while another
holder renews; renew; leadership ending at the renew deadline; release; a lost race (409); the
options' rule; and the asyncio loop's transitions (leading, exiting on loss, releasing on stop)."""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Mapping
from typing import Any

import pytest

from alertagent.clients.leader import LeaderElector
from alertagent.plans.lease import Elector, LeaseOptions, lease_holder, microtime, parse_time

T0 = 1_800_000_000.0
CLIENT_GO = LeaseOptions(duration=15, renew_interval=2, renew_deadline=10, trust_renew_time=False)


class Clock:
    def __init__(self) -> None:
        self.wall, self.mono = T0, 1000.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class Store:
    """Leases by name; resourceVersion bumps on every write; a stale update or a second create is
    refused as the API server refuses it (409 -> None)."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.writes: list[tuple[str, str]] = []  # (verb, holder)
        self.failing = False

    def _stored(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        lease = copy.deepcopy(dict(body))
        lease["metadata"] = {**lease["metadata"], "resourceVersion": str(self.version)}
        self.leases[lease["metadata"]["name"]] = lease
        return copy.deepcopy(lease)

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.failing:
            raise OSError("the API server is unreachable")
        found = self.leases.get(name)
        return copy.deepcopy(found) if found else None

    def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        if body["metadata"]["name"] in self.leases:
            return None
        self.writes.append(("create", body["spec"]["holderIdentity"]))
        return self._stored(body)

    def replace_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        if self.failing:
            raise OSError("the API server is unreachable")
        current = self.leases.get(body["metadata"]["name"])
        if current is None or current["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            return None
        self.writes.append(("update", body["spec"]["holderIdentity"]))
        return self._stored(body)


def candidate(identity: str, clock: Clock, options: LeaseOptions = CLIENT_GO) -> Elector:
    return Elector("ops", "alertagent", identity, options, lambda: clock.wall, lambda: clock.mono, {"a": "b"})


def test_the_first_candidate_creates_the_lease_and_leads() -> None:
    clock, store = Clock(), Store()
    a = candidate("a", clock)
    assert not a.leader
    assert a.step(store) == 2
    assert a.leader and store.writes == [("create", "a")]
    lease = store.leases["alertagent"]
    assert lease["metadata"]["labels"] == {"a": "b"} and lease["spec"]["leaseDurationSeconds"] == 15
    assert parse_time(lease["spec"]["renewTime"]) == T0 and lease["spec"]["leaseTransitions"] == 0


def test_a_held_lease_is_not_taken_while_its_holder_renews() -> None:
    clock, store = Clock(), Store()
    a, b = candidate("a", clock), candidate("b", clock)
    a.step(store)
    for _ in range(20):  # 40 s: a renews every 2 s, b tries every 2 s
        b.step(store)
        clock.tick(2)
        a.step(store)
    assert a.leader and not b.leader
    assert lease_holder(store.leases["alertagent"]) == "a"
    assert {holder for _, holder in store.writes} == {"a"}  # b wrote nothing


def test_an_expired_lease_is_taken_a_lease_duration_after_it_was_last_seen_changing() -> None:
    clock, store = Clock(), Store()
    a, b = candidate("a", clock), candidate("b", clock)
    a.step(store)
    b.step(store)  # b sees a's record
    clock.tick(14.9)
    b.step(store)
    assert not b.leader
    assert 0.1 < b.wait(store.leases["alertagent"]) < 0.2  # it retries just after expiry
    clock.tick(0.1)
    b.step(store)
    assert b.leader and lease_holder(store.leases["alertagent"]) == "b"
    assert store.leases["alertagent"]["spec"]["leaseTransitions"] == 1


def test_without_trusting_renew_time_a_stale_looking_lease_still_waits_a_full_duration() -> None:
    """client-go's rule: another node's clock never expires a Lease; a fresh candidate waits a lease
    duration from its own first sight of the record."""
    clock, store = Clock(), Store()
    a = candidate("a", clock)
    a.step(store)
    clock.tick(3600)  # a died an hour ago (or its clock is an hour behind)
    b = candidate("b", clock)
    b.step(store)
    assert not b.leader
    clock.tick(15)
    b.step(store)
    assert b.leader
    trusting = candidate("c", clock, LeaseOptions(duration=15, renew_interval=2, renew_deadline=10))
    clock.tick(3600)
    trusting.step(store)  # the wall clock says b's Lease expired long ago: taken at once
    assert trusting.leader


def test_the_holder_renews_and_stops_leading_at_the_renew_deadline_when_it_cannot() -> None:
    clock, store = Clock(), Store()
    a = candidate("a", clock)
    a.step(store)
    clock.tick(2)
    a.step(store)
    assert parse_time(store.leases["alertagent"]["spec"]["renewTime"]) == T0 + 2 and a.leader
    store.failing = True
    clock.tick(9.9)
    with pytest.raises(OSError):
        a.step(store)
    assert a.leader  # 9.9 s since the last renewal
    clock.tick(0.1)
    assert not a.leader  # 10 s: the renew deadline, 5 s before anyone may take over


def test_a_released_lease_is_taken_at_the_next_attempt() -> None:
    clock, store = Clock(), Store()
    a, b = candidate("a", clock), candidate("b", clock)
    a.step(store)
    b.step(store)
    assert a.release(store)
    lease = store.leases["alertagent"]
    assert lease_holder(lease) == "" and lease["spec"]["leaseDurationSeconds"] == 1 and not a.leader
    clock.tick(0.5)
    b.step(store)
    assert b.leader
    assert not a.release(store)  # not the holder: nothing to give up


def test_of_two_candidates_racing_for_an_expired_lease_one_wins_and_the_other_gets_a_conflict() -> None:
    clock, store = Clock(), Store()
    candidate("a", clock).step(store)
    b, c = candidate("b", clock), candidate("c", clock)
    b.step(store), c.step(store)
    clock.tick(15)
    seen = store.get_lease("ops", "alertagent")

    class Stale(Store):  # c read the Lease before b took it
        def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
            return copy.deepcopy(seen)

    b.step(store)
    stale = Stale()
    stale.leases, stale.version = store.leases, store.version
    c.step(stale)
    assert b.leader and not c.leader
    assert lease_holder(store.leases["alertagent"]) == "b"


def test_a_holder_whose_renewal_conflicts_stops_leading_at_once() -> None:
    clock, store = Clock(), Store()
    a = candidate("a", clock)
    a.step(store)
    store.leases["alertagent"]["metadata"]["resourceVersion"] = "99"  # written by someone else meanwhile

    class Stale(Store):
        def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
            return {
                **copy.deepcopy(store.leases["alertagent"]),
                "metadata": {"name": "alertagent", "resourceVersion": "1"},
            }

    stale = Stale()
    stale.leases = store.leases
    a.step(stale)
    assert not a.leader and a.renewed_at == -math.inf


@pytest.mark.parametrize(
    ("duration", "deadline", "retry"), [(15, 15, 2), (15, 10, 10), (4, 3, 0), (4.5, 3, 1), (10, 12, 2)]
)
def test_timings_that_do_not_hold_together_are_refused(duration: float, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError):
        LeaseOptions(duration=duration, renew_interval=retry, renew_deadline=deadline).check()
    LeaseOptions(duration=15, renew_interval=2, renew_deadline=10).check()


def test_micro_times_round_trip() -> None:
    assert microtime(T0 + 0.25) == "2027-01-15T08:00:00.250000Z" and parse_time(microtime(T0 + 0.25)) == T0 + 0.25
    assert parse_time("nonsense") is None and parse_time(None) is None


# -- the asyncio loop (real time, short timings) ---------------------------------------------------


def test_the_loop_leads_notices_loss_at_the_deadline_and_releases_on_stop() -> None:
    options = LeaseOptions(duration=2, renew_interval=0.1, renew_deadline=0.5, trust_renew_time=False)

    async def scenario() -> tuple[list[bool], int, str]:
        store = Store()
        changes: list[bool] = []
        lost: list[float] = []
        loop = asyncio.get_running_loop()
        elector = LeaderElector(
            store, Elector("ops", "alertagent", "a", options), changes.append, lambda: lost.append(loop.time())
        )
        elector.start()
        await asyncio.wait_for(elector.acquired.wait(), 5)
        store.failing = True  # the API server goes away: no renewal from now on
        failed_at = loop.time()
        while not lost:
            await asyncio.sleep(0.02)
        waited = lost[0] - failed_at
        assert 0.3 < waited < 0.8, waited  # at the renew deadline (0.5 s after the last renewal)
        store.failing = False
        await asyncio.sleep(0.3)  # it acquires again (the record is still its own)
        released = await elector.stop(release=True)
        assert released
        return changes, len(lost), lease_holder(store.leases["alertagent"])

    changes, lost, holder = asyncio.run(scenario())
    assert changes == [True, False, True, False] and lost == 1 and holder == ""
