"""A small keyed work queue for the per-cluster reconcilers: debounce, then retry with backoff.

The reconcile and retry contract (what the README calls "how AlertAgent retries"):

- Work is keyed by AlertmanagerCluster (`namespace/name`) and split into independent steps:
  `rules` (rule ConfigMaps), `alertmanager` (alertmanager.yaml Secret), `silences` (one-off windows)
  and `status` (the cluster's and its members' status). One step failing never stops another.
- A change that may alter a cluster's output (spec or labels of a selected kind, a deletion, namespace
  labels, a new service graph) marks every step due:
  - at once when it is isolated (no change came in the last `debounce_seconds`): leading edge, so a
    single edit reaches its ConfigMap without waiting;
  - else once the burst is over: `quiet_seconds` (default 0.15, never more than `debounce_seconds`)
    with no further change, but never later than `debounce_max_seconds` after the first change of the
    burst (trailing edge). A burst of any size thus becomes at most two reconciles and two writes per
    shard: its first change, then the rest. The quiet time is short because a tool applying many
    objects sends them milliseconds apart (kubectl: ~5 ms); a pause longer than it within a burst
    costs one more reconcile, never a lost change.
  - A change while a leading run is pending joins it (the run reads its inputs when it starts).
  - While a burst holds its run back, the reconciler may prepare that run every `prepare_seconds`
    (it checks the rule files that came so far, whose verdicts the run then finds remembered): the
    run's due time is not moved, and nothing is written.
- A periodic check (the health timer) marks steps due now, unless work is already pending: it never
  postpones or restarts a pending debounce, and it is not a change (it never turns the next change
  into a trailing one).
- A step that raises (API server unreachable, a conflict, Alertmanager down for silences) is retried
  alone after `retry_base_seconds * 2**(attempt-1)`, capped at `retry_max_seconds`, each delay +-
  `retry_jitter`; a success resets its attempts. A change arriving meanwhile runs it sooner. The error
  goes to the cluster's `status.lastError` (and Ready=False) until the step succeeds.
- Bad input is not an error of a step and is not retried: the object is left out alone, says why in
  its status and a Warning Event, and waits for its next change.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

STEPS = ("rules", "alertmanager", "silences", "status")


@dataclass(frozen=True)
class StepResult:
    """How one step went: `error` None when it succeeded; `retry` when the failure may pass by
    itself (retried with backoff) rather than wait for a change; `writes` counts API writes made."""

    step: str
    error: str | None = None
    retry: bool = False
    writes: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; delays in seconds."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The wait before retry number `attempt` (1-based)."""
        plain = min(self.max_seconds, self.base_seconds * 2.0 ** min(max(0, attempt - 1), 60))
        return plain * (1 + self.jitter * (2 * rng() - 1))


@dataclass
class _Item:
    steps: set[str] = field(default_factory=set)
    burst_start: float | None = None  # first change of the pending trailing run (None: none pending)
    last_change: float | None = None
    change_due: float | None = None
    retry_due: float | None = None
    attempts: Counter[str] = field(default_factory=Counter)
    running: bool = False  # steps were taken and not reported done yet
    prepare_due: float | None = None  # when a burst's pending run is next prepared (None: no burst)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def due(self) -> float | None:
        times = [t for t in (self.change_due, self.retry_due) if t is not None]
        return min(times) if times else None


