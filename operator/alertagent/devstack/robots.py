"""Local stand-ins for the DingTalk, WeCom and Feishu/Lark group robots, checking what the real services
check and answering with their real codes (see `render.robots.answers` for the sources):

- DingTalk `POST /robot/send?access_token=T[&timestamp=MS&sign=S]`: unknown token 300001; with a secret,
  `timestamp` (ms) within one hour of now and `sign = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))`
  (URL-encoded) else 310000; content over 20,000 bytes 460101; over `per_minute` in any 60 s 130101.
- WeCom `POST /cgi-bin/webhook/send?key=K`: unknown key 93000; `markdown.content` over 4,096 bytes or
  `text.content` over 2,048 bytes 40058; over `per_minute` 45009.
- Feishu `POST /open-apis/bot/v2/hook/T`: unknown token 19001; with a secret, `timestamp` (s, in the
  body) within one hour and `sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))` else
  19021; body over 20,000 bytes 9499; over `per_minute` in 60 s or `per_second` in 1 s 11232.

Failures are HTTP 200 with the code, as the real robots answer. A robot can be taken `down` (connection
refused, or HTTP 502) and brought `up`; it counts what it accepted and what it refused."""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

from .processes import serve_http, stop_http

RobotType = Literal["dingtalk", "wecom", "feishu"]
PATHS = {"dingtalk": "/robot/send", "wecom": "/cgi-bin/webhook/send", "feishu": "/open-apis/bot/v2/hook/"}
DEFAULT_LIMITS: dict[str, tuple[int, int | None]] = {"dingtalk": (20, None), "wecom": (20, None), "feishu": (100, 5)}
SIGN_WINDOW_SECONDS = 3600


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Arrival:
    """One accepted message: when (Unix seconds), the JSON body, and its text (for finding alerts)."""

    at: float
    body: dict[str, Any]

    @property
    def text(self) -> str:
        body = {k: v for k, v in self.body.items() if k not in ("timestamp", "sign")}
        return json.dumps(body, ensure_ascii=False, sort_keys=True)


