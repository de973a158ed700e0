"""JSON requests to the API server on the event loop, for the writes of a burst (AlertRule statuses,
their revisions, their Warning Events).

Why not `Kube` in threads: a request through the Kubernetes client costs ~0.7 ms of Python (its
serialisation, `http.client`'s header parsing, the auth hook) plus a thread hop, and 32 threads in a
burst each open their own TLS connection. aiohttp (already loaded: Kopf runs on it) parses with its C
parser on the loop and keeps at most `limit` connections alive: ~0.35 ms a request, no threads.

Credentials come from the same `clients.connection.Connection` as `Kube` (one source of truth: the
service account, the kubeconfig, or the client an embedding gave), read again at most every
`AUTH_REREAD_SECONDS` and after any 401, so a rotated token is used as soon as the connection reads
it (an exec plugin's refresh hook is ~50 µs a call: 3 % of a 500-object burst when run per request).
Errors raise `ApiError` (with `.status` and `.body`), as `Kube` does, so callers handle both alike."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import aiohttp

from .connection import ApiError, Connection
from .http import LoopSession
from .kube import EVENT_SOURCE, MERGE, event_body, status_path

T = TypeVar("T")
JSON = "application/json"
AUTH_REREAD_SECONDS = 1.0  # a burst makes hundreds of requests a second; tokens rotate in minutes


class AsyncApi:
    """One aiohttp session per event loop (made on first use); `limit` requests in flight at most,
    the rest wait for a connection; each request times out after `timeout_seconds`."""

    def __init__(self, connection: Connection, limit: int = 4, timeout_seconds: float = 30.0) -> None:
        self.connection, self.limit, self.timeout = connection, limit, timeout_seconds
        self._session = LoopSession(self._new_session)
        self._authorization: str | None = None
        self._authorization_until = 0.0  # monotonic seconds

    def _ssl(self) -> ssl.SSLContext | bool:
        return self.connection.ssl_context() if self.connection.server.startswith("https") else False

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.limit, ssl=self._ssl())
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout))

    def session(self) -> aiohttp.ClientSession:
        return self._session.get()

    async def each(self, items: Iterable[T], write: Callable[[T], Awaitable[None]]) -> None:
        """`write(item)` for every item, begun in order, `limit` at a time (as many as can be in
        flight; one at a time for a `limit` below 1): the items not yet begun have no request body
        built, so a burst of 500 writes holds 4 at once, not 500 waiting for a connection. An
        exception a write raises does not stop the others: the first one raised is raised again
        once every item was written (cancelling `each` cancels the writes in flight)."""
        pending = iter(items)
        errors: list[Exception] = []

        async def worker() -> None:
            for item in pending:  # shared: each item is taken by one worker
                try:
                    await write(item)
                except Exception as err:
                    errors.append(err)

        await asyncio.gather(*(worker() for _ in range(max(1, self.limit))))
        if errors:
            raise errors[0]

    def _authorization_header(self) -> str | None:
        """The Authorization header's value (None: none), from the connection's credentials, re-read
        once `AUTH_REREAD_SECONDS` have passed."""
        now = time.monotonic()
        if now >= self._authorization_until:
            self._authorization = self.connection.authorization()
            self._authorization_until = now + AUTH_REREAD_SECONDS
        return self._authorization

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Accept": JSON, "Content-Type": content_type}
        if (authorization := self._authorization_header()) is not None:
            headers["Authorization"] = authorization
        return headers

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = JSON, decode: bool = True
    ) -> Any:
        """One request: the answer's JSON (None when empty, or not `decode`d). Raises ApiError for
        a status outside 2xx, aiohttp.ClientError or TimeoutError when the API server cannot be
        reached."""
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        async with self.session().request(
            method,
            self.connection.server + path,
            data=data,
            headers=self._headers(content_type),
            proxy=self.connection.proxy,
            server_hostname=self.connection.tls_server_name,
        ) as response:
            text = await response.read()
            if not 200 <= response.status <= 299:
                if response.status == 401:  # credentials rotated: read them again for the next request
                    self._authorization_until = 0.0
                    self.connection.forget_token()
                raise ApiError(response.status, response.reason or "", text.decode(errors="replace"))
            return json.loads(text) if text and decode else None

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """`Kube.patch_status` on the loop: the object as written, or None when it was deleted meanwhile."""
        try:
            written: dict[str, Any] = await self.request(
                "PATCH", status_path(plural, namespace, name), {"status": status}, MERGE
            )
            return written
        except ApiError as err:
            if err.status != 404:
                raise
            return None

    async def post_event(
        self, about: dict[str, Any], type: str, reason: str, message: str, component: str = EVENT_SOURCE
    ) -> None:
        """`Kube.post_event` on the loop."""
        event = event_body(about, type, reason, message, component)
        await self.request("POST", f"/api/v1/namespaces/{event['metadata']['namespace']}/events", event)

    async def close(self) -> None:
        await self._session.close()
