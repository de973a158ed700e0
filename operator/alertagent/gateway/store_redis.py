"""The gateway's queue in Redis Streams, shared by every replica (`--store redis --redis-url URL`), so a
message persisted before the 200 survives any replica's crash and per-robot rate limits hold across
replicas (`ratelimit_redis`). Needs the `redis` package (extra `broker`); the default install does not.

Layout (prefix `alertagent:gw:`):
- `q:<channel>`: one stream per channel, consumer group `gateway`; an entry is one robot request
  {channel, data: {body, part, parts}, at}. Entries are deleted once the robot accepted them.
- `depth`: messages in all streams; the add script refuses (503) past `queue_max`, so Redis stays bounded.
- `channels`: the channels that have a stream.
- `lease:<channel>`: the replica (consumer) delivering the channel, `SET NX PX`, renewed every poll.
- `replicas`: live replicas (sorted set of last polls), to share the channels out evenly.

Order per channel: one stream per channel and one replica at a time (the lease holder) reading it with
XREADGROUP, delivering in stream order; a request split in parts is added in one script, so the parts
are adjacent. Channels are independent: different channels may be delivered by different replicas.

Crash: a replica killed with messages in flight leaves them in its pending-entries list (read, not
acknowledged). Its leases expire after `lease_seconds`; the replica that takes a lease first claims
the channel's pending entries for itself (XAUTOCLAIM, idle time 0: the lease says their reader is
gone), then delivers them, oldest first, before new ones. A message the robot had accepted but the
dead replica had not yet acknowledged is sent again (a duplicate), never lost. A replica that stalls
past its lease (a long pause) may deliver a message the new holder delivers too: also a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio

from ..render.robots import formats
from ..render.robots.models import GatewayChannel
from .channels import ChannelSource
from .delivery import Gateway, Options, QueueFullError
from .metrics import GatewayMetrics
from .ratelimit_redis import RedisRateLimiter
from .store import Message, StoreUnavailableError

log = logging.getLogger("alertagent.gateway.redis")

GROUP = "gateway"
COMMAND_TIMEOUT = 5.0  # seconds a Redis command (or connect) may take before it fails
STOP_TIMEOUT = 2.0  # seconds a stopping replica waits for its feed to end and for its leases to be given back
SEQ_SPAN = 1_000_000  # Message.id = stream id's milliseconds * SEQ_SPAN + its sequence number

# KEYS: depth, channels, then one stream per item. ARGV: queue_max, group, then channel, data, at per item.
LUA_ADD = """
local n = #KEYS - 2
local depth = tonumber(redis.call('GET', KEYS[1]) or '0')
if depth + n > tonumber(ARGV[1]) then return {'FULL', tostring(depth)} end
local ids = {}
for i = 1, n do
  local s = KEYS[2 + i]
  if redis.call('EXISTS', s) == 0 then redis.call('XGROUP', 'CREATE', s, ARGV[2], '0', 'MKSTREAM') end
  ids[i] = redis.call('XADD', s, '*', 'channel', ARGV[3 * i], 'data', ARGV[3 * i + 1], 'at', ARGV[3 * i + 2])
  redis.call('SADD', KEYS[2], ARGV[3 * i])
end
redis.call('INCRBY', KEYS[1], n)
return ids
"""

# KEYS: stream, depth. ARGV: group, entry id. Idempotent (a second call changes nothing).
LUA_REMOVE = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if redis.call('XDEL', KEYS[1], ARGV[2]) == 1 then redis.call('DECR', KEYS[2]) end
return 1
"""

# KEYS: lease. ARGV: consumer, ttl (ms). 1: renewed, 2: taken (it was free), 0: another replica holds it.
LUA_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
"""

LUA_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def message_id(entry_id: str) -> int:
    """A stream entry id "MS-SEQ" as `Message.id` (ordered like the entry ids while SEQ < 1,000,000)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms) * SEQ_SPAN + int(seq)


