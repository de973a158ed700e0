"""Freed memory goes back to the OS after a burst, and asyncio's TLS connections read into small
buffers: a TLS answer several times larger than the buffer still arrives whole."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alertagent.clients import memory


@pytest.fixture
def restored_buffer_size() -> Iterator[None]:
    before = asyncio.sslproto.SSLProtocol.max_size
    yield
    asyncio.sslproto.SSLProtocol.max_size = before


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_small_tls_buffers_still_read_large_answers_whole(tmp_path: Path, restored_buffer_size: None) -> None:
    assert memory.small_tls_buffers()
    assert asyncio.sslproto.SSLProtocol.max_size == memory.TLS_READ_BUFFER == 64 * 1024
    cert, key = _self_signed(tmp_path)
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
