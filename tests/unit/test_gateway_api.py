"""The gateway's HTTP API over a real local port, delivering to local robot stand-ins: the answers
Alertmanager gets (200 once persisted, 400/401/404/413/503), test-send with the robot's own answer, and
no URL, token or secret in any answer or metric."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from alertagent.devstack.robots import Robot, robots
from alertagent.gateway.channels import ChannelSource
from alertagent.gateway.delivery import Gateway, Options
from alertagent.gateway.metrics import GatewayMetrics
from alertagent.gateway.ratelimit import Window
from alertagent.gateway.server import application
from alertagent.gateway.store import SQLiteStore

TOKEN = "tok-" + "x" * 20
SECRET = "SEC0123456789abcdef"


def payload(name: str = "DiskFull", status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "team/robot",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "severity": "critical"},
        "commonAnnotations": {"summary": f"{name} on node-1"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": "critical"},
                "annotations": {"summary": f"{name} on node-1"},
                "startsAt": "2025-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "abc",
            }
        ],
    }


def write_channels(path: Path, channels: dict[str, dict[str, Any]]) -> None:
    path.write_text(json.dumps({"cluster": "mon/main", "channels": channels}))


def channel(key: str, robot: Robot, secret: str | None = None) -> dict[str, Any]:
    return {"key": key, "type": robot.type, "webhook_url": robot.url, "sign_secret": secret, "token": TOKEN}


def with_gateway(
    tmp_path: Path,
    channels: dict[str, dict[str, Any]],
    test: Callable[[TestClient, Gateway], Awaitable[None]],
    **options: Any,
) -> None:
    write_channels(tmp_path / "channels.json", channels)

    async def main() -> None:
        gateway = Gateway(
            ChannelSource([tmp_path / "channels.json"]),
            SQLiteStore(tmp_path / "q.db"),
            GatewayMetrics(),
            Options(backoff_base=0.05, backoff_max=0.2, **options),
        )
        await gateway.start()
        client = TestClient(TestServer(application(gateway, max_request_bytes=64 * 1024)))
        await client.start_server()
        try:
            await test(client, gateway)
        finally:
            await client.close()
            await gateway.stop(1)

    asyncio.run(main())


async def until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_a_valid_notification_is_answered_200_and_delivered_signed(tmp_path: Path) -> None:
    with robots(Robot("dingtalk", secret=SECRET), Robot("wecom"), Robot("feishu", secret=SECRET)) as bots:

        async def test(client: TestClient, gateway: Gateway) -> None:
            for i in range(len(bots)):
                resp = await client.post(f"/api/v1/alerts/webhook/team/r{i}", json=payload(f"Alert{i}"), headers=AUTH)
                assert resp.status == 200, await resp.text()
            await until(lambda: all(bot.count(f"Alert{i}") == 1 for i, bot in enumerate(bots)))
            assert all(not bot.refused for bot in bots)  # signatures and timestamps passed the robots' checks
            stats = await (await client.get("/api/v1/channels")).json()
            assert stats["team/r0"] == {
                "queued": 0,
                "delivered": 1,
                "lastError": None,
                "lastErrorKind": None,
                "lastErrorCode": None,
            }

        with_gateway(tmp_path, {f"team/r{i}": channel(f"team/r{i}", b, SECRET) for i, b in enumerate(bots)}, test)


def test_refusals_400_401_404_413(tmp_path: Path) -> None:
    with robots(Robot("wecom")) as (bot,):

        async def test(client: TestClient, gateway: Gateway) -> None:
            url = "/api/v1/alerts/webhook/team/r"
            bad = payload()
            del bad["alerts"][0]["startsAt"]
            resp = await client.post(url, json=bad, headers=AUTH)
            assert resp.status == 400 and "alerts.0.startsAt" in (await resp.json())["error"]
            resp = await client.post(url, data=b"{not json", headers=AUTH)
            assert resp.status == 400
            assert (await client.post(url, json=payload())).status == 401
            assert (await client.post(url, json=payload(), headers={"Authorization": "Bearer nope"})).status == 401
            assert (await client.post("/api/v1/alerts/webhook/team/other", json=payload(), headers=AUTH)).status == 404
            huge = payload()
            huge["commonAnnotations"]["description"] = "x" * 70_000
            assert (await client.post(url, json=huge, headers=AUTH)).status == 413
            assert gateway.depth == 0 and not bot.arrivals

        with_gateway(tmp_path, {"team/r": channel("team/r", bot)}, test)


def test_a_full_queue_answers_503_and_nothing_is_dropped(tmp_path: Path) -> None:
    with robots(Robot("wecom")) as (bot,):
        bot.down("502")

        async def test(client: TestClient, gateway: Gateway) -> None:
            url = "/api/v1/alerts/webhook/team/r"
            assert (await client.post(url, json=payload("AlphaAlert"), headers=AUTH)).status == 200
            assert (await client.post(url, json=payload("BravoAlert"), headers=AUTH)).status == 200
            resp = await client.post(url, json=payload("CharlieAlert"), headers=AUTH)
            assert resp.status == 503 and "queue" in (await resp.json())["error"]
            await until(lambda: gateway.stat("team/r").last_error_kind == "retry")
            stats = await (await client.get("/api/v1/channels")).json()
            assert stats["team/r"]["queued"] == 2 and stats["team/r"]["lastError"] == "HTTP 502"
            bot.up()
            await until(lambda: gateway.depth == 0)
            assert (await client.post(url, json=payload("CharlieAlert"), headers=AUTH)).status == 200
            await until(lambda: bot.count("CharlieAlert") == 1)
            names = ("AlphaAlert", "BravoAlert", "CharlieAlert")
            assert [[n for n in names if n in t] for t in bot.texts()] == [[n] for n in names]  # in order, once

        fast = {"wecom": (Window(600, 60.0),)}
        with_gateway(tmp_path, {"team/r": channel("team/r", bot)}, test, queue_max=2, rate_overrides=fast)


def test_test_send_answers_with_the_robots_own_code_and_config_errors_are_held(tmp_path: Path) -> None:
    with robots(Robot("dingtalk", secret=SECRET)) as (bot,):

        async def test(client: TestClient, gateway: Gateway) -> None:
            resp = await client.post("/api/v1/test/team/r", headers=AUTH)
            answer = await resp.json()
            assert resp.status == 200 and answer["ok"] is False and answer["code"] == 310000
            # a queued notification with the wrong secret is tried once, then held: no retry loop
            assert (await client.post("/api/v1/alerts/webhook/team/r", json=payload(), headers=AUTH)).status == 200
            await until(lambda: bot.refused[310000] == 2)
            await asyncio.sleep(0.5)
            assert bot.refused[310000] == 2
            stats = (await (await client.get("/api/v1/channels")).json())["team/r"]
            assert stats["lastErrorKind"] == "config_error" and stats["lastErrorCode"] == 310000
            assert stats["queued"] == 1
            # the operator fixes the secret: the held message goes out
            write_channels(tmp_path / "channels.json", {"team/r": channel("team/r", bot, SECRET)})
            await until(lambda: bot.count("DiskFull") == 1)
            resp = await client.post("/api/v1/test/team/r", headers=AUTH)
            assert (await resp.json())["ok"] is True

        fast = {"dingtalk": (Window(600, 60.0),)}
        with_gateway(
            tmp_path, {"team/r": channel("team/r", bot, "SECwrong")}, test, poll_interval=0.1, rate_overrides=fast
        )


def test_no_url_token_or_secret_in_answers_or_metrics(tmp_path: Path) -> None:
    with robots(Robot("dingtalk", secret=SECRET)) as (bot,):

        async def test(client: TestClient, gateway: Gateway) -> None:
            await client.post("/api/v1/test/team/r", headers=AUTH)
            await client.post("/api/v1/alerts/webhook/team/r", json=payload(), headers=AUTH)
            await until(lambda: gateway.stat("team/r").last_error is not None)
            texts = [await (await client.get(path)).text() for path in ("/metrics", "/api/v1/channels", "/healthz")] + [
                await (await client.post("/api/v1/test/team/r", headers=AUTH)).text()
            ]
            metrics = texts[0]
            assert 'alertagent_alerts_received_total{channel="team/r"} 1.0' in metrics
            assert 'alertagent_notifications_total{channel_type="dingtalk",status="config_error"}' in metrics
            assert "alertagent_notification_queue_depth 1.0" in metrics
            for text in texts:
                for secret in (bot.token, TOKEN, "SECwrong", str(bot.port)):
                    assert secret not in text

        fast = {"dingtalk": (Window(600, 60.0),)}
        with_gateway(tmp_path, {"team/r": channel("team/r", bot, "SECwrong")}, test, rate_overrides=fast)
