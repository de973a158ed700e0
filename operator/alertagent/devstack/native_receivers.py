"""Local stand-ins for Slack and a generic webhook receiver, for channels the gateway delivers with
`spec.delivery: Gateway`, checking what the real ones check and answering as they do (sources in
`render.robots.answers`):

- Slack incoming webhook `POST /services/<team>/<hook>/<token>`: an unknown path 404 `no_service`;
  a body that is not a JSON object (Content-Type `application/json`) 400 `invalid_payload`; neither
  `text` nor `attachments` (each with `text` or `fallback`) 400 `no_text`; an archived channel 410
  `channel_is_archived`; over `per_second` messages in one second 429 `rate_limited` with
  Retry-After; success 200 `ok` (text/plain). Attachment text over 8,000 characters is truncated by
  Slack: counted in `truncated`.
- Slack Web API `POST /api/chat.postMessage` with `Authorization: Bearer <bot token>`: HTTP 200
  `{"ok": false, "error": "not_authed" | "invalid_auth" | "channel_not_found" | "no_text"}` or
  `{"ok": true, "channel": ..., "ts": ...}`.
- Webhook `POST /<path>`: `Authorization` must equal the expected value (else 401); the body must be
  Alertmanager's payload version 4 with every field of its `Message` and of each alert (else 400).

`answers` queues forced answers `(status, body)` for the next requests (a 429, a 500, ...). Each
stand-in records what it accepted (`arrivals`) and what it refused (`refused`, by error)."""

from __future__ import annotations

import collections
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self

from .processes import serve_http
from .robots import running

SLACK_ATTACHMENT_TEXT_LIMIT = 8_000
_MESSAGE_FIELDS = (
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
)
_ALERT_FIELDS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint")


@dataclass
class Arrival:
    """One accepted request: when (Unix seconds), its path, headers (lower-case names) and JSON body."""

    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False, sort_keys=True)


class _Handler(Protocol):
    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]: ...


