"""Per-robot rate limiting: never more than a robot's limit in any window, queued rather than dropped,
and the rate itself kept (a backlog drains at the limit)."""

from __future__ import annotations

import asyncio

import pytest

from alertagent.gateway.delivery import backoff, windows_for
from alertagent.gateway.ratelimit import RateLimiter, Window, bucket_for, robot_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def send_times(window: Window, burst: int, messages: int) -> list[float]:
    """When each of `messages` queued messages may go (a simulated clock jumping to each next token)."""
    clock = Clock()
    bucket = bucket_for(window, burst, clock)
    times = []
    for _ in range(messages):
        clock.now += bucket.wait_time()
        bucket.take()
        times.append(clock.now)
    return times


@pytest.mark.parametrize("burst", [1, 5, 19])
def test_never_more_than_the_limit_in_any_window(burst: int) -> None:
    window = Window(20, 60.0)
    times = send_times(window, burst, 200)
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t <= start + window.seconds]
        assert len(in_window) <= window.count, (i, len(in_window))


def test_backlog_drains_at_the_limit() -> None:
    times = send_times(Window(600, 60.0), 1, 1000)
    elapsed = times[-1] - times[0]
    rate_per_minute = (len(times) - 1) / elapsed * 60
    assert 595 <= rate_per_minute <= 600


def test_windows_come_from_the_documented_limits_unless_overridden() -> None:
    assert windows_for("dingtalk") == (Window(20, 60.0),)
    assert windows_for("feishu") == (Window(100, 60.0), Window(5, 1.0))
    assert windows_for("wecom", {"wecom": (Window(600, 60.0),)}) == (Window(600, 60.0),)


def test_robots_are_limited_separately_and_waiters_are_served_in_order() -> None:
    async def scenario() -> tuple[list[str], float]:
        limiter = RateLimiter()
        fast = (Window(2, 0.2),)  # 1 burst + 1 per 0.2 s
        order: list[str] = []

        async def send(robot: str, name: str) -> None:
            await limiter.acquire(robot, fast)
            order.append(name)

        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(send("a", f"a{i}") for i in range(3)), send("b", "b0"))
        return order, loop.time() - started

    order, elapsed = asyncio.run(scenario())
    assert [n for n in order if n.startswith("a")] == ["a0", "a1", "a2"]
    assert order.index("b0") < order.index("a1")  # robot b does not wait for robot a's limit
    assert elapsed >= 0.35  # a1 and a2 each waited for a token (0.2 s apart)


def test_robot_key_hides_the_url() -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=secret-token"
    assert "secret" not in robot_key(url) and robot_key(url) == robot_key(url)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0)]:
        samples = [backoff(attempt, 1.0, 30.0) for _ in range(200)]
        assert all(full / 2 <= s <= full for s in samples)
        assert len(set(samples)) > 1  # jittered
