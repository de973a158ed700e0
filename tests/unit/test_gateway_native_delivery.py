"""The gateway delivering slack and webhook channels (`spec.delivery: Gateway`) over real local ports to
stand-ins that check what Slack and a webhook receiver check (devstack/native_receivers.py): the JSON
shape and Content-Type Slack requires, its `ok` answer, `no_service` and `channel_is_archived` held as
configuration errors until the channel changes, `invalid_payload` dropped alone (the next message goes
out), 429 and 500 retried; Alertmanager's payload forwarded as it arrived with the webhook's own
Authorization; test-send relaying the destination's answer."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from alertagent.devstack.native_receivers import SlackStandIn, WebhookStandIn, stand_ins
from alertagent.gateway.channels import ChannelSource
from alertagent.gateway.delivery import Gateway, Options
from alertagent.gateway.metrics import GatewayMetrics
from alertagent.gateway.server import application
from alertagent.gateway.store import SQLiteStore

TOKEN = "gateway-token-" + "x" * 16
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = {"slack": (), "webhook": ()}  # the tests are about answers, not pacing


def payload(name: str = "DiskFull", status: str = "firing") -> dict[str, Any]:
    """Alertmanager's webhook body as notify/webhook marshals it."""
    return {
        "receiver": "team/hook",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": "critical", "instance": "node-1"},
                "annotations": {"summary": f"{name} on node-1 <disk> & more"},
                "startsAt": "2025-01-01T00:00:00.5Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": "abc123",
            }
        ],
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "severity": "critical", "instance": "node-1"},
        "commonAnnotations": {"summary": f"{name} on node-1 <disk> & more"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "truncatedAlerts": 0,
    }


def slack_entry(stand_in: SlackStandIn, **fields: Any) -> dict[str, Any]:
    entry = {"type": "slack", "webhook_url": stand_in.webhook_url, "token": TOKEN, "slack": {"channel": "#alerts"}}
    return entry | fields


def webhook_entry(hook: WebhookStandIn, authorization: str | None) -> dict[str, Any]:
    return {"type": "webhook", "webhook_url": hook.url, "token": TOKEN, "authorization": authorization}


def write_channels(path: Path, channels: dict[str, dict[str, Any]]) -> None:
    entries = {key: {"key": key, **entry} for key, entry in channels.items()}
    path.write_text(json.dumps({"cluster": "mon/main", "channels": entries}))


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
            Options(backoff_base=0.05, backoff_max=0.2, **({"rate_overrides": FAST} | options)),
        )
        await gateway.start()
        client = TestClient(TestServer(application(gateway)))
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


async def post(client: TestClient, key: str, body: dict[str, Any]) -> None:
    resp = await client.post(f"/api/v1/alerts/webhook/{key}", json=body, headers=AUTH)
    assert resp.status == 200, await resp.text()


async def stats(client: TestClient, key: str) -> dict[str, Any]:
    return dict((await (await client.get("/api/v1/channels")).json())[key])


def test_a_slack_incoming_webhook_gets_json_it_accepts(tmp_path: Path) -> None:
    with stand_ins(SlackStandIn()) as (slack,):

        async def test(client: TestClient, gateway: Gateway) -> None:
            await post(client, "team/slack", payload())
            await until(lambda: slack.count("DiskFull") == 1)
            (arrival,) = slack.arrivals
            assert arrival.headers["content-type"] == "application/json; charset=utf-8"
            assert "authorization" not in arrival.headers  # an incoming webhook's URL is its credential
            body = arrival.body
            assert body["channel"] == "#alerts" and body["attachments"][0]["color"] == "danger"
            assert "DiskFull on node-1 &lt;disk&gt; &amp; more" in body["attachments"][0]["text"]
            assert not slack.refused and not slack.truncated
            assert (await stats(client, "team/slack"))["delivered"] == 1

        with_gateway(tmp_path, {"team/slack": slack_entry(slack)}, test)


def test_chat_post_message_uses_the_bot_token_and_a_refused_token_is_held_until_fixed(tmp_path: Path) -> None:
    with stand_ins(SlackStandIn()) as (slack,):
        bot = {"webhook_url": slack.api_url, "authorization": "Bearer xoxb-wrong"}

        async def test(client: TestClient, gateway: Gateway) -> None:
            await post(client, "team/slack", payload())
            await until(lambda: gateway.stat("team/slack").last_error_kind == "config_error")
            await asyncio.sleep(0.3)
            assert slack.refused["invalid_auth"] == 1  # tried once, then held: no retry loop
            state = await stats(client, "team/slack")
            assert (state["queued"], state["lastError"]) == (1, "HTTP 200: invalid_auth")
            # The operator writes the right token: the held message goes out.
            fixed = slack_entry(slack, **bot) | {"authorization": f"Bearer {slack.bot_token}"}
            write_channels(tmp_path / "channels.json", {"team/slack": fixed})
            await until(lambda: slack.count("DiskFull") == 1)
            assert slack.arrivals[0].headers["authorization"] == f"Bearer {slack.bot_token}"

        with_gateway(tmp_path, {"team/slack": slack_entry(slack, **bot)}, test, poll_interval=0.1)