@dataclass
class Robot:
    """One robot stand-in on its own port. `per_minute` / `per_second`: its rate limits (defaults: the
    real ones); `latency`: seconds before it answers."""

    type: RobotType
    secret: str | None = None
    per_minute: int | None = None
    per_second: int | None = None
    latency: float = 0.0
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = 0
    arrivals: list[Arrival] = field(default_factory=list)
    refused: collections.Counter[int] = field(default_factory=collections.Counter)
    mode: Literal["up", "refused", "502"] = "up"

    def __post_init__(self) -> None:
        default_minute, default_second = DEFAULT_LIMITS[self.type]
        self.per_minute = self.per_minute or default_minute
        self.per_second = self.per_second if self.per_second is not None else default_second
        self._lock = threading.Lock()
        self._accepted_at: collections.deque[float] = collections.deque()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The webhook URL a channel is configured with (holds the token)."""
        base = f"http://127.0.0.1:{self.port}{PATHS[self.type]}"
        if self.type == "dingtalk":
            return f"{base}?access_token={self.token}"
        if self.type == "wecom":
            return f"{base}?key={self.token}"
        return base + self.token

    def start(self) -> Robot:
        robot = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if robot.latency:
                    time.sleep(robot.latency)
                status, answer = robot.handle(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = serve_http(Handler, self.port)
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop_http(self._server)
            self._server = None

    def down(self, mode: Literal["refused", "502"] = "refused") -> None:
        """Stop answering: close the port (connection refused) or answer HTTP 502."""
        self.mode = mode
        if mode == "refused":
            self.stop()

    def up(self) -> None:
        if self._server is None:
            self.start()
        self.mode = "up"

    # -- counting --------------------------------------------------------------------------------
    def texts(self) -> list[str]:
        with self._lock:
            return [a.text for a in self.arrivals]

    def count(self, needle: str) -> int:
        """Accepted messages whose text contains `needle`."""
        return sum(needle in t for t in self.texts())

    def duplicates(self) -> int:
        """Accepted messages identical to an earlier one (at-least-once delivery's repeats)."""
        texts = self.texts()
        return len(texts) - len(set(texts))

    # -- the checks ------------------------------------------------------------------------------
    def handle(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if self.mode == "502":
            return 502, {"error": "bad gateway"}
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            body = json.loads(raw)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            return self._refuse({"dingtalk": 40035, "wecom": 40001, "feishu": 9499}[self.type], "invalid JSON")
        now = time.time()
        if self.type == "dingtalk":
            problem = self._dingtalk(url.path, query, body, now)
        elif self.type == "wecom":
            problem = self._wecom(url.path, query, body)
        else:
            problem = self._feishu(url.path, body, len(raw), now)
        if problem is not None:
            return self._refuse(*problem)
        with self._lock:
            window = self._accepted_at
            while window and window[0] <= now - 60:
                window.popleft()
            last_second = sum(1 for t in window if t > now - 1)
            assert self.per_minute is not None
            if len(window) >= self.per_minute or (self.per_second and last_second >= self.per_second):
                code = {"dingtalk": 130101, "wecom": 45009, "feishu": 11232}[self.type]
                self.refused[code] += 1
                return 200, self._answer(code, "send too fast / frequency limited")
            window.append(now)
            self.arrivals.append(Arrival(now, body))
        return 200, self._answer(0, "ok" if self.type != "feishu" else "success")

    def _answer(self, code: int, message: str) -> dict[str, Any]:
        if self.type == "feishu":
            return {"code": code, "msg": message, "data": {}}
        return {"errcode": code, "errmsg": message}

    def _refuse(self, code: int, message: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refused[code] += 1
        return 200, self._answer(code, message)

    def _dingtalk(self, path: str, query: dict[str, str], body: dict[str, Any], now: float) -> tuple[int, str] | None:
        if path != PATHS["dingtalk"] or query.get("access_token") != self.token:
            return 300001, "token is not exist"
        if self.secret:
            try:
                timestamp = int(query["timestamp"])
            except (KeyError, ValueError):
                return 310000, "sign not match: timestamp missing"
            if abs(now * 1000 - timestamp) > SIGN_WINDOW_SECONDS * 1000:
                return 310000, "sign not match: timestamp is more than one hour from now"
            if not hmac.compare_digest(query.get("sign", ""), dingtalk_sign(self.secret, timestamp)):
                return 310000, "sign not match"
        kind = body.get("msgtype")
        if kind not in ("text", "markdown", "link", "actionCard", "feedCard"):
            return 40008, "invalid msgtype"
        content = (
            (body.get("markdown") or {}).get("text") if kind == "markdown" else (body.get("text") or {}).get("content")
        )
        if kind in ("markdown", "text") and not isinstance(content, str):
            return 40035, "missing content"
        if isinstance(content, str) and len(content.encode()) > 20_000:
            return 460101, "message too long, exceed 20000 bytes"
        return None

    def _wecom(self, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, str] | None:
        if path != PATHS["wecom"] or query.get("key") != self.token:
            return 93000, "invalid webhook url"
        kind = body.get("msgtype")
        if kind not in ("text", "markdown", "markdown_v2", "image", "news", "file", "template_card"):
            return 40008, "invalid message type"
        if kind in ("text", "markdown", "markdown_v2"):
            content = (body.get(kind) or {}).get("content")
            if not isinstance(content, str) or not content:
                return 44004, "empty content"
            limit = 2048 if kind == "text" else 4096
            if len(content.encode()) > limit:
                return 40058, f"{kind}.content exceed max length {limit}"
        return None

    def _feishu(self, path: str, body: dict[str, Any], size: int, now: float) -> tuple[int, str] | None:
        if path != PATHS["feishu"] + self.token:
            return 19001, "param invalid: incoming webhook access token invalid"
        if size > 20_000:
            return 9499, "request body too large"
        if self.secret:
            try:
                timestamp = int(body["timestamp"])
            except (KeyError, ValueError, TypeError):
                return 19021, "sign match fail or timestamp is not within one hour from current time"
            if abs(now - timestamp) > SIGN_WINDOW_SECONDS or not hmac.compare_digest(
                str(body.get("sign", "")), feishu_sign(self.secret, timestamp)
            ):
                return 19021, "sign match fail or timestamp is not within one hour from current time"
        if body.get("msg_type") not in ("text", "post", "image", "share_chat", "interactive"):
            return 9499, "Bad Request: msg_type"
        return None


class Startable(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


@contextmanager
def running(*servers: S) -> Iterator[tuple[S, ...]]:
    """Start the local stand-ins (robots, Slack, webhooks); stop them on exit, also after an error."""
    started = [server.start() for server in servers]
    try:
        yield tuple(started)
    finally:
        for server in started:
            server.stop()


robots = running  # the robot stand-ins' name in the tests
