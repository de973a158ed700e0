"""The I/O of leader election (`plans.lease` decides): an asyncio loop that runs `Elector.step`
every retry period in a thread of its own (a Lease call never waits behind a burst of other
blocking calls, nor blocks the event loop), and notices leadership ending at the renew deadline
even while a call hangs (a timer on the loop, not the next attempt).

Kopf cancels every task created after it started when it stops: this loop's task must be started
before the operator, and it creates no task of its own (the thread's futures and the timer are not
tasks), so the leader keeps renewing while Kopf shuts down and releases the Lease only after."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..plans.lease import Elector, LeaseStore

log = logging.getLogger("alertagent.leader")


class LeaderElector:
    """Runs one candidate's `Elector` against `store` (e.g. `clients.gatewaykube.GatewayKube`).

    `acquired` is set when this candidate becomes the leader. `on_change(leader)` is called on each
    transition; `on_lost()` when leadership ends without `stop` (the renew deadline passed, or
    another holder was found): it must stop every write at once (the operator exits)."""

    def __init__(
        self,
        store: LeaseStore,
        elector: Elector,
        on_change: Callable[[bool], None] = lambda _leader: None,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.store, self.elector, self.on_change, self.on_lost = store, elector, on_change, on_lost
        self.acquired = asyncio.Event()
        self.leader = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lease")  # attempts run one at a time, in order
        self._task: asyncio.Task[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._failing = False
        self._stopping = False

    def start(self) -> None:
        """Start the loop (on the running event loop)."""
        self._task = asyncio.create_task(self._run(), name="leader election")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        where = f"{self.elector.namespace}/{self.elector.name}"
        while True:
            wait = self.elector.options.renew_interval
            try:
                wait = await loop.run_in_executor(self._thread, self.elector.step, self.store)
                if self._failing:
                    log.info("the leader Lease %s can be read and written again", where)
                self._failing = False
            except Exception as err:  # the API server unreachable or refusing: retry, leadership runs out
                if not self._failing:
                    log.warning("the leader Lease %s: %s (retrying every %gs)", where, err, wait)
                self._failing = True
            self._transition()
            await asyncio.sleep(wait)

    def _transition(self) -> None:
        """Compare leadership now with before: log, notify, and re-arm the renew-deadline timer."""
        leader = self.elector.leader
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if leader:
            loop = asyncio.get_running_loop()  # its clock is time.monotonic, the Elector's default
            at = self.elector.renewed_at + self.elector.options.deadline
            self._deadline = loop.call_at(max(at, loop.time()) + 0.001, self._transition)
        if leader == self.leader:
            return
        self.leader = leader
        where = f"{self.elector.namespace}/{self.elector.name}"
        if leader:
            log.info("%s acquired the leader Lease %s: leading", self.elector.identity, where)
            self.acquired.set()
        elif not self._stopping:
            log.error(
                "%s lost the leader Lease %s (not renewed within %gs, or taken): stopping every write",
                self.elector.identity,
                where,
                self.elector.options.deadline,
            )
        self.on_change(leader)
        if not leader and not self._stopping:
            self.on_lost()

    async def stop(self, release: bool, timeout: float = 5.0) -> bool:
        """End the loop; with `release`, give the Lease up when held (ReleaseOnCancel), waiting at
        most `timeout` seconds. Returns whether it was released."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._deadline is not None:
            self._deadline.cancel()
        done = False
        if release:
            loop = asyncio.get_running_loop()
            try:  # queued behind an attempt still running in the thread: never concurrent with it
                giving_up = loop.run_in_executor(self._thread, self.elector.release, self.store)
                done = await asyncio.wait_for(giving_up, timeout)
            except Exception as err:
                log.warning("the leader Lease was not released (a standby takes over once it expires): %s", err)
            if done:
                log.info("%s released the leader Lease", self.elector.identity)
        else:
            self.elector.renewed_at = float("-inf")
        self._transition()
        self._thread.shutdown(wait=False)
        return done
