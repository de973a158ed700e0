"""The shared (Redis) rate limiter's logic, in its Python form `bucket_step` (the integration tests check
the Lua script computes the same): the same buckets as the in-process limiter, never more than a robot's
limit in any window whichever replica asks, every window checked before any token is taken; and the
queue's entry-id mapping."""

from __future__ import annotations

import pytest

from alertagent.gateway.ratelimit import Window, bucket_for, robot_key
from alertagent.gateway.ratelimit_redis import BucketParams, BucketState, bucket_params, bucket_step
from alertagent.gateway.store_redis import describe_url, entry_id, message_id


def send_times(params: list[BucketParams], messages: int, start: float = 1000.0) -> list[float]:
    """When each queued message may go: asking, then waiting exactly what the step says."""
    states: list[BucketState | None] = [None] * len(params)
    now, times = start, []
    while len(times) < messages:
        wait, states = bucket_step(params, states, now)
        if wait == 0:
            times.append(now)
        else:
            now += wait + 1e-9  # just past the refill (float rounding could leave 0.999... tokens)
    return times


def test_the_buckets_are_the_in_process_ones_and_keys_hide_the_url() -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=secret-token"
    windows = [Window(100, 60.0), Window(5, 1.0)]
    params = bucket_params("p:", robot_key(url), windows, burst=3)
    for p, w in zip(params, windows, strict=True):
        local = bucket_for(w, 3)
        assert (p.rate, p.capacity) == (local.rate, local.capacity)
        assert "secret-token" not in p.key and "dingtalk" not in p.key
    assert [p.key for p in params] == [f"p:rl:{robot_key(url)}:100/60", f"p:rl:{robot_key(url)}:5/1"]


@pytest.mark.parametrize("burst", [1, 5, 19])
def test_never_more_than_the_limit_in_any_window(burst: int) -> None:
    window = Window(20, 60.0)
    times = send_times(bucket_params("", "r", [window], burst), 120)
    for i, first in enumerate(times):
        assert len([t for t in times[i:] if t < first + window.seconds]) <= window.count


def test_two_replicas_sharing_the_state_get_the_limit_in_total() -> None:
    # Replicas A (every 50 ms) and B (every 37 ms) asking for two minutes: the shared state lets 20 a
    # minute through in total, not 20 each.
    params = bucket_params("", "r", [Window(20, 60.0)])
    states: list[BucketState | None] = [None]
    asks = sorted([(1000.0 + i * 0.05, 0) for i in range(2400)] + [(1000.0 + i * 0.037, 1) for i in range(3243)])
    sent = []
    for now, who in asks:
        wait, states = bucket_step(params, states, now)
        if wait == 0:
            sent.append((now, who))
    in_first_minute = [t for t, _ in sent if t < 1060.0]
    assert len(in_first_minute) <= 20
    assert {who for _, who in sent} == {0, 1}  # both got some: it is the total that is limited


def test_a_refusal_takes_no_token_from_any_window() -> None:
    # Feishu: 100/min and 5/s; the per-second bucket empty must not spend the per-minute one.
    params = bucket_params("", "r", [Window(100, 60.0), Window(5, 1.0)], burst=4)
    states: list[BucketState | None] = [None, None]
    for _ in range(4):  # a burst is capped below the window's count
        wait, states = bucket_step(params, states, 1000.0)
        assert wait == 0
    before = states
    wait, states = bucket_step(params, states, 1000.0)
    assert wait > 0 and states == before


def test_drain_empties_every_bucket_and_the_next_token_comes_after_one_refill() -> None:
    params = bucket_params("", "r", [Window(20, 60.0)], burst=5)
    _, states = bucket_step(params, [None], 1000.0, "drain")
    assert states == [BucketState(0.0, 1000.0)]
    wait, _ = bucket_step(params, states, 1000.0)
    assert wait == pytest.approx(1 / params[0].rate)


def test_the_backlog_drains_at_the_limit() -> None:
    window = Window(600, 60.0)
    times = send_times(bucket_params("", "r", [window]), 600)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate == pytest.approx(599 / 60, rel=0.01)  # (count - burst) / seconds


def test_entry_ids_map_to_message_ids_in_order() -> None:
    ids = ["1796039109690-0", "1796039109690-1", "1796039109691-0", "1796039109691-999999"]
    mapped = [message_id(i) for i in ids]
    assert mapped == sorted(mapped)
    assert [entry_id(m) for m in mapped] == ids


def test_redis_url_described_without_its_password() -> None:
    assert describe_url("redis://:hunter2@redis.example:6380/2") == "redis.example:6380/2"
    assert describe_url("rediss://user:pw@10.0.0.1") == "10.0.0.1:6379/0"