def _serve(stand_in: _Handler, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, content_type, data = stand_in.handle(self.path, headers, raw)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return serve_http(Handler, port)


@dataclass
class _StandIn:
    port: int = 0
    arrivals: list[Arrival] = field(default_factory=list)
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    answers: collections.deque[tuple[int, str]] = field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        self._server = _serve(self, self.port)  # type: ignore[arg-type]  # subclasses define handle
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def texts(self) -> list[str]:
        with self._lock:
            return [a.text for a in self.arrivals]

    def count(self, needle: str) -> int:
        """Accepted messages whose JSON contains `needle`."""
        return sum(needle in t for t in self.texts())

    def _forced(self) -> tuple[int, str] | None:
        with self._lock:
            return self.answers.popleft() if self.answers else None

    def _refuse(self, status: int, error: str, content_type: str = "text/plain") -> tuple[int, str, bytes]:
        with self._lock:
            self.refused[error] += 1
        return status, content_type, error.encode()


@dataclass
class SlackStandIn(_StandIn):
    """Slack on its own port. `per_second`: messages a second per channel before 429; `archived`:
    the channels that answer 410; `channels`: those chat.postMessage knows."""

    token: str = field(default_factory=lambda: secrets.token_hex(12))
    bot_token: str = field(default_factory=lambda: "xoxb-" + secrets.token_hex(12))
    per_second: int = 5
    archived: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=lambda: {"#alerts"})
    truncated: int = 0

    @property
    def webhook_url(self) -> str:
        """The incoming webhook URL a channel is configured with (holds the token)."""
        return f"http://127.0.0.1:{self.port}/services/T0001/B0001/{self.token}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/chat.postMessage"

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]:
        if (forced := self._forced()) is not None:
            return forced[0], "text/plain", forced[1].encode()
        if path == "/api/chat.postMessage":
            return self._post_message(headers, raw)
        if path != f"/services/T0001/B0001/{self.token}":
            return self._refuse(404, "no_service")
        body = self._json(headers, raw)
        if body is None:
            return self._refuse(400, "invalid_payload")
        if (problem := self._message_problem(body)) is not None:
            return self._refuse(400, problem)
        channel = str(body.get("channel") or "#default")
        if channel in self.archived:
            return self._refuse(410, "channel_is_archived")
        if not self._accept(path, headers, body, channel):
            return self._refuse(429, "rate_limited")
        return 200, "text/plain", b"ok"

    def _post_message(self, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        body = self._json(headers, raw)
        if not token:
            error: str | None = "not_authed"
        elif scheme != "Bearer" or token != self.bot_token:
            error = "invalid_auth"
        elif body is None:
            error = "invalid_json"
        elif body.get("channel") not in self.channels:
            error = "channel_not_found"
        else:
            error = self._message_problem(body)
        if error is not None:
            with self._lock:
                self.refused[error] += 1
            return 200, "application/json", json.dumps({"ok": False, "error": error}).encode()
        assert body is not None
        if not self._accept("/api/chat.postMessage", headers, body, str(body["channel"])):
            data = json.dumps({"ok": False, "error": "ratelimited"}).encode()
            with self._lock:
                self.refused["ratelimited"] += 1
            return 429, "application/json", data
        answer = {"ok": True, "channel": body["channel"], "ts": f"{time.time():.6f}"}
        return 200, "application/json", json.dumps(answer).encode()

    @staticmethod
    def _json(headers: dict[str, str], raw: bytes) -> dict[str, Any] | None:
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _message_problem(self, body: dict[str, Any]) -> str | None:
        attachments = body.get("attachments")
        text = body.get("text")
        if attachments is not None and not isinstance(attachments, list):
            return "invalid_attachments"
        if not (isinstance(text, str) and text) and not attachments:
            return "no_text"
        if attachments and len(attachments) > 100:
            return "too_many_attachments"
        for attachment in attachments or []:
            if not isinstance(attachment, dict) or not (attachment.get("text") or attachment.get("fallback")):
                return "invalid_attachments"
        return None

    def _accept(self, path: str, headers: dict[str, str], body: dict[str, Any], channel: str) -> bool:
        now = time.time()
        with self._lock:
            recent = sum(
                1 for a in self.arrivals if a.at > now - 1 and (a.body.get("channel") or "#default") == channel
            )
            if recent >= self.per_second:
                return False
            for attachment in body.get("attachments") or []:
                if len(str(attachment.get("text", ""))) > SLACK_ATTACHMENT_TEXT_LIMIT:
                    self.truncated += 1
            self.arrivals.append(Arrival(now, path, headers, body))
        return True


@dataclass
class WebhookStandIn(_StandIn):
    """A webhook receiver on its own port; `authorization`: the Authorization header it requires."""

    authorization: str | None = None
    path: str = "/alerts"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]:
        if (forced := self._forced()) is not None:
            return forced[0], "text/plain", forced[1].encode()
        if path != self.path:
            return self._refuse(404, "not found")
        if self.authorization is not None and headers.get("authorization") != self.authorization:
            return self._refuse(401, "unauthorized")
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return self._refuse(415, "not JSON")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(400, "invalid JSON")
        if (problem := self._payload_problem(body)) is not None:
            return self._refuse(400, problem)
        with self._lock:
            self.arrivals.append(Arrival(time.time(), path, headers, body))
        return 200, "text/plain", b""

    @staticmethod
    def _payload_problem(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "not a JSON object"
        if missing := [f for f in _MESSAGE_FIELDS if f not in body]:
            return f"missing {missing}"
        if body["version"] != "4" or body["status"] not in ("firing", "resolved"):
            return "not Alertmanager's payload version 4"
        if not isinstance(body["alerts"], list) or not body["alerts"] or not isinstance(body["truncatedAlerts"], int):
            return "no alerts"
        for alert in body["alerts"]:
            if not isinstance(alert, dict) or (missing := [f for f in _ALERT_FIELDS if f not in alert]):
                return f"an alert misses {missing}"
        return None


stand_ins = running  # start the stand-ins; stop them on exit