def test_no_service_and_archived_channels_are_held_as_configuration_errors(tmp_path: Path) -> None:
    with stand_ins(SlackStandIn(archived={"#old"})) as (slack,):
        unknown = slack_entry(slack, webhook_url=slack.webhook_url.replace(slack.token, "revoked"))
        archived = slack_entry(slack, slack={"channel": "#old"})

        async def test(client: TestClient, gateway: Gateway) -> None:
            await post(client, "team/gone", payload())
            await post(client, "team/old", payload())
            await until(lambda: gateway.stat("team/gone").last_error_kind == gateway.stat("team/old").last_error_kind)
            await until(lambda: gateway.stat("team/old").last_error_kind == "config_error")
            gone, old = await stats(client, "team/gone"), await stats(client, "team/old")
            assert (gone["lastErrorKind"], gone["lastError"], gone["queued"]) == (
                "config_error",
                "HTTP 404: no_service",
                1,
            )
            assert (old["lastError"], old["queued"]) == ("HTTP 410: channel_is_archived", 1)
            assert not slack.arrivals

        with_gateway(tmp_path, {"team/gone": unknown, "team/old": archived}, test)


def test_an_invalid_payload_answer_drops_that_message_alone(tmp_path: Path) -> None:
    with stand_ins(SlackStandIn()) as (slack,):
        slack.answers.append((400, "invalid_payload"))

        async def test(client: TestClient, gateway: Gateway) -> None:
            await post(client, "team/slack", payload("FirstAlert"))
            await post(client, "team/slack", payload("SecondAlert"))
            await until(lambda: slack.count("SecondAlert") == 1 and gateway.depth == 0)
            assert slack.count("FirstAlert") == 0
            state = await stats(client, "team/slack")
            assert (state["delivered"], state["lastErrorKind"], state["lastError"]) == (
                1,
                "rejected",
                "HTTP 400: invalid_payload",
            )
            metrics = await (await client.get("/metrics")).text()
            assert 'alertagent_notifications_total{channel_type="slack",status="rejected"} 1.0' in metrics

        with_gateway(tmp_path, {"team/slack": slack_entry(slack)}, test)


def test_rate_limited_and_server_errors_are_retried_until_delivered_once(tmp_path: Path) -> None:
    with stand_ins(SlackStandIn()) as (slack,):
        slack.answers.extend([(429, "rate_limited"), (500, "rollup_error")])

        async def test(client: TestClient, gateway: Gateway) -> None:
            await post(client, "team/slack", payload())
            await until(lambda: slack.count("DiskFull") == 1)
            await asyncio.sleep(0.2)
            assert slack.count("DiskFull") == 1 and not slack.answers
            metrics = await (await client.get("/metrics")).text()
            assert 'alertagent_notifications_total{channel_type="slack",status="rate_limited"} 1.0' in metrics
            assert 'alertagent_notifications_total{channel_type="slack",status="retry"} 1.0' in metrics

        with_gateway(tmp_path, {"team/slack": slack_entry(slack)}, test)


def test_slack_messages_keep_to_one_a_second_per_channel(tmp_path: Path) -> None:
    # Slack allows short bursts over one a second: the stand-in refuses a third message in a second.
    with stand_ins(SlackStandIn(per_second=2)) as (slack,):

        async def test(client: TestClient, gateway: Gateway) -> None:
            for i in range(3):
                await post(client, "team/slack", payload(f"Alert{i}"))
            await until(lambda: len(slack.arrivals) == 3)
            times = [a.at for a in slack.arrivals]
            assert all(b - a >= 0.7 for a, b in itertools.pairwise(times)), times  # ~1 s apart, as sent
            assert not slack.refused  # Slack never had to say rate_limited

        with_gateway(tmp_path, {"team/slack": slack_entry(slack)}, test, rate_overrides={})


