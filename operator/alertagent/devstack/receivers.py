"""A local HTTP server standing in for external receivers, checking what they check: on `/slack...`
a Slack incoming webhook (JSON with `attachments` or `text`, answers `ok`), elsewhere a generic
webhook receiving Alertmanager's payload (JSON, version "4"). Anything else is refused with 400."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from .processes import serve_http, stop_http


class Received:
    def __init__(self) -> None:
        self.posts: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    def alerts(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [alert for post in self.posts.get(path, []) for alert in post["alerts"]]

    def slack_messages(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.posts.get(path, []))


@contextmanager
def webhook_receiver(
    on_post: Callable[[str, dict[str, Any]], None] | None = None,
) -> Iterator[tuple[str, Received]]:
    """(base URL, what was received); `on_post(path, payload)` is called for each accepted POST, as it
    arrives (the demo prints it)."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            slack = self.path.startswith("/slack")
            try:
                payload = json.loads(body)
                if slack:
                    assert isinstance(payload.get("attachments"), list) or isinstance(payload.get("text"), str)
                else:
                    assert payload["version"] == "4" and isinstance(payload["alerts"], list)
            except (ValueError, KeyError, AssertionError):
                self.send_response(400)
                self.end_headers()
                return
            with received.lock:
                received.posts.setdefault(self.path, []).append(payload)
            if on_post is not None:
                on_post(self.path, payload)
            self.send_response(200)
            self.end_headers()
            if slack:
                self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = serve_http(Handler)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        stop_http(server)
