"""The robots' answers classified, and their documented limits (pure).

Sources (the robots' own documentation, read 2025):
- DingTalk custom robot (open.dingtalk.com, "自定义机器人发送群消息" and the server error codes): HTTP 200
  with `{"errcode": 0, "errmsg": "ok"}`; `errcode` 310000 when the security check fails (bad `sign`,
  `timestamp` outside one hour, keyword missing from the content, IP not allowed), 300001 for an access
  token that does not exist, 400102 for a stopped robot, 130101 "send too fast, exceed 20 times per
  minute" (and 410100 for the same throttling), -1 "system busy". At most 20 messages a minute per robot.
- WeCom group robot (developer.work.weixin.qq.com/document/path/91770 and the global error codes,
  path/90313): HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`; 45009 "api freq out of limit",
  93000 "invalid webhook url" (a bad or deleted `key`), 40008 invalid msgtype, 44004 empty content,
  -1 "system busy". At most 20 messages a minute; `markdown.content` <= 4,096 bytes, `text.content`
  <= 2,048 bytes (UTF-8).
- Feishu/Lark custom bot (open.feishu.cn "自定义机器人使用指南" and "Rate limits"): `{"code": 0, "msg":
  "success"}` (older bots `{"StatusCode": 0, "StatusMessage": "success"}`); 19021 "sign match fail or
  timestamp is not within one hour from current time", 19022 IP not allowed, 19024 keyword not found,
  9499 bad request, 11232 frequency limited, 99991400 "request trigger frequency limit" (HTTP 429 or 400).
  At most 100 requests a minute and 5 a second per bot; request body <= 20 KB.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

AnswerKind = Literal["ok", "rate_limited", "retry", "config_error"]


@dataclass(frozen=True)
class Answer:
    """A robot's answer to one request.

    kind: `ok` (delivered), `rate_limited` (retry after the robot's window), `retry` (transient: 5xx,
    timeout, no answer, "system busy"), `config_error` (bad URL, token, signature, keyword, or a message
    the robot refuses: retrying the same request cannot help; report it on the channel's status).
    code: the robot's own code (`errcode` / `code`), else None. message: the robot's message, with
    URLs and credentials removed, at most 200 characters."""

    kind: AnswerKind
    code: int | None
    message: str

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


@dataclass(frozen=True)
class Limits:
    """A robot's documented limits.

    max_bytes: UTF-8 bytes allowed for a markdown/card message, measured on the message content
    (`measure="content"`: DingTalk, WeCom) or on the whole JSON request body (`"body"`: Feishu).
    text_max_bytes: the same for a `text` message. per_minute / per_second: messages per robot."""

    max_bytes: int
    text_max_bytes: int
    measure: Literal["content", "body"]
    per_minute: int
    per_second: int | None = None


# DingTalk publishes no byte limit for custom robots; 20,000 bytes of content is the limit its server
# enforces in practice (larger markdown is rejected), so messages are split below it.
LIMITS: dict[str, Limits] = {
    "dingtalk": Limits(max_bytes=20_000, text_max_bytes=20_000, measure="content", per_minute=20),
    "wecom": Limits(max_bytes=4_096, text_max_bytes=2_048, measure="content", per_minute=20),
    # "20 KB": 20,000 is under both readings (20,000 and 20,480).
    "feishu": Limits(max_bytes=20_000, text_max_bytes=20_000, measure="body", per_minute=100, per_second=5),
}

_RATE_CODES: dict[str, frozenset[int]] = {
    "dingtalk": frozenset({130101, 410100}),
    "wecom": frozenset({45009}),
    "feishu": frozenset({11232, 99991400}),
}
_BUSY_CODES: dict[str, frozenset[int]] = {  # "system busy": try again
    "dingtalk": frozenset({-1}),
    "wecom": frozenset({-1}),
    "feishu": frozenset(),
}
_CODE_KEYS = ("errcode", "code", "StatusCode")
_MESSAGE_KEYS = ("errmsg", "msg", "StatusMessage")
_SECRETISH = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"  # URLs (WeCom appends "more info at https://...")
    r"|(?:access_token|key|sign|token|secret)=\S+",
    re.IGNORECASE,
)


def classify(channel_type: str, status: int, body: str) -> Answer:
    """Classify a robot's answer: HTTP `status` (0 when no answer came: connection refused, timeout)
    and response `body` text. DingTalk and WeCom answer HTTP 200 with `errcode` != 0 on failure,
    Feishu with `code` != 0 (see the module docstring for the codes and their sources).

    Order: rate-limit codes and HTTP 429 -> rate_limited; no answer, 408, 5xx and "system busy" ->
    retry; 2xx with code 0 (or no code) -> ok; an unreadable 2xx body -> retry; anything else
    (other 4xx, any other code) -> config_error."""
    code, robot_message = _parse(body)
    message = _clean(robot_message) or (f"HTTP {status}" if status else "no answer")
    if status == 429 or (code is not None and code in _RATE_CODES.get(channel_type, frozenset())):
        return Answer("rate_limited", code, message)
    if status in {0, 408} or status >= 500:
        return Answer("retry", code, message)
    if code is not None and code in _BUSY_CODES.get(channel_type, frozenset()):
        return Answer("retry", code, message)
    if 200 <= status < 300:
        if code == 0:
            return Answer("ok", 0, message)
        if code is None:
            return Answer("ok", None, message) if _is_json(body) else Answer("retry", None, "unreadable answer")
    return Answer("config_error", code, message)


def _parse(body: str) -> tuple[int | None, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    code = next((data[k] for k in _CODE_KEYS if isinstance(data.get(k), int)), None)
    message = next((data[k] for k in _MESSAGE_KEYS if isinstance(data.get(k), str)), "")
    return code, message


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _clean(message: str) -> str:
    """The robot's message without URLs or credential-looking parameters, at most 200 characters."""
    cleaned = " ".join(_SECRETISH.sub("[redacted]", message).split())
    return cleaned[:200]
