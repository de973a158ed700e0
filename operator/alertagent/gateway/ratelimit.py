"""Per-robot rate limiting: token buckets keyed by the robot (its webhook URL, hashed), so channels that
share a robot share its limit. A robot documents its limit as "N messages per T seconds" (DingTalk and
WeCom 20 per 60 s, Feishu 100 per 60 s and 5 per 1 s); each such window is one bucket of capacity
`burst` refilled at (N - burst) / T tokens per second, which never sends more than N in any window of
T seconds (at most `burst` at once plus (N - burst) / T * T refilled), so the robot never answers
"too fast" because of us. Messages wait for a token: queued, never dropped."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """At most `count` messages in any `seconds`."""

    count: int
    seconds: float


class TokenBucket:
    """`capacity` tokens, refilled continuously at `rate` per second (times from `clock`, seconds)."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self._clock = rate, capacity, clock
        self._tokens, self._at = capacity, clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_time(self) -> float:
        """Seconds until one token is there (0: now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def drain(self) -> None:
        """No token left now (the next one comes after 1 / rate seconds)."""
        self._refill()
        self._tokens = min(self._tokens, 0.0)

    def take(self) -> None:
        self._refill()
        self._tokens -= 1


def bucket_for(window: Window, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> TokenBucket:
    """A bucket that keeps to `window` exactly (see the module docstring); burst is capped below count."""
    burst = max(1, min(burst, window.count - 1)) if window.count > 1 else 1
    refill = max(window.count - burst, 1) / window.seconds
    return TokenBucket(refill, burst, clock)


def robot_key(webhook_url: str) -> str:
    """A name for a robot that does not reveal its URL (logs, metrics, the limiter's keys)."""
    return hashlib.sha256(webhook_url.encode()).hexdigest()[:16]


class RateLimiter:
    """One set of buckets per robot; `acquire(robot, windows)` waits until every window allows a message,
    then takes a token from each. Waiters of one robot are served in order (one lock per robot)."""

    def __init__(self, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self._burst, self._clock = burst, clock
        self._buckets: dict[str, tuple[tuple[Window, ...], list[TokenBucket]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def buckets(self, robot: str, windows: Sequence[Window]) -> list[TokenBucket]:
        """The robot's buckets, new ones when its windows changed (a new limit in the channels file)."""
        key = tuple(windows)
        known = self._buckets.get(robot)
        if known is None or known[0] != key:
            known = (key, [bucket_for(w, self._burst, self._clock) for w in key])
            self._buckets[robot] = known
        return known[1]

    def wait_time(self, robot: str, windows: Sequence[Window]) -> float:
        return max((b.wait_time() for b in self.buckets(robot, windows)), default=0.0)

    async def acquire(self, robot: str, windows: Sequence[Window]) -> None:
        lock = self._locks.setdefault(robot, asyncio.Lock())
        async with lock:
            while (delay := self.wait_time(robot, windows)) > 0:
                await asyncio.sleep(delay)
            for bucket in self.buckets(robot, windows):
                bucket.take()

    async def penalize(self, robot: str, windows: Sequence[Window]) -> None:
        """The robot said "too fast" anyway (another sender shares it): empty its buckets."""
        for bucket in self.buckets(robot, windows):
            bucket.drain()
