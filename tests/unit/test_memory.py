"""Freed memory goes back to the OS after a burst, and asyncio's TLS connections read into small
buffers: a TLS answer several times larger than the buffer still arrives whole."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from alertagent.clients import memory
from tests.tlscerts import self_signed


@pytest.fixture
def restored_buffer_size() -> Iterator[None]:
    before = asyncio.sslproto.SSLProtocol.max_size
    yield
    asyncio.sslproto.SSLProtocol.max_size = before


def test_small_tls_buffers_still_read_large_answers_whole(tmp_path: Path, restored_buffer_size: None) -> None:
    assert memory.small_tls_buffers()
    assert asyncio.sslproto.SSLProtocol.max_size == memory.TLS_READ_BUFFER == 64 * 1024
    cert, key = self_signed(tmp_path)
    body = bytes(range(256)) * 4096  # 1 MiB: sixteen buffers

    async def exchange() -> bytes:
        async def big(_request: web.Request) -> web.Response:
            return web.Response(body=body)

        app = web.Application()
        app.router.add_get("/big", big)
        runner = web.AppRunner(app)
        await runner.setup()
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        client_tls = ssl.create_default_context(cafile=str(cert))
        try:
            connector = aiohttp.TCPConnector(ssl=client_tls)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(f"https://localhost:{port}/big") as response,
            ):
                return await response.read()
        finally:
            await runner.cleanup()

    assert asyncio.run(exchange()) == body


def test_trim_collects_and_returns_pages() -> None:
    assert memory.trim() is True  # glibc here: malloc_trim is there
