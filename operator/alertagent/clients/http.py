"""HTTP clients for the monitoring targets (Alertmanager, Prometheus, vmalert, the gateway), and the
aiohttp session the operator's own requests on the event loop share a shape with.

Building a TLS context costs ~10 ms of CPU (it loads the CA bundle); the operator makes a client for
every probe and every step that talks to a target, so they share one context, built on first use
(the same one httpx builds by default: certifi's CA bundle, SSL_CERT_FILE/SSL_CERT_DIR honoured)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from functools import lru_cache

import aiohttp
import httpx


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def build_tls_context_aside() -> None:
    """Build the shared TLS context in a thread now, beside the operator's start: loading the CA
    bundle (~40 ms) releases the GIL, so it costs the start nothing on a second core, where the first
    reconcile's first client would otherwise wait for it. A failure is left for that client to raise."""

    def build() -> None:
        with contextlib.suppress(Exception):
            tls_context()

    threading.Thread(target=build, name="tls context", daemon=True).start()


def http_client(timeout_seconds: float) -> httpx.Client:
    """A blocking client (use it as a context manager)."""
    return httpx.Client(timeout=timeout_seconds, verify=tls_context())


class LoopSession:
    """An aiohttp session made on first use, on the running loop (made again when that loop changes or
    the session was closed), from `make`; `close()` ends it. For clients kept for a whole run."""

    def __init__(self, make: Callable[[], aiohttp.ClientSession]) -> None:
        self._make = make
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session, self._loop = self._make(), loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
