"""The work queue's contract: an isolated change runs at once (leading edge), a burst after it is
debounced (trailing edge, capped), timers never postpone or restart pending work,
failed steps retried alone with jittered exponential backoff, bad input not retried."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from alertagent.api.alertmanagercluster import TargetHealth
from alertagent.api.suppressionpolicy import SuppressionPolicy
from alertagent.plans.alertmanager import AlertmanagerPlan
from alertagent.reconcile.cluster import PERIODIC, periodic_steps
from alertagent.reconcile.queue import STEPS, Backoff, StepResult, WorkQueue
from alertagent.reconcile.state import ClusterRecord


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def queue(clock: Clock) -> WorkQueue:
    q = WorkQueue(debounce_seconds=1.0, debounce_max_seconds=5.0, backoff=Backoff(1.0, 8.0, 0.0), clock=clock)
    q.register("ns/main")
    assert q.take_due("ns/main") == (frozenset(STEPS), None)  # a new reconciler runs everything at once
    return q


def test_an_isolated_change_runs_at_once_and_the_burst_after_it_once_more_after_the_quiet_time() -> None:
    clock = Clock()
    q = queue(clock)
    assert q.take_due("ns/main") == (frozenset(), None)  # nothing pending
    clock.now += 5
    q.add("ns/main", ["rules"])
    assert q.take_due("ns/main") == (frozenset({"rules"}), None)  # leading edge: no wait
    clock.now += 0.5
    q.add("ns/main", ["alertmanager"])  # the burst goes on: trailing edge from here
    assert q.take_due("ns/main") == (frozenset(), 1.0)
    for _ in range(3):  # a change every 0.9 s keeps pushing the run back ...
        clock.now += 0.9
        q.add("ns/main", ["alertmanager"])
        assert q.take_due("ns/main")[0] == frozenset()
    clock.now += 0.9
    q.add("ns/main")
    clock.now += 0.9
    q.add("ns/main")
    steps, wait = q.take_due("ns/main")  # ... but never past debounce_max_seconds after its first change
    assert steps == frozenset()
    assert wait is not None and wait == pytest.approx(0.5)
    clock.now += 0.5
    assert q.take_due("ns/main") == (frozenset(STEPS), None)
    clock.now += 1.0  # quiet for debounce_seconds: the next change is isolated again
    q.add("ns/main", ["rules"])
    assert q.take_due("ns/main") == (frozenset({"rules"}), None)


def test_a_burst_of_any_size_is_at_most_two_runs() -> None:
    clock = Clock()
    q = queue(clock)
    clock.now += 5
    runs = 0
    for _ in range(500):  # 500 objects applied over 2.5 s
        q.add("ns/main", ["rules"])
        if q.take_due("ns/main")[0]:
            runs += 1
        clock.now += 0.005
    clock.now += 1.0
    runs += bool(q.take_due("ns/main")[0])
    assert runs == 2


def test_a_burst_ends_after_the_short_quiet_time_and_a_change_soon_after_is_still_coalesced() -> None:
    clock = Clock()
    q = WorkQueue(1.0, 5.0, Backoff(1.0, 8.0, 0.0), clock=clock, quiet_seconds=0.25)
    q.register("ns/main")
    q.take_due("ns/main")
    clock.now += 5
    runs = []
    for _ in range(500):  # kubectl applying 500 objects, 5 ms apart
        q.add("ns/main", ["rules"])
        if q.take_due("ns/main")[0]:
            runs.append(clock.now)
        clock.now += 0.005
    assert q.take_due("ns/main") == (frozenset(), pytest.approx(0.245))  # the last change + the quiet time
    clock.now += 0.245
    assert q.take_due("ns/main")[0] == frozenset({"rules"})
    assert len(runs) == 1  # with the leading run: two in all
    clock.now += 0.5  # within debounce_seconds of the burst: not isolated, coalesced after the quiet time
    q.add("ns/main", ["rules"])
    assert q.take_due("ns/main") == (frozenset(), 0.25)
    clock.now += 0.25
    assert q.take_due("ns/main")[0] == frozenset({"rules"})
    clock.now += 1.5  # isolated again
    q.add("ns/main", ["rules"])
    assert q.take_due("ns/main") == (frozenset({"rules"}), None)


def test_the_quiet_time_is_never_longer_than_the_debounce() -> None:
    q = WorkQueue(0.1, 5.0, Backoff(), quiet_seconds=0.25)
    assert q.quiet_seconds == 0.1
    assert WorkQueue(1.0, 5.0, Backoff()).quiet_seconds == 1.0  # unset: the debounce itself


def test_changes_while_a_leading_run_is_pending_join_it() -> None:
    clock = Clock()
    q = queue(clock)
    clock.now += 5
    q.add("ns/main", ["rules"])
    clock.now += 0.1  # the reconciler is still busy with something else: the run is not taken yet
    q.add("ns/main", ["alertmanager"])
    assert q.take_due("ns/main") == (frozenset({"rules", "alertmanager"}), None)


def test_a_timer_never_postpones_pending_work_and_runs_at_once_when_idle() -> None:
    clock = Clock()
    q = queue(clock)
    clock.now += 5
    q.add("ns/main", ["rules"])
    assert q.take_due("ns/main") == (frozenset({"rules"}), None)
    clock.now += 0.2
    q.add("ns/main", ["rules"])  # trailing: due at +1.0
    clock.now += 0.6
    q.add_periodic("ns/main", ["status"])
    assert q.take_due("ns/main") == (frozenset(), pytest.approx(0.4))  # the change's due time is kept
    clock.now += 0.4
    assert q.take_due("ns/main") == (frozenset({"rules", "status"}), None)
    clock.now += 5
    q.add_periodic("ns/main", ["status"])
    assert q.take_due("ns/main") == (frozenset({"status"}), None)
    q.add("ns/main", ["rules"])  # a timer is not a change: the next change is still isolated
    assert q.take_due("ns/main") == (frozenset({"rules"}), None)


def test_failed_steps_are_retried_alone_with_backoff_and_success_resets_the_attempts() -> None:
    clock = Clock()
    q = queue(clock)
    waits = []
    for _ in range(5):
        q.done("ns/main", [StepResult("rules"), StepResult("silences", error="connection refused", retry=True)])
        steps, wait = q.take_due("ns/main")
        assert steps == frozenset() and wait is not None
        waits.append(wait)
        clock.now += wait
        assert q.take_due("ns/main") == (frozenset({"silences"}), None)
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped at retry_max_seconds
    assert q.attempts("ns/main", "silences") == 5
    q.done("ns/main", [StepResult("silences")])
    assert q.attempts("ns/main", "silences") == 0
    assert q.take_due("ns/main") == (frozenset(), None)


def test_a_change_during_a_retry_wait_runs_sooner_and_bad_input_is_not_retried() -> None:
    clock = Clock()
    q = queue(clock)
    for _ in range(3):
        q.done("ns/main", [StepResult("rules", error="timeout", retry=True)])
        clock.now += q.take_due("ns/main")[1] or 0
        q.take_due("ns/main")
    q.done("ns/main", [StepResult("rules", error="timeout", retry=True)])  # next retry in 8 s
    q.add("ns/main", ["alertmanager"])  # isolated: at once, with the failed step
    assert q.take_due("ns/main")[0] == frozenset({"rules", "alertmanager"})
    q.done("ns/main", [StepResult("alertmanager", error="amtool refused the file", retry=False)])
    assert q.take_due("ns/main") == (frozenset(), None)


def test_backoff_jitter_stays_within_its_bounds() -> None:
    backoff = Backoff(base_seconds=2.0, max_seconds=60.0, jitter=0.2)
    assert backoff.delay(1, rng=lambda: 0.0) == pytest.approx(1.6)
    assert backoff.delay(1, rng=lambda: 1.0) == pytest.approx(2.4)
    assert backoff.delay(10, rng=lambda: 0.5) == pytest.approx(60.0)
    assert backoff.delay(100_000, rng=lambda: 0.5) == pytest.approx(60.0)  # a day of failures never overflows


def test_get_waits_for_due_steps_and_unknown_keys_are_ignored() -> None:
    async def scenario() -> frozenset[str]:
        q = WorkQueue(0.01, 1.0, Backoff())
        q.add("ns/gone")  # not registered: nothing happens
        q.register("ns/main")
        assert await q.get("ns/main") == frozenset(STEPS)
        getting = asyncio.ensure_future(q.get("ns/main"))
        await asyncio.sleep(0.02)
        assert not getting.done()
        q.add("ns/main", ["rules"])
        return await asyncio.wait_for(getting, 1)

    assert asyncio.run(scenario()) == frozenset({"rules"})


def test_busy_while_a_run_for_a_change_is_pending_or_under_way_but_not_for_a_retry() -> None:
    clock = Clock()
    q = queue(clock)  # its first run was taken: under way until done
    assert q.busy()
    q.done("ns/main", [StepResult("silences", error="connection refused", retry=True)])
    assert not q.busy()  # only a retry waits: statuses are not held back by a target that stays down
    clock.now += 5
    q.add("ns/main", ["rules"])
    assert q.busy()
    q.take_due("ns/main")
    assert q.busy()
    q.done("ns/main", [StepResult("rules")])
    assert not q.busy()


def test_a_health_probe_rerenders_the_rules_only_when_a_version_changed_or_now_and_then() -> None:
    def probe(version: str) -> list[TargetHealth]:
        return [TargetHealth(name="p", type="prometheus", reachable=True, version=version)]

    record = ClusterRecord()
    assert periodic_steps(record, probe("2.53.0"), 1000.0, 600.0) == (*PERIODIC, "rules")  # the first probe
    record.health = probe("2.53.0")
    assert periodic_steps(record, probe("2.53.0"), 1030.0, 600.0) == PERIODIC
    assert periodic_steps(record, probe("3.0.0"), 1060.0, 600.0) == (*PERIODIC, "rules")  # an upgrade
    record.health = probe("3.0.0")
    assert periodic_steps(record, probe("3.0.0"), 1090.0, 600.0) == PERIODIC
    assert periodic_steps(record, probe("3.0.0"), 1661.0, 600.0) == (*PERIODIC, "rules")  # ten minutes on


def test_a_health_probe_skips_the_silences_step_while_it_has_nothing_to_keep_in_line() -> None:
    health = [TargetHealth(name="p", type="prometheus", reachable=True, version="3.0.0")]
    window = {"name": "upgrade", "start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z"}
    policy = SuppressionPolicy.model_validate(
        {"metadata": {"name": "p", "namespace": "a"}, "spec": {"maintenanceWindows": [window]}}
    )

    def config(*policies: SuppressionPolicy) -> AlertmanagerPlan:
        return AlertmanagerPlan(None, None, True, {}, {}, {}, policies)

    record = ClusterRecord(health=health, rules_resynced=1000.0, config=config())
    assert "silences" in periodic_steps(record, health, 1030.0, 600.0, "t0")  # not known yet: runs
    record.silences_idle_for = ()  # its run found no window open or to come, no silence of its own
    assert periodic_steps(record, health, 1060.0, 600.0, "t0") == ("alertmanager", "status")
    assert periodic_steps(record, health, 1070.0, 600.0, None) == ("alertmanager", "status")  # not read
    # A failed alertmanager step left the silences step planning from the old config: a new config
    # (a policy with a window selected) makes it due, idle or not.
    record.config = config(policy)
    assert periodic_steps(record, health, 1090.0, 600.0, "t0") == PERIODIC
    record.silences_idle_for = (policy,)
    assert periodic_steps(record, health, 1120.0, 600.0, "t0") == ("alertmanager", "status")
    # Alertmanager restarted: it may have brought back a silence expired since its last snapshot.
    assert periodic_steps(record, health, 1150.0, 600.0, "t1") == PERIODIC
    assert periodic_steps(record, health, 1180.0, 600.0, "t1") == ("alertmanager", "status")
    # Every `rules_every` seconds both run, whatever the rest says.
    assert periodic_steps(record, health, 1700.0, 600.0, "t1") == (*PERIODIC, "rules")


def test_a_burst_is_prepared_while_it_lasts_without_moving_its_run() -> None:
    """`get`'s `prepare` runs every `prepare_seconds` while a burst holds the run back (never for an
    isolated change), with the steps pending; the run still comes once the burst is quiet."""

    async def scenario() -> tuple[list[tuple[float, frozenset[str]]], float, float]:
        loop = asyncio.get_running_loop()
        q = WorkQueue(1.0, 30.0, Backoff(), quiet_seconds=0.3, prepare_seconds=0.1)
        prepared: list[tuple[float, frozenset[str]]] = []

        async def prepare(pending: frozenset[str]) -> None:
            prepared.append((loop.time(), pending))

        q.register("ns/main")
        assert await q.get("ns/main", prepare) == frozenset(STEPS)
        q.done("ns/main", [])
        q.add("ns/main", ["rules"])  # isolated: at once, nothing to prepare
        assert await q.get("ns/main", prepare) == frozenset({"rules"})
        assert prepared == []
        q.done("ns/main", [])
        getting = asyncio.ensure_future(q.get("ns/main", prepare))
        for _ in range(10):  # the burst: a change every 0.05 s for 0.5 s
            q.add("ns/main", ["rules", "status"])
            await asyncio.sleep(0.05)
        last_change = loop.time()
        steps = await asyncio.wait_for(getting, 5)
        assert steps == frozenset({"rules", "status"})
        return prepared, last_change, loop.time()

    prepared, last_change, ran = asyncio.run(scenario())
    assert len(prepared) >= 2 and all(pending == {"rules", "status"} for _t, pending in prepared)
    times = [t for t, _pending in prepared]
    assert all(later - earlier >= 0.09 for earlier, later in itertools.pairwise(times))
    assert ran >= last_change + 0.2  # still the quiet time after the burst's last change


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan")])
def test_a_queue_refuses_to_prepare_back_to_back(seconds: float) -> None:
    with pytest.raises(ValueError, match="prepare_seconds must be more than 0"):
        WorkQueue(1.0, 30.0, Backoff(), prepare_seconds=seconds)
