"""`clients.asyncapi.AsyncApi` against a local HTTP server: the credentials come from the connection
(here a token file, as a pod's service account has), read again once `AUTH_REREAD_SECONDS` have passed
and right after a 401 (a rotated token); answers are JSON (or not read, `decode=False`); errors are
`ApiError` with the status and body."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alertagent.clients import asyncapi
from alertagent.clients.asyncapi import AsyncApi
from alertagent.clients.connection import ApiError, Connection

NOWHERE = Connection(server="http://127.0.0.1:9")


async def _server(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


def test_the_token_is_read_once_per_interval_and_again_after_a_401(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(asyncapi, "AUTH_REREAD_SECONDS", 60.0)  # nothing expires during the test
    token = tmp_path / "token"
    token.write_text("first\n")
    seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") == "Bearer old":
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        return web.json_response({"ok": True})

    async def run() -> list[Any]:
        runner, url = await _server(handler)
        connection = Connection(server=url, token_file=str(token))
        api = AsyncApi(connection)
        answers: list[Any] = []
        try:
            answers.append(await api.request("GET", "/a"))
            token.write_text("old\n")  # rotated, but within the interval the token read is kept
            answers += [await api.request("GET", "/a") for _ in range(2)]
            api._authorization_until = 0.0  # the interval has passed
            connection._token_read = (float("-inf"), None)  # and the connection's own: read "old"
            with pytest.raises(ApiError) as refused:
                await api.request("GET", "/b")
            answers.append(refused.value.status)
            token.write_text("new\n")
            answers.append(await api.request("GET", "/c"))  # the 401 made both read again: "new"
            return answers
        finally:
            await api.close()
            await runner.cleanup()

    answers = asyncio.run(run())
    assert answers == [{"ok": True}] * 3 + [401, {"ok": True}]
    assert seen == ["Bearer first"] * 3 + ["Bearer old", "Bearer new"]


def test_answers_are_json_unless_not_decoded_and_errors_carry_status_and_body() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/missing":
            return web.json_response({"reason": "NotFound"}, status=404)
        return web.json_response({"echo": json.loads(await request.text())})

    async def run() -> tuple[Any, Any, ApiError]:
        runner, url = await _server(handler)
        api = AsyncApi(Connection(server=url, token="t"))
        try:
            decoded = await api.request("POST", "/x", {"a": 1})
            skipped = await api.request("POST", "/x", {"a": 1}, decode=False)
            with pytest.raises(ApiError) as missing:
                await api.request("GET", "/missing")
            return decoded, skipped, missing.value
        finally:
            await api.close()
            await runner.cleanup()

    decoded, skipped, missing = asyncio.run(run())
    assert (decoded, skipped) == ({"echo": {"a": 1}}, None)
    assert missing.status == 404 and json.loads(missing.body) == {"reason": "NotFound"}


def test_each_writes_every_item_in_order_with_at_most_limit_begun_at_once() -> None:
    """A burst's writes are begun `limit` at a time: an item not yet begun has built nothing."""
    begun: list[int] = []
    in_flight, most = 0, 0

    async def write(item: int) -> None:
        nonlocal in_flight, most
        begun.append(item)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001 * (item % 3))
        in_flight -= 1

    asyncio.run(AsyncApi(NOWHERE, limit=4).each(range(50), write))
    assert begun == list(range(50))
    assert most == 4


def test_each_goes_on_after_a_failed_write_and_raises_its_error_once_every_item_was_written() -> None:
    done: list[int] = []

    async def write(item: int) -> None:
        await asyncio.sleep(0)
        if item == 2:
            raise ValueError("item 2")
        done.append(item)

    async def run() -> None:
        await AsyncApi(NOWHERE, limit=2).each(range(10), write)

    with pytest.raises(ValueError, match="item 2"):
        asyncio.run(run())
    assert sorted(done) == [0, 1, 3, 4, 5, 6, 7, 8, 9]


def test_each_writes_one_at_a_time_below_a_limit_of_one() -> None:
    begun: list[int] = []

    async def write(item: int) -> None:
        begun.append(item)
        await asyncio.sleep(0)

    asyncio.run(AsyncApi(NOWHERE, limit=0).each(range(5), write))
    assert begun == [0, 1, 2, 3, 4]