def entry_id(message: int) -> str:
    """The inverse of `message_id`."""
    ms, seq = divmod(message, SEQ_SPAN)
    return f"{ms}-{seq}"


def describe_url(url: str) -> str:
    """host:port/db of a Redis URL, without its password (for messages)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


class RedisStore:
    """`store.Store` over Redis Streams (see the module docstring), plus what a shared store needs:
    `start_feeding` hands this replica the messages of the channels it holds the lease of, `release`
    gives the leases back. `queue_max` bounds all replicas' messages together. Raises redis.RedisError when Redis
    cannot be reached."""

    def __init__(
        self,
        url: str,
        queue_max: int = 10_000,
        prefix: str = "alertagent:gw:",
        consumer: str | None = None,
        lease_seconds: float = 5.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.url, self.queue_max, self.prefix = url, queue_max, prefix
        # unique per process: a restarted pod keeps its hostname, but its predecessor's entries are claimed by lease
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.lease_seconds, self.poll_interval = lease_seconds, poll_interval
        # Every command is bounded (redis-py's default differs between releases: none before 8.0);
        # `?socket_timeout=` in the URL overrides it.
        timeouts: dict[str, Any] = {"socket_timeout": COMMAND_TIMEOUT, "socket_connect_timeout": COMMAND_TIMEOUT}
        self.sync: Any = redis.Redis.from_url(url, decode_responses=True, **timeouts)
        self.aio: Any = redis.asyncio.Redis.from_url(url, decode_responses=True, **timeouts)
        self.sync.ping()
        self._add = self.sync.register_script(LUA_ADD)
        self._add_async = self.aio.register_script(LUA_ADD)
        self._remove = self.sync.register_script(LUA_REMOVE)
        self._lease = self.aio.register_script(LUA_LEASE)
        self._release = self.aio.register_script(LUA_RELEASE)
        self._remove_async = self.aio.register_script(LUA_REMOVE)
        # (channel, Message.id) handed out and not removed yet: ids are unique per channel only (two
        # streams can have an entry in the same millisecond)
        self._out: set[tuple[str, int]] = set()
        self._handed: dict[str, int] = {}  # channel -> the last Message.id handed out
        self.owned: set[str] = set()
        self._feeding = False
        self._feeder: asyncio.Task[None] | None = None

    def stream(self, channel: str) -> str:
        return f"{self.prefix}q:{channel}"

    # -- Store -----------------------------------------------------------------------------------
    def add(self, items: list[tuple[str, dict[str, Any], int, int]]) -> list[Message]:
        """`Store.add` with the blocking client (the `Store` protocol, and tests; the gateway uses `add_async`)."""
        if not items:
            return []
        keys, args, now = self._add_call(items)
        try:
            ids = self._add(keys=keys, args=args)
        except redis.RedisError as err:
            raise self._unavailable(err) from None
        return self._added(ids, items, now)

    async def add_async(self, items: list[tuple[str, dict[str, Any], int, int]]) -> list[Message]:
        """Append to the channels' streams in one script (all or nothing), through the asynchronous
        client: the event loop stays free while Redis is slow. Raises QueueFullError, and
        StoreUnavailableError when Redis fails (nothing was added, or all of it: Alertmanager retries)."""
        if not items:
            return []
        keys, args, now = self._add_call(items)
        try:
            ids = await self._add_async(keys=keys, args=args)
        except redis.RedisError as err:
            raise self._unavailable(err) from None
        return self._added(ids, items, now)

    def _add_call(self, items: list[tuple[str, dict[str, Any], int, int]]) -> tuple[list[str], list[Any], float]:
        now = time.time()
        args: list[Any] = [self.queue_max, GROUP]
        for channel, body, part, parts in items:
            data = json.dumps({"body": body, "part": part, "parts": parts}, separators=(",", ":"))
            args += [channel, data, repr(now)]
        keys = [f"{self.prefix}depth", f"{self.prefix}channels", *(self.stream(c) for c, *_ in items)]
        return keys, args, now

    def _unavailable(self, err: Exception) -> StoreUnavailableError:
        where = describe_url(self.url)
        return StoreUnavailableError(f"the shared queue in Redis at {where} failed: {type(err).__name__}")

    def _added(self, ids: list[Any], items: list[tuple[str, dict[str, Any], int, int]], now: float) -> list[Message]:
        if ids and ids[0] == "FULL":
            raise QueueFullError(f"the shared queue holds {ids[1]} of at most {self.queue_max} messages")
        return [
            Message(message_id(i), channel, body, part, parts, now)
            for i, (channel, body, part, parts) in zip(ids, items, strict=True)
        ]

    def remove(self, message_id: int) -> None:
        """`Store.remove`: only when one channel handed out this id (the gateway uses `remove_from`)."""
        channels = [c for c, m in self._out if m == message_id]
        if len(channels) != 1:
            log.warning(
                "message %d: handed out by %d channels of this replica: not removing it", message_id, len(channels)
            )
            return
        self._out.discard((channels[0], message_id))
        self._remove(keys=[self.stream(channels[0]), f"{self.prefix}depth"], args=[GROUP, entry_id(message_id)])

    async def remove_from(self, channel: str, message_id: int) -> None:
        """Acknowledge and delete a message this replica handed out, through the asynchronous client
        (the event loop stays free while Redis is slow). Raises redis.RedisError; the message stays
        known, so a retry removes it. A message of a channel whose lease was lost meanwhile is left
        to the new holder."""
        if (channel, message_id) not in self._out:
            log.warning("channel %s: message %d is not this replica's to remove (lease lost)", channel, message_id)
            return
        await self._remove_async(keys=[self.stream(channel), f"{self.prefix}depth"], args=[GROUP, entry_id(message_id)])
        self._out.discard((channel, message_id))

    def pending(self) -> list[Message]:
        """Every message in every channel's stream, by channel then age (inspection; replicas do not
        replay it: `start_feeding` hands each replica its channels' messages)."""
        out = []
        for channel in sorted(self.sync.smembers(f"{self.prefix}channels")):
            for eid, fields in self.sync.xrange(self.stream(channel)):
                out.append(self._message(channel, eid, fields))
        return out

    def depth(self) -> int:
        """Messages queued in all streams."""
        return int(self.sync.get(f"{self.prefix}depth") or 0)

    def close(self) -> None:
        self.sync.close()

    # -- sharing ---------------------------------------------------------------------------------
    @staticmethod
    def _message(channel: str, eid: str, fields: dict[str, str]) -> Message:
        data = json.loads(fields["data"])
        return Message(message_id(eid), channel, data["body"], data["part"], data["parts"], float(fields["at"]))

    def _lose(self, channel: str, lost: Callable[[str], None]) -> None:
        """This replica no longer holds the channel's lease: it stops delivering it at once (`lost`), and
        reads it again from its unacknowledged entries if it takes the lease back."""
        self.owned.discard(channel)
        self._handed.pop(channel, None)
        self._out = {(c, m) for c, m in self._out if c != channel}
        lost(channel)

    def start_feeding(self, append: Callable[[Message], None], lost: Callable[[str], None] = lambda _c: None) -> None:
        """Start feeding `append` in a task (one per store); `stop_feeding` ends it. Raises RuntimeError
        while the previous task still runs."""
        if self.feeding:
            raise RuntimeError("the store is already feeding")
        self._feeding = True
        self._feeder = asyncio.create_task(self._feed(append, lost))

    @property
    def feeding(self) -> bool:
        """Whether the feeding task is still running."""
        return self._feeder is not None and not self._feeder.done()

    async def stop_feeding(self, timeout: float = STOP_TIMEOUT) -> None:
        """End the feeding task, waiting for it at most `timeout` seconds (it ends within one poll plus
        `poll_interval` when Redis answers). The loop ends on a flag as well as on the cancel: redis-py
        (8.1, Python 3.11) lets a cancel that lands inside a command go unraised, and the loop would
        then poll on for ever. A task still inside a command of an unanswering Redis ends when
        `release` closes the connections."""
        self._feeding = False
        if self._feeder is not None:
            self._feeder.cancel()
            await asyncio.wait([self._feeder], timeout=timeout)

    async def _feed(self, append: Callable[[Message], None], lost: Callable[[str], None]) -> None:
        """Until `stop_feeding`: take or renew the lease of every channel with a stream, and hand
        `append` the new messages of the channels held, in order (first, on taking a lease, those a
        previous holder left unacknowledged). Redis errors are logged and retried next poll."""
        while self._feeding:
            try:
                await self.poll(append, lost)
            except redis.RedisError as err:
                log.error("Redis at %s: %s; retrying", describe_url(self.url), type(err).__name__)
            await asyncio.sleep(self.poll_interval)

    async def poll(self, append: Callable[[Message], None], lost: Callable[[str], None] = lambda _c: None) -> int:
        """One round of the task `start_feeding` runs; the number of messages handed out. Renews this
        replica's leases and takes free ones up to its share (channels / live replicas, rounded up), so
        channels spread over replicas; calls `lost` with each channel whose lease it no longer holds."""
        now = time.time()
        replicas = f"{self.prefix}replicas"  # sorted set: consumer -> last poll (Unix seconds)
        async with self.aio.pipeline(transaction=False) as pipe:
            pipe.zadd(replicas, {self.consumer: now})
            pipe.zremrangebyscore(replicas, "-inf", now - self.lease_seconds)
            pipe.zcard(replicas)
            pipe.smembers(f"{self.prefix}channels")
            _, _, live, members = await pipe.execute()
        channels = sorted(members)
        if not channels:
            return 0
        holders = await self.aio.mget([f"{self.prefix}lease:{c}" for c in channels])
        mine = [c for c, h in zip(channels, holders, strict=True) if h == self.consumer]
        free = [c for c, h in zip(channels, holders, strict=True) if h is None]
        random.shuffle(free)  # replicas taking free leases at once rarely want the same ones
        share = -(-len(channels) // max(1, int(live)))
        wanted = sorted(mine + free[: max(0, share - len(mine))])
        for lost_channel, holder in zip(channels, holders, strict=True):
            if lost_channel in self.owned and holder != self.consumer:
                why = (
                    "its lease expired (Redis did not answer in time)"
                    if holder is None
                    else "another replica holds its lease"
                )
                log.warning("channel %s: %s; this replica stops delivering it", lost_channel, why)
                self._lose(lost_channel, lost)
        ttl = int(self.lease_seconds * 1000)
        async with self.aio.pipeline(transaction=False) as pipe:
            for channel in wanted:
                await self._lease(keys=[f"{self.prefix}lease:{channel}"], args=[self.consumer, ttl], client=pipe)
            leases = await pipe.execute()
        handed = 0
        for channel, got in zip(wanted, leases, strict=True):
            if int(got) == 0:
                if channel in self.owned:
                    self._lose(channel, lost)
                continue
            stream = self.stream(channel)
            if channel not in self.owned:
                # taken over: claim what the previous holder read but never acknowledged, then read it in order
                start = "0-0"
                while True:
                    start, _, *_ = await self.aio.xautoclaim(stream, GROUP, self.consumer, 0, start, count=1000)
                    if start == "0-0":
                        break
                self.owned.add(channel)
                unacknowledged = await self.aio.xreadgroup(GROUP, self.consumer, {stream: "0"})
                handed += await self._hand(channel, unacknowledged, append)
            reply = await self.aio.xreadgroup(GROUP, self.consumer, {stream: ">"}, count=500)
            handed += await self._hand(channel, reply, append)
        return handed

    async def _hand(self, channel: str, reply: Any, append: Callable[[Message], None]) -> int:
        handed = 0
        for _, entries in reply or ():
            for eid, fields in entries:
                mid = message_id(eid)
                if not fields:  # deleted while pending (delivered, its acknowledgement lost)
                    await self._remove_async(keys=[self.stream(channel), f"{self.prefix}depth"], args=[GROUP, eid])
                    continue
                if mid <= self._handed.get(channel, -1):  # already in this replica's queue
                    continue
                self._handed[channel] = mid
                self._out.add((channel, mid))
                append(self._message(channel, eid, fields))
                handed += 1
        return handed

    async def release(self, timeout: float = STOP_TIMEOUT) -> None:
        """Give back this replica's leases and leave the replica set (stopping), in one pipeline waited
        for at most `timeout` seconds, then close the asynchronous client: another replica takes over
        at once, claiming the messages this one did not deliver. A Redis that does not answer in time
        (frozen, unreachable) is left to the lease expiry (`lease_seconds`): a slower take-over,
        nothing lost. Never raises a Redis error."""
        owned, self.owned = sorted(self.owned), set()
        task = asyncio.create_task(self._give_back(owned))
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            log.warning(
                "Redis at %s did not answer within %.1fs: %d channel lease(s) left to expire in %.0fs",
                describe_url(self.url),
                timeout,
                len(owned),
                self.lease_seconds,
            )
            task.cancel()
        # Closing the connections also ends a command whose cancel redis-py swallowed (its read fails),
        # so neither task outlives the event loop.
        with contextlib.suppress(redis.RedisError, OSError):
            await self.aio.aclose()
        left = [t for t in (task, self._feeder) if t is not None]
        await asyncio.wait(left, timeout=timeout)
        failed = task.exception() if done else None
        if failed is not None:
            log.warning("Redis at %s: leases not given back: %s", describe_url(self.url), type(failed).__name__)

    async def _give_back(self, channels: list[str]) -> None:
        async with self.aio.pipeline(transaction=False) as pipe:
            for channel in channels:
                await self._release(keys=[f"{self.prefix}lease:{channel}"], args=[self.consumer], client=pipe)
            pipe.zrem(f"{self.prefix}replicas", self.consumer)
            await pipe.execute()


class SharedGateway(Gateway):
    """The gateway over a `RedisStore`: a message is delivered by the replica holding its channel's
    lease, not necessarily the one that received it; rate limits live in Redis."""

    store: RedisStore

    def __init__(
        self,
        source: ChannelSource,
        store: RedisStore,
        metrics: GatewayMetrics,
        options: Options | None = None,
    ) -> None:
        super().__init__(source, store, metrics, options)
        self.limiter = RedisRateLimiter(store.aio, store.prefix, self.options.burst)

    async def start(self) -> int:
        """Read the channels and start the feeder; messages already queued come through the leases."""
        self.source.poll()
        self._poller = asyncio.create_task(self._poll())
        self.store.start_feeding(self._append, self.forget_queue)
        self.start_incidents()  # nothing is held with this store: root alerts' messages go at once
        return 0

    async def add_requests(self, channel: GatewayChannel, requests: list[formats.RobotRequest]) -> list[Message]:
        """Persist (in Redis) rendered requests; the channel's lease holder delivers them. Raises
        QueueFullError when all replicas' messages reach `queue_max`, StoreUnavailableError when Redis
        fails."""
        return await self.store.add_async([(channel.key, r.body, r.part, r.parts) for r in requests])

    def has_room(self, count: int) -> bool:
        return True  # the shared queue's bound is checked by Redis itself (add raises QueueFullError)

    async def _remove_stored(self, message: Message) -> None:
        await self.store.remove_from(message.channel, message.id)

    async def stop(self, grace: float = 10.0) -> None:
        await self.store.stop_feeding()
        await super().stop(grace)
        await self.store.release()