def test_a_webhook_gets_alertmanagers_payload_as_it_arrived_with_its_own_authorization(tmp_path: Path) -> None:
    basic = "Basic " + base64.b64encode(b"alertagent:s3cret").decode()
    with stand_ins(WebhookStandIn(authorization=basic), WebhookStandIn(authorization="Bearer right")) as (
        hook,
        locked,
    ):

        async def test(client: TestClient, gateway: Gateway) -> None:
            sent = [payload("DiskFull"), payload("DiskFull", "resolved")]
            for body in sent:
                await post(client, "team/hook", body)
            await post(client, "team/locked", payload())
            await until(lambda: len(hook.arrivals) == 2)
            assert [a.body for a in hook.arrivals] == sent  # the v4 payload, field for field, in order
            assert all(a.headers["authorization"] == basic for a in hook.arrivals)
            assert hook.arrivals[0].headers["content-type"].startswith("application/json")
            # Wrong credentials: 401, a configuration error held until the channel changes.
            await until(lambda: gateway.stat("team/locked").last_error_kind == "config_error")
            assert locked.refused["unauthorized"] == 1 and (await stats(client, "team/locked"))["queued"] == 1

        channels = {"team/hook": webhook_entry(hook, basic), "team/locked": webhook_entry(locked, "Bearer wrong")}
        with_gateway(tmp_path, channels, test)


def test_test_send_relays_the_destinations_answer(tmp_path: Path) -> None:
    with stand_ins(SlackStandIn(), WebhookStandIn(authorization="Bearer t")) as (slack, hook):

        async def test(client: TestClient, gateway: Gateway) -> None:
            answer = await (await client.post("/api/v1/test/team/slack", headers=AUTH)).json()
            assert answer == {"ok": True, "kind": "ok", "code": None, "message": "ok"}
            assert slack.count("TEST MESSAGE") == 1 and slack.arrivals[0].body["attachments"][0]["color"] == "#439FE0"
            answer = await (await client.post("/api/v1/test/team/hook", headers=AUTH)).json()
            assert answer["ok"] is True and hook.arrivals[0].body["commonLabels"]["alertname"] == "AlertAgentTest"
            slack.answers.append((404, "no_service"))
            answer = await (await client.post("/api/v1/test/team/slack", headers=AUTH)).json()
            assert answer == {"ok": False, "kind": "config_error", "code": None, "message": "HTTP 404: no_service"}

        channels = {"team/slack": slack_entry(slack), "team/hook": webhook_entry(hook, "Bearer t")}
        with_gateway(tmp_path, channels, test)


def test_a_store_that_cannot_remove_a_delivered_message_holds_the_channel_back_without_resending(
    tmp_path: Path, caplog: Any
) -> None:
    """The store (Redis, frozen) fails to remove a message the destination accepted: the worker retries
    the removal, never sends the message again, and goes on with the next once the store answers (it
    used to end on the error and the channel stayed stuck)."""
    with stand_ins(WebhookStandIn(authorization="Bearer t")) as (hook,):

        async def test(client: TestClient, gateway: Gateway) -> None:
            remove, failures = gateway.store.remove, iter(range(3))

            def flaky_remove(message_id: int) -> None:
                if next(failures, None) is not None:
                    raise ConnectionError("the store is frozen")
                remove(message_id)

            gateway.store.remove = flaky_remove  # type: ignore[method-assign]
            await post(client, "team/hook", payload("First"))
            await post(client, "team/hook", payload("Second"))
            await until(lambda: len(hook.arrivals) == 2 and gateway.depth == 0)
            names = [a.body["groupLabels"]["alertname"] for a in hook.arrivals]
            assert names == ["First", "Second"]  # each once, in order
            assert gateway.store.pending() == [] and (await stats(client, "team/hook"))["delivered"] == 2
            assert caplog.text.count("the store cannot remove it") == 3

        with_gateway(tmp_path, {"team/hook": webhook_entry(hook, "Bearer t")}, test)


def test_a_worker_that_raises_is_started_again(tmp_path: Path, caplog: Any) -> None:
    with stand_ins(WebhookStandIn(authorization="Bearer t")) as (hook,):

        async def test(client: TestClient, gateway: Gateway) -> None:
            send, failures = gateway.send, iter(range(1))

            async def broken_send(*args: Any) -> Any:
                if next(failures, None) is not None:
                    raise RuntimeError("a bug")
                return await send(*args)

            gateway.send = broken_send  # type: ignore[method-assign]
            await post(client, "team/hook", payload("Survivor"))
            await until(lambda: len(hook.arrivals) == 1)
            assert "its delivery stopped on RuntimeError('a bug'); starting it again" in caplog.text

        with_gateway(tmp_path, {"team/hook": webhook_entry(hook, "Bearer t")}, test)
