"""The work queue's contract: trailing-edge debounce with a cap, timers never postpone pending work,
failed steps retried alone with jittered exponential backoff, bad input not retried."""

from __future__ import annotations

import asyncio

import pytest

from alertagent.reconcile.queue import STEPS, Backoff, StepResult, WorkQueue


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


def test_a_burst_becomes_one_run_after_the_quiet_time_capped_by_the_longest_wait() -> None:
    clock = Clock()
    q = queue(clock)
    assert q.take_due("ns/main") == (frozenset(), None)  # nothing pending
    q.add("ns/main", ["rules"])
    assert q.take_due("ns/main") == (frozenset(), 1.0)
    for _ in range(3):  # a change every 0.9 s keeps pushing the run back ...
        clock.now += 0.9
        q.add("ns/main", ["alertmanager"])
        assert q.take_due("ns/main")[0] == frozenset()
    clock.now += 0.9
    q.add("ns/main")
    clock.now += 0.9
    q.add("ns/main")
    steps, wait = q.take_due("ns/main")  # ... but never past debounce_max_seconds after the first
    assert steps == frozenset()
    assert wait is not None and wait == pytest.approx(0.5)
    clock.now += 0.5
    assert q.take_due("ns/main") == (frozenset(STEPS), None)


def test_a_timer_never_postpones_pending_work_and_runs_at_once_when_idle() -> None:
    clock = Clock()
    q = queue(clock)
    q.add("ns/main", ["rules"])
    clock.now += 0.6
    q.add_periodic("ns/main", ["status"])
    assert q.take_due("ns/main") == (frozenset(), pytest.approx(0.4))  # the change's due time is kept
    clock.now += 0.4
    assert q.take_due("ns/main") == (frozenset({"rules", "status"}), None)
    q.add_periodic("ns/main", ["status"])
    assert q.take_due("ns/main") == (frozenset({"status"}), None)


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
    q.add("ns/main", ["alertmanager"])
    assert q.take_due("ns/main")[1] == pytest.approx(1.0)
    clock.now += 1.0
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
