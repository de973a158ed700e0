"""Per-robot rate limiting shared by every gateway replica: the token buckets of `ratelimit` (same
capacity and refill, `bucket_for`), kept in Redis and updated by one Lua script, so that "check every
window, then take a token from each" is atomic across replicas and a robot gets its limit in total,
not once per replica. Time is Redis's own clock (`TIME`), so replicas' clocks need not agree.

A bucket is the hash `<prefix>rl:<robot>:<count>/<seconds>` {t: tokens, at: Unix seconds}; a missing
hash is a full bucket, and a hash expires once it would have refilled completely, so Redis holds only
robots that sent recently. `bucket_step` is the script's logic in Python (unit-tested; the integration
tests check that the script computes the same)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .ratelimit import RateLimiter, Window, bucket_for

# KEYS: one bucket per window. ARGV: now (Unix seconds; < 0: Redis's TIME), mode ("take" | "drain"),
# then rate and capacity per window. Returns the seconds to wait as a string (Lua numbers become
# integers in replies; %.17g keeps every bit of a double): 0 means a token was taken from every bucket
# ("take"), or the buckets were emptied ("drain").
LUA_BUCKETS = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local mode = ARGV[2]
local tokens, wait = {}, 0
for i = 1, #KEYS do
  local rate, cap = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local s = redis.call('HMGET', KEYS[i], 't', 'at')
  local t, at = tonumber(s[1]), tonumber(s[2])
  if t == nil or at == nil then t, at = cap, now end
  t = math.min(cap, t + math.max(0, now - at) * rate)
  tokens[i] = t
  if t < 1 then wait = math.max(wait, (1 - t) / rate) end
end
if mode == 'drain' or wait == 0 then
  for i = 1, #KEYS do
    local rate, cap = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
    local t = tokens[i]
    if mode == 'drain' then t = math.min(t, 0) else t = t - 1 end
    redis.call('HSET', KEYS[i], 't', string.format('%.17g', t), 'at', string.format('%.17g', now))
    redis.call('PEXPIRE', KEYS[i], math.ceil((cap - t) / rate * 1000) + 1000)
  end
  if mode == 'drain' then wait = 0 end
end
return string.format('%.17g', wait)
"""


@dataclass(frozen=True)
class BucketParams:
    """One window's bucket: its Redis key, refill `rate` (tokens per second) and `capacity` (tokens)."""

    key: str
    rate: float
    capacity: float


@dataclass(frozen=True)
class BucketState:
    """A bucket as stored: `tokens` at `at` (Unix seconds)."""

    tokens: float
    at: float


def bucket_params(prefix: str, robot: str, windows: Sequence[Window], burst: int = 1) -> list[BucketParams]:
    """The buckets of a robot (`robot`: `ratelimit.robot_key`, never its URL), as `ratelimit.bucket_for`
    sizes them, in the order given."""
    out = []
    for window in windows:
        bucket = bucket_for(window, burst)
        key = f"{prefix}rl:{robot}:{window.count}/{window.seconds:g}"
        out.append(BucketParams(key, bucket.rate, bucket.capacity))
    return out


def bucket_step(
    params: Sequence[BucketParams],
    states: Sequence[BucketState | None],
    now: float,
    mode: Literal["take", "drain"] = "take",
) -> tuple[float, list[BucketState | None]]:
    """What `LUA_BUCKETS` does, in Python: (seconds to wait, the states afterwards). A `None` state is a
    full bucket. "take": when every bucket holds a token, one is taken from each (wait 0); else nothing
    changes and the wait is until the emptiest has one. "drain": every bucket is emptied (no token now)."""
    tokens = []
    wait = 0.0
    for p, s in zip(params, states, strict=True):
        t, at = (p.capacity, now) if s is None else (s.tokens, s.at)
        t = min(p.capacity, t + max(0.0, now - at) * p.rate)
        tokens.append(t)
        if t < 1:
            wait = max(wait, (1 - t) / p.rate)
    if mode == "take" and wait > 0:
        return wait, list(states)
    after: list[BucketState | None] = [BucketState(min(t, 0.0) if mode == "drain" else t - 1, now) for t in tokens]
    return (0.0, after)


def _args(params: Sequence[BucketParams], now: float | None, mode: str) -> list[Any]:
    args: list[Any] = [repr(-1.0 if now is None else now), mode]
    for p in params:
        args += [repr(p.rate), repr(p.capacity)]
    return args


class RedisRateLimiter(RateLimiter):
    """`ratelimit.RateLimiter`'s interface (`acquire`, `penalize`) over buckets in Redis. `client`: a
    `redis.asyncio.Redis` with `decode_responses=True`. Waiters of one robot in this replica are served
    in order (one lock per robot); across replicas, whoever asks after the refill."""

    def __init__(self, client: Any, prefix: str = "alertagent:gw:", burst: int = 1) -> None:
        super().__init__(burst)  # its in-process buckets stay unused
        self._client, self._prefix = client, prefix
        self._script = client.register_script(LUA_BUCKETS)
        self._locks: dict[str, asyncio.Lock] = {}

    def params(self, robot: str, windows: Sequence[Window]) -> list[BucketParams]:
        return bucket_params(self._prefix, robot, windows, self._burst)

    async def try_take(self, robot: str, windows: Sequence[Window], now: float | None = None) -> float:
        """One attempt: 0 when a token was taken from each window's bucket, else the seconds to wait.
        `now` (Unix seconds) only for tests; by default Redis's clock."""
        params = self.params(robot, windows)
        if not params:
            return 0.0
        reply = await self._script(keys=[p.key for p in params], args=_args(params, now, "take"))
        return float(reply)

    async def acquire(self, robot: str, windows: Sequence[Window]) -> None:
        lock = self._locks.setdefault(robot, asyncio.Lock())
        async with lock:
            while (delay := await self.try_take(robot, windows)) > 0:
                # a little over the computed wait: another replica may take the token first anyway
                await asyncio.sleep(delay + 0.005)

    async def penalize(self, robot: str, windows: Sequence[Window], now: float | None = None) -> None:
        """The robot said "too fast" anyway: empty its buckets (for every replica). Raises
        redis.RedisError."""
        params = self.params(robot, windows)
        if params:
            await self._script(keys=[p.key for p in params], args=_args(params, now, "drain"))
