"""The gateway's shared store (`--store redis`): real `alertagent gateway` processes sharing one real
Redis (Debian's redis-server, started by `devstack.brokers`) and one robot stand-in:

- the Lua token bucket computes what `ratelimit_redis.bucket_step` (unit-tested) computes;
- two replicas delivering to one robot keep its limit in total (the robot never says "too fast", and
  receives at about its limit, not twice it);
- SIGKILL of one replica with messages in flight: the other claims and delivers them (nothing missing;
  duplicates counted and reported)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio

from alertagent.devstack.agents import eventually, metric_value, start_gateway
from alertagent.devstack.brokers import Redis, start_redis
from alertagent.devstack.processes import Process
from alertagent.devstack.robots import Robot, robots
from alertagent.gateway.ratelimit import Window
from alertagent.gateway.ratelimit_redis import LUA_BUCKETS, BucketState, RedisRateLimiter, bucket_params, bucket_step
from alertagent.gateway.store_redis import STOP_TIMEOUT, RedisStore

TOKEN = "gw-token-" + "r" * 24
SECRET = "SECredis0123456789abcdef"
KEYS = [f"team/ch{i}" for i in range(4)]  # four channels, one robot: the limit is the robot's


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Redis]:
    server = start_redis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def payload(name: str) -> dict[str, Any]:
    """What Alertmanager POSTs for one firing alert (notify/webhook, version 4)."""
    labels = {"alertname": name, "severity": "warning"}
    return {
        "receiver": "mon/main/team",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{name} fired"},
                "startsAt": "2025-06-01T08:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": "0123456789abcdef",
            }
        ],
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"{name} fired"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "truncatedAlerts": 0,
    }


def channels_file(path: Path, bot: Robot, incidents: bool = False) -> Path:
    """The channels file of `KEYS`; with `incidents`, its cluster runs the incident engine (its
    Alertmanager unreachable: nothing to correlate, every message goes at once)."""
    channels = {
        key: {"key": key, "type": bot.type, "webhook_url": bot.url, "sign_secret": SECRET, "token": TOKEN}
        for key in KEYS
    }
    doc: dict[str, Any] = {"cluster": "mon/main", "channels": channels}
    if incidents:
        doc["incidents"] = {"alertmanager_url": "http://127.0.0.1:9", "graph_namespace": "mon", "hold": 1.0}
    path.write_text(json.dumps(doc))
    return path


def unreachable_kubeconfig(path: Path) -> Path:
    """A kubeconfig whose API server does not answer: the incident engine starts and fails its polls."""
    cluster = {"name": "c", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "mon"}}],
                "current-context": "x",
            }
        )
    )
    return path


def post(port: int, key: str, name: str) -> int:
    url = f"http://127.0.0.1:{port}/api/v1/alerts/webhook/{key}"
    return httpx.post(url, json=payload(name), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code


def replicas(tmp_path: Path, broker: Redis, bot: Robot, limit: str) -> list[tuple[Process, int]]:
    channels = channels_file(tmp_path / "channels.json", bot)
    args = ("--store", "redis", "--redis-url", broker.url, "--rate-limit", limit, "--backoff-base", "0.5")
    out = []
    for i in range(2):
        out.append(start_gateway(tmp_path, [channels], tmp_path / f"unused-{i}.db", extra_args=args))
    return out


def test_the_lua_bucket_computes_what_bucket_step_does(broker: Redis) -> None:
    client = redis.Redis.from_url(broker.url, decode_responses=True)
    script = client.register_script(LUA_BUCKETS)
    params = bucket_params("t:", "robot", [Window(100, 60.0), Window(5, 1.0)], burst=3)
    states: list[BucketState | None] = [None, None]
    now = 1_700_000_000.0
    for step in range(60):
        mode = "drain" if step == 30 else "take"
        args: list[Any] = [repr(now), mode]
        for p in params:
            args += [repr(p.rate), repr(p.capacity)]
        got = float(script(keys=[p.key for p in params], args=args))
        want, states = bucket_step(params, states, now, mode)
        assert got == pytest.approx(want, abs=1e-9), step
        stored = [client.hgetall(p.key) for p in params]
        for s, row in zip(states, stored, strict=True):
            if s is not None:
                assert float(row["t"]) == pytest.approx(s.tokens, abs=1e-9), step
        now += 0.13
    client.close()


def test_penalize_empties_the_robots_buckets_for_every_replica(broker: Redis) -> None:
    """A robot that says "too fast" anyway: its buckets in Redis are emptied (through the asynchronous
    client, off the event loop's back), so the next take, from any replica, waits for a refill."""
    windows = [Window(60, 60.0)]

    async def take_penalize_take() -> tuple[float, float]:
        client = redis.asyncio.Redis.from_url(broker.url, decode_responses=True)
        one, other = RedisRateLimiter(client, "p:", burst=5), RedisRateLimiter(client, "p:", burst=5)
        try:
            before = await one.try_take("robot", windows)
            await one.penalize("robot", windows)
            return before, await other.try_take("robot", windows)
        finally:
            await client.aclose()

    before, after = asyncio.run(take_penalize_take())
    assert before == 0.0  # a full bucket: taken at once
    assert 0.9 < after < 2.0  # empty: about a token's refill (60 a minute), whichever replica asks


def test_two_replicas_keep_the_robots_limit_in_total(tmp_path: Path, broker: Redis) -> None:
    per_minute, messages = 60, 45
    with robots(Robot("dingtalk", secret=SECRET, per_minute=per_minute)) as (bot,):
        gateways = replicas(tmp_path, broker, bot, f"dingtalk={per_minute}/60")
        try:
            for i in range(messages):  # alternating replicas and channels
                assert post(gateways[i % 2][1], KEYS[i % len(KEYS)], f"Shared{i:03d}") == 200
            eventually(lambda: len(bot.arrivals) >= messages, 120, 1, what=f"{messages} delivered")
            time.sleep(2)  # anything more (a duplicate) would arrive now
            assert all(bot.count(f"Shared{i:03d}") == 1 for i in range(messages))
            assert not bot.refused, bot.refused  # never "send too fast" (130101)
            times = [a.at for a in bot.arrivals]
            rate = (len(times) - 1) / (times[-1] - times[0]) * 60
            per_replica = [
                metric_value(port, "alertagent_notifications_total", {"status": "ok"}) for _, port in gateways
            ]
            print(
                f"\n{messages} messages via 2 replicas: {rate:.1f}/min (limit {per_minute}); per replica {per_replica}"
            )
            assert all(n > 0 for n in per_replica), per_replica  # both delivered: the limit held across them
            assert (per_minute - 1) * 0.9 <= rate <= per_minute * 1.02
        finally:
            for proc, _ in gateways:
                proc.stop()


def test_sigkill_of_a_replica_the_other_delivers_its_messages(tmp_path: Path, broker: Redis) -> None:
    messages = 80
    with robots(Robot("dingtalk", secret=SECRET, per_minute=600, latency=0.2)) as (bot,):
        (victim, victim_port), (survivor, survivor_port) = replicas(tmp_path, broker, bot, "dingtalk=600/60")
        try:
            for i in range(messages):
                assert post(survivor_port if i % 2 else victim_port, KEYS[i % len(KEYS)], f"Crash{i:03d}") == 200
            eventually(lambda: metric_value(victim_port, "alertagent_notifications_total") >= 3, 20, what="sending")
            os.killpg(victim.popen.pid, signal.SIGKILL)
            victim.popen.wait(5)
            killed_at, before = time.monotonic(), len(bot.arrivals)
            eventually(
                lambda: all(bot.count(f"Crash{i:03d}") >= 1 for i in range(messages)), 60, 0.5, what="all delivered"
            )
            took = time.monotonic() - killed_at
            time.sleep(2)
            duplicates = bot.duplicates()
            depth = redis.Redis.from_url(broker.url).get("alertagent:gw:depth")
            print(
                f"\nSIGKILL with {messages - before} of {messages} undelivered: all delivered by the other replica "
                f"{took:.1f}s later; duplicates: {duplicates}; refused: {dict(bot.refused)}"
            )
            assert int(depth or 0) == 0
            assert duplicates <= 4  # at most the one in flight per channel the victim held
            assert not bot.refused, bot.refused
        finally:
            victim.stop()
            survivor.stop()


def test_sigterm_hands_the_channels_over_at_once(tmp_path: Path, broker: Redis) -> None:
    messages = 40
    with robots(Robot("dingtalk", secret=SECRET, per_minute=600, latency=0.2)) as (bot,):
        (leaving, leaving_port), (staying, _) = replicas(tmp_path, broker, bot, "dingtalk=600/60")
        try:
            for i in range(messages):
                assert post(leaving_port, KEYS[i % len(KEYS)], f"Handover{i:03d}") == 200
            eventually(lambda: metric_value(leaving_port, "alertagent_notifications_total") >= 3, 20, what="sending")
            leaving.stop()  # SIGTERM: in-flight sends finish, leases are given back
            stopped_at = time.monotonic()
            eventually(lambda: all(bot.count(f"Handover{i:03d}") >= 1 for i in range(messages)), 30, 0.2, what="all")
            took = time.monotonic() - stopped_at
            print(f"\nSIGTERM: the other replica finished the backlog {took:.1f}s later; duplicates {bot.duplicates()}")
            assert took < 5.0  # sooner than a lease expiry: the leases were released
            assert bot.duplicates() == 0  # a graceful stop acknowledges what it sent
            assert "stopped" in leaving.log_path.read_text()
        finally:
            leaving.stop()
            staying.stop()


@pytest.mark.timeout(60)  # without the fix, asyncio.run waits for ever on the feed it cannot cancel
def test_stop_feeding_ends_the_feed_wherever_the_cancel_lands(broker: Redis) -> None:
    """redis-py (8.1, Python 3.11) can let a cancel that lands inside a command go unraised; a replica's
    graceful stop then waited for ever on a feed that polled on (the leaving replica never said
    "stopped"). Polling back to back, most cancels land inside a command."""

    async def stops() -> list[float]:
        store = RedisStore(broker.url, poll_interval=0.0)
        store.add([(key, {"text": "x"}, 1, 1) for key in KEYS])
        took = []
        for _ in range(100):
            store.start_feeding(lambda _message: None)
            await asyncio.sleep(random.uniform(0, 0.003))
            began = time.monotonic()
            await store.stop_feeding(timeout=5)
            took.append(time.monotonic() - began)
            assert not store.feeding
        assert store.owned == set(KEYS)  # the feed worked: it holds every channel's lease
        await store.release()
        store.close()
        return took

    took = asyncio.run(stops())  # each stop ended within its 5 s bound, not how fast
    print(f"\n100 stops, slowest {max(took) * 1000:.1f} ms")
    left = redis.Redis.from_url(broker.url, decode_responses=True)
    assert left.keys("alertagent:gw:lease:*") == []  # release gave every lease back
    assert left.zcard("alertagent:gw:replicas") == 0


@pytest.mark.timeout(90)
def test_a_frozen_redis_holds_the_stop_for_a_bounded_time(broker: Redis) -> None:
    """A replica stopping while Redis accepts connections but answers nothing (SIGSTOP) gives up on
    its feed and its leases after `STOP_TIMEOUT` each and leaves the leases to expire: the stop no
    longer takes 5 s (redis-py's command timeout) per lease held (55 s with 10, past the pod's
    termination grace)."""
    keys = [f"team/frozen{i}" for i in range(10)]

    async def stop_frozen() -> float:
        store = RedisStore(broker.url, lease_seconds=120, poll_interval=0.05)
        store.add([(key, {"text": "x"}, 1, 1) for key in keys])
        store.start_feeding(lambda _message: None)
        while store.owned != set(keys):
            await asyncio.sleep(0.05)
        os.kill(broker.process.popen.pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            await store.stop_feeding()
            await store.release()
            took = time.monotonic() - began
            assert not store.feeding  # closing the connections ended the command it was in
        finally:
            os.kill(broker.process.popen.pid, signal.SIGCONT)
        store.close()
        return took

    took = asyncio.run(stop_frozen())
    print(f"\nstop with Redis frozen: {took:.1f}s (STOP_TIMEOUT {STOP_TIMEOUT}s)")
    assert took < 4 * STOP_TIMEOUT
    held = redis.Redis.from_url(broker.url, decode_responses=True).keys("alertagent:gw:lease:*")
    assert len(held) == len(keys)  # not given back: they expire, and another replica claims the messages


def _sigterm_and_time(process: Process) -> tuple[float, int | None]:
    began = time.monotonic()
    process.stop(grace=60)
    return time.monotonic() - began, process.popen.returncode


@pytest.mark.timeout(120)
def test_a_redis_freeze_stalls_delivery_only_while_it_lasts(tmp_path: Path, broker: Redis) -> None:
    """Redis frozen (SIGSTOP) for longer than a command's 5 s timeout while a replica delivers: the
    removal of a delivered message and the rate limiter fail. Each channel waits and resumes once Redis
    answers again (its worker used to end on the error, and the channel stayed stuck on this replica,
    which kept its lease)."""
    messages = 40
    with robots(Robot("dingtalk", secret=SECRET, per_minute=600, latency=0.5)) as (bot,):
        channels = channels_file(tmp_path / "channels.json", bot)
        args = ("--store", "redis", "--redis-url", broker.url, "--rate-limit", "dingtalk=600/60")
        args += ("--backoff-base", "0.5")
        gateway, port = start_gateway(tmp_path, [channels], tmp_path / "unused.db", extra_args=args)
        try:
            for i in range(messages):
                assert post(port, KEYS[i % len(KEYS)], f"Freeze{i:03d}") == 200
            eventually(lambda: metric_value(port, "alertagent_notifications_total") >= 4, 20, what="sending")
            os.kill(broker.process.popen.pid, signal.SIGSTOP)
            time.sleep(7)
            os.kill(broker.process.popen.pid, signal.SIGCONT)
            eventually(lambda: all(bot.count(f"Freeze{i:03d}") >= 1 for i in range(messages)), 60, 0.2, what="all")
            left = redis.Redis.from_url(broker.url, decode_responses=True)
            eventually(lambda: int(left.get("alertagent:gw:depth") or 0) == 0, 20, what="an empty queue")
            log = gateway.log_path.read_text()
            assert "the store cannot remove it" in log or "rate limiter's store failed" in log, log[-3000:]
            print(f"\nafter a 7 s freeze: all {messages} delivered, duplicates {bot.duplicates()}")
        finally:
            gateway.stop()


@pytest.mark.timeout(180)
def test_sigterm_with_redis_frozen_and_sends_in_flight_is_bounded(tmp_path: Path, broker: Redis) -> None:
    """SIGTERM while Redis is frozen and a slow robot holds sends in flight on every channel: the stop
    takes about the grace plus the 2 s bounds, not 5 s per send or lease (it was 104 s with 20
    channels); the other replica delivers everything once Redis answers again."""
    messages, grace = 40, 3.0
    with robots(Robot("dingtalk", secret=SECRET, per_minute=600, latency=2.0)) as (bot,):
        channels = channels_file(tmp_path / "channels.json", bot)
        args = ("--store", "redis", "--redis-url", broker.url, "--rate-limit", "dingtalk=600/60")
        leaving, port = start_gateway(
            tmp_path, [channels], tmp_path / "a.db", extra_args=(*args, "--shutdown-grace", str(grace))
        )
        staying: Process | None = None
        try:
            for i in range(messages):
                assert post(port, KEYS[i % len(KEYS)], f"Stop{i:03d}") == 200
            eventually(lambda: metric_value(port, "alertagent_notifications_total") >= 4, 20, what="sending")
            os.kill(broker.process.popen.pid, signal.SIGSTOP)
            try:
                took, code = _sigterm_and_time(leaving)
            finally:
                os.kill(broker.process.popen.pid, signal.SIGCONT)
            print(f"\nSIGTERM with Redis frozen: exited {code} after {took:.1f}s (grace {grace}s)")
            assert code == 0 and "stopped" in leaving.log_path.read_text()
            assert took < grace + 10
            staying, _ = start_gateway(tmp_path, [channels], tmp_path / "b.db", extra_args=args)
            eventually(lambda: all(bot.count(f"Stop{i:03d}") >= 1 for i in range(messages)), 60, 0.2, what="all")
        finally:
            leaving.stop()
            if staying is not None:
                staying.stop()


def test_messages_of_two_channels_with_the_same_entry_id_are_each_removed_from_their_own_stream(
    broker: Redis,
) -> None:
    """Entries added to two streams in the same millisecond have the same id ("MS-0"): the store used
    to keep one channel per id, so one message was removed from the wrong stream and the other never
    (sent again by the next holder; lost if this replica died in between)."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        store = RedisStore(broker.url)
        added = store.add([(key, {"text": f"{key} {i}"}, 1, 1) for i in range(10) for key in KEYS[:2]])
        ids = [{m.id for m in added if m.channel == key} for key in KEYS[:2]]
        assert ids[0] & ids[1]  # one script, mostly one millisecond: the same ids in both streams
        handed: list[Any] = []
        await store.poll(handed.append)
        assert sorted(m.channel for m in handed) == sorted(m.channel for m in added)
        for message in handed:
            await store.remove_from(message.channel, message.id)
        left = [store.sync.xlen(store.stream(key)) for key in KEYS[:2]], store.depth()
        await store.release()
        store.close()
        return handed, list(left)

    _, (lengths, depth) = asyncio.run(scenario())
    assert lengths == [0, 0] and depth == 0


def test_a_lost_lease_stops_this_replicas_delivery_of_the_channel(broker: Redis) -> None:
    """A lease that expired (Redis frozen past it) or that another replica took: this replica forgets
    the channel's queued messages at once (they used to be sent by both, out of order); taking the
    lease back hands them out again from its unacknowledged entries."""

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        store = RedisStore(broker.url)
        lost: list[str] = []
        store.add([(KEYS[0], {"text": f"m{i}"}, 1, 1) for i in range(3)])
        first: list[Any] = []
        await store.poll(first.append)
        store.sync.set(f"alertagent:gw:lease:{KEYS[0]}", "another-replica", px=60_000)
        await store.poll(lambda _m: None, lost.append)
        taken = list(lost)
        store.sync.delete(f"alertagent:gw:lease:{KEYS[0]}")  # expired: free again, this replica takes it
        again: list[Any] = []
        await store.poll(again.append, lost.append)
        await store.release()
        store.close()
        return taken, [m.body["text"] for m in first], [m.body["text"] for m in again]

    taken, first, again = asyncio.run(scenario())
    assert taken == [KEYS[0]]
    assert first == again == ["m0", "m1", "m2"]  # handed out again, in order, once the lease is back


@pytest.mark.timeout(120)
@pytest.mark.parametrize("incidents", [False, True], ids=["plain", "incidents"])
def test_a_frozen_redis_answers_webhooks_503_together_and_keeps_healthz_answering(
    tmp_path: Path, broker: Redis, incidents: bool
) -> None:
    """Webhooks that arrive while Redis is frozen wait on the asynchronous client: the event loop keeps
    serving /healthz, and each webhook answers 503 about one command timeout after it came, not one
    timeout after the one before it (they were written with the blocking client on the event loop:
    answered one after another, 5 s each, with /healthz waiting behind them), also for channels with
    the incident engine (a first version serialized those behind one lock: 5, 10, ... 30 s). Once
    Redis answers, webhooks are stored and delivered again."""
    webhooks = 6
    with robots(Robot("dingtalk", secret=SECRET, per_minute=600)) as (bot,):
        channels = channels_file(tmp_path / "channels.json", bot, incidents)
        args: tuple[str, ...] = ("--store", "redis", "--redis-url", broker.url, "--rate-limit", "dingtalk=600/60")
        if incidents:
            args += ("--kubeconfig", str(unreachable_kubeconfig(tmp_path / "kubeconfig")), "--pod-name", "gw-a")
        gateway, port = start_gateway(tmp_path, [channels], tmp_path / "unused.db", extra_args=args)
        try:
            assert post(port, KEYS[0], "Before") == 200
            eventually(lambda: bot.count("Before") >= 1, 20, what="delivery before the freeze")
            os.kill(broker.process.popen.pid, signal.SIGSTOP)
            try:

                async def during_freeze() -> tuple[list[tuple[int, float]], list[float]]:
                    async with httpx.AsyncClient(timeout=30) as client:

                        async def webhook(i: int) -> tuple[int, float]:
                            began = time.monotonic()
                            response = await client.post(
                                f"http://127.0.0.1:{port}/api/v1/alerts/webhook/{KEYS[i % len(KEYS)]}",
                                json=payload(f"Frozen{i}"),
                                headers={"Authorization": f"Bearer {TOKEN}"},
                            )
                            return response.status_code, time.monotonic() - began

                        async def health() -> list[float]:
                            waits = []
                            for _ in range(8):
                                began = time.monotonic()
                                assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
                                waits.append(time.monotonic() - began)
                                await asyncio.sleep(0.5)
                            return waits

                        answers, waits = await asyncio.gather(
                            asyncio.gather(*(webhook(i) for i in range(webhooks))), health()
                        )
                        return list(answers), waits

                answers, waits = asyncio.run(during_freeze())
            finally:
                os.kill(broker.process.popen.pid, signal.SIGCONT)
            print(
                f"\nRedis frozen: webhooks {[(c, round(t, 1)) for c, t in answers]}, /healthz {max(waits):.2f}s at most"
            )
            assert [code for code, _ in answers] == [503] * webhooks
            assert max(took for _, took in answers) < 9  # one 5 s command timeout, not six in a row
            assert max(waits) < 1.0
            assert post(port, KEYS[1], "After") == 200
            eventually(lambda: bot.count("After") >= 1, 30, what="delivery after the freeze")
        finally:
            gateway.stop()
