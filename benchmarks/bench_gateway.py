"""The gateway process against local robot stand-ins: webhook ingestion throughput and p99 handling
latency (robots answering instantly), peak memory with 10,000 queued messages, and the time to drain a
1,000-message backlog for one robot whose limit is 600 per minute.

    .venv/bin/python -m benchmarks.bench_gateway
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from tests.integration.test_gateway import TOKEN, channels_file, payload

from alertagent.devstack.agents import start_gateway
from alertagent.devstack.robots import Robot, robots

FAST = ("--rate-limit", "dingtalk=1000000/60", "--rate-limit", "wecom=1000000/60", "--rate-limit", "feishu=1000000/60")


async def post_many(port: int, keys: list[str], count: int, concurrency: int) -> tuple[float, list[float], int]:
    """(seconds, per-request latencies, non-200 answers) for `count` single-alert POSTs."""
    latencies: list[float] = []
    failures = 0
    bodies = [json.dumps(payload(f"Bench{i:06d}")).encode() for i in range(count)]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    # aiohttp as the client: httpx's async pool costs more CPU than the gateway on this 2-core machine
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as client:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                i = queue.get_nowait()
                url = f"http://127.0.0.1:{port}/api/v1/alerts/webhook/{keys[i % len(keys)]}"
                started = time.perf_counter()
                async with client.post(url, data=bodies[i], headers=headers) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - started)
                failures += resp.status != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, failures


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ingestion(work: Path) -> None:
    with robots(
        Robot("dingtalk", per_minute=10**6),
        Robot("wecom", per_minute=10**6),
        Robot("feishu", per_minute=10**6, per_second=10**6),
    ) as bots:
        by_key = {f"bench/{b.type}": b for b in bots}
        proc, port = start_gateway(
            work, [channels_file(work / "c1.json", by_key, None)], work / "q1.db", extra_args=FAST
        )
        try:
            asyncio.run(post_many(port, list(by_key), 500, 20))  # warm-up
            count = 5000
            seconds, latencies, failures = asyncio.run(post_many(port, list(by_key), count, 20))
            ordered = sorted(latencies)
            p50, p99 = ordered[len(ordered) // 2], ordered[int(0.99 * len(ordered)) - 1]
            print(
                f"ingestion: {count} alerts in {seconds:.2f} s = {count / seconds:.0f} alerts/s "
                f"(20 concurrent POSTs, robots instant, delivering meanwhile); latency p50 {p50 * 1000:.1f} ms, "
                f"p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms; non-200: {failures}"
            )
            deadline = time.monotonic() + 120
            while sum(len(b.arrivals) for b in bots) < count + 500 and time.monotonic() < deadline:
                time.sleep(0.2)
            print(f"  delivered meanwhile/after: {sum(len(b.arrivals) for b in bots)} of {count + 500}")
        finally:
            proc.stop()


def memory(work: Path) -> None:
    with robots(Robot("wecom")) as (bot,):
        bot.down("refused")
        proc, port = start_gateway(
            work,
            [channels_file(work / "c2.json", {"bench/w": bot}, None)],
            work / "q2.db",
            extra_args=("--queue-max", "20000", "--backoff-max", "60"),
        )
        try:
            idle = peak_rss_mib(proc.popen.pid)
            seconds, _, failures = asyncio.run(post_many(port, ["bench/w"], 10_000, 20))
            depth = httpx.get(f"http://127.0.0.1:{port}/healthz").json()["queued"]
            print(
                f"memory: peak RSS {peak_rss_mib(proc.popen.pid):.0f} MiB with {depth} messages queued "
                f"(idle {idle:.0f} MiB; queued in {seconds:.1f} s, non-200: {failures})"
            )
        finally:
            proc.stop()


def drain(work: Path) -> None:
    with robots(Robot("dingtalk", per_minute=600)) as (bot,):
        bot.down("refused")
        proc, port = start_gateway(
            work,
            [channels_file(work / "c3.json", {"bench/d": bot}, None)],
            work / "q3.db",
            extra_args=("--rate-limit", "dingtalk=600/60", "--backoff-max", "0.5"),
        )
        try:
            asyncio.run(post_many(port, ["bench/d"], 1000, 10))
            bot.up()
            started = time.monotonic()
            while len(bot.arrivals) < 1000 and time.monotonic() - started < 300:
                time.sleep(0.1)
            seconds = time.monotonic() - started
            arrivals = [a.at for a in bot.arrivals]
            rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) * 60
            refused = sum(bot.refused.values())
            print(
                f"drain: {len(arrivals)} messages for one robot (limit 600/min) in {seconds:.1f} s "
                f"= {rate:.0f}/min; refused by the robot: {refused}"
            )
        finally:
            proc.stop()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="alertagent-bench-gw-"))
    ingestion(work)
    memory(work)
    drain(work)


if __name__ == "__main__":
    main()