class WorkQueue:
    """Pending steps per key and when they are due. Use it from the event loop only."""

    def __init__(
        self,
        debounce_seconds: float,
        debounce_max_seconds: float,
        backoff: Backoff,
        clock: Callable[[], float] = time.monotonic,
        quiet_seconds: float | None = None,
        prepare_seconds: float = 1.0,
    ) -> None:
        """`debounce_seconds`: a change with none before it for this long is isolated (leading edge);
        `quiet_seconds` (default: `debounce_seconds`, and never more): a burst is over once no change
        came for this long (trailing edge); `prepare_seconds`: how often `get`'s `prepare` runs while a
        burst lasts."""
        self.debounce_seconds, self.debounce_max_seconds = debounce_seconds, debounce_max_seconds
        quiet = debounce_seconds if quiet_seconds is None else quiet_seconds
        self.quiet_seconds = min(quiet, debounce_seconds)
        if not prepare_seconds > 0:
            raise ValueError(f"prepare_seconds must be more than 0, not {prepare_seconds!r}")
        self.prepare_seconds = prepare_seconds
        self.backoff, self.clock = backoff, clock
        self._items: dict[str, _Item] = {}

    def keys(self) -> list[str]:
        return sorted(self._items)

    def busy(self, key: str | None = None) -> bool:
        """Whether a run for a change (or a start, or a timer) is pending or under way for `key` (None:
        for some key); a retry waiting for its backoff is not (a target that stays down must not hold
        anything back)."""
        items = self._items.values() if key is None else [i for i in [self._items.get(key)] if i is not None]
        return any(item.change_due is not None or item.running for item in items)

    def register(self, key: str) -> None:
        """A new key (a cluster's reconciler started): everything is due at once."""
        item = self._items.setdefault(key, _Item())
        item.steps |= set(STEPS)
        item.change_due = self.clock()
        item.wake.set()

    def forget(self, key: str) -> None:
        self._items.pop(key, None)

    def add(self, key: str, steps: Iterable[str] = STEPS) -> None:
        """A change: these steps become due after the quiet time (see the contract above)."""
        item = self._items.get(key)
        if item is None:
            return
        now = self.clock()
        item.steps |= set(steps)
        isolated = item.last_change is None or now - item.last_change >= self.debounce_seconds
        item.last_change = now
        if item.change_due is not None and item.burst_start is None:
            pass  # a leading run (or a start, or a timer) is pending: this change joins it
        elif item.burst_start is None and isolated:
            item.change_due = now  # leading edge
        else:
            if item.burst_start is None:
                item.burst_start, item.prepare_due = now, now + self.prepare_seconds
            item.change_due = min(now + self.quiet_seconds, item.burst_start + self.debounce_max_seconds)
        item.wake.set()

    def add_all(self, steps: Iterable[str] = STEPS) -> None:
        for key in self._items:
            self.add(key, steps)

    def add_periodic(self, key: str, steps: Iterable[str] = STEPS) -> None:
        """A timer: these steps become due now, unless work is pending (whose due time is kept)."""
        item = self._items.get(key)
        if item is None:
            return
        item.steps |= set(steps)
        if item.due is None:
            item.change_due = self.clock()
        item.wake.set()

    def done(self, key: str, results: Iterable[StepResult]) -> None:
        """Record how the steps went: failed retryable steps are due again after their backoff."""
        item = self._items.get(key)
        if item is None:
            return
        item.running = False
        now = self.clock()
        for result in results:
            if result.ok or not result.retry:
                item.attempts.pop(result.step, None)
                continue
            item.attempts[result.step] += 1
            item.steps.add(result.step)
            due = now + self.backoff.delay(item.attempts[result.step])
            item.retry_due = due if item.retry_due is None else min(item.retry_due, due)
        item.wake.set()

    def attempts(self, key: str, step: str) -> int:
        item = self._items.get(key)
        return item.attempts[step] if item else 0

    def take_due(self, key: str) -> tuple[frozenset[str], float | None]:
        """The steps due now (and clears them), or nothing and the seconds until the next are due
        (None: nothing pending)."""
        item = self._items.get(key)
        if item is None or item.due is None:
            return frozenset(), None
        wait = item.due - self.clock()
        if wait > 0:
            return frozenset(), wait
        steps = frozenset(item.steps)
        item.steps.clear()
        item.running = True
        item.burst_start = item.change_due = item.retry_due = item.prepare_due = None
        return steps, None

    async def get(self, key: str, prepare: Callable[[frozenset[str]], Awaitable[None]] | None = None) -> frozenset[str]:
        """Wait until steps of `key` are due and return them (cancel the task to stop waiting). While
        a burst holds them back, `prepare(steps pending)` is awaited every `prepare_seconds` (a run
        that becomes due meanwhile starts when it returns)."""
        while True:
            item = self._items.get(key)
            if item is None:
                raise KeyError(key)
            item.wake.clear()
            steps, wait = self.take_due(key)
            if steps:
                return steps
            if prepare is not None and item.prepare_due is not None and wait is not None:
                if (until := item.prepare_due - self.clock()) <= 0:
                    item.prepare_due = self.clock() + self.prepare_seconds
                    await prepare(frozenset(item.steps))
                    continue
                wait = min(wait, until)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(item.wake.wait(), timeout=wait)


async def quiet_period(changed: asyncio.Event, seconds: float, longest: float) -> None:
    """Trailing-edge debounce: return once no change came for `seconds` (or after `longest`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + longest
    while True:
        changed.clear()
        await asyncio.sleep(seconds)
        if not changed.is_set() or loop.time() >= deadline:
            changed.clear()
            return
