"""A local HTTP server standing in for a webhook receiver: it accepts Alertmanager's webhook payload
(JSON, version "4") and records it per path, rejecting anything else as the real receivers would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Received:
    def __init__(self) -> None:
        self.posts: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    def alerts(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [alert for post in self.posts.get(path, []) for alert in post["alerts"]]


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    """(base URL, what was received)."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = json.loads(body)
                assert payload["version"] == "4" and isinstance(payload["alerts"], list)
            except (ValueError, KeyError, AssertionError):
                self.send_response(400)
                self.end_headers()
                return
            with received.lock:
                received.posts.setdefault(self.path, []).append(payload)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
