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

Alertmanager's own types delivered by the gateway (`spec.delivery: Gateway`):
- Slack incoming webhooks (api.slack.com changelog 2016-05-17 "Improving error conditions for Incoming
  Webhooks"; docs "Rate limits"): HTTP 200 `ok`; 400 `invalid_payload`, `user_not_found` (and
  `no_text`, `too_many_attachments`); 403 `action_prohibited`, `invalid_token`; 404 `channel_not_found`,
  `no_service` (a disabled or unknown webhook); 410 `channel_is_archived`; 500 `rollup_error`; 429 with
  Retry-After when over about one message a second per channel (short bursts allowed). Slack's Web API
  (`chat.postMessage`, with a bot token) answers HTTP 200 `{"ok": true}` or `{"ok": false, "error":
  "channel_not_found"}` (`ratelimited` with HTTP 429). A message's text is truncated at 40,000
  characters (changelog 2018-04 "Truncating really long messages"); an attachment's text at about
  8,000 (observed, not documented), so attachments are split below it.
- Generic webhook (Alertmanager's notify/webhook): any 2xx is success; Alertmanager retries 5xx only.
  No documented rate.
- Discord webhooks (discord.com/developers/docs, "Execute Webhook", "Rate Limits", "JSON Error
  Codes"): 204 (or 200 with `?wait=true`); 429 with `retry_after`; 400 with `{"code": 50006, ...}` for
  a message it refuses; 401/404 `{"code": 10015, "message": "Unknown Webhook"}`. An embed's description
  holds 4,096 characters; about 5 requests per 2 seconds and 30 a minute per channel.
- Telegram Bot API (core.telegram.org/bots/api "Making requests", sendMessage; "Bots FAQ" on limits):
  `{"ok": true, ...}` or `{"ok": false, "error_code": 400, "description": "Bad Request: chat not
  found"}`; 401 a bad token; 403 the bot was blocked or removed; 429 with `parameters.retry_after`.
  Text 1-4,096 characters; about one message a second per chat and 20 a minute per group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

AnswerKind = Literal["ok", "rate_limited", "retry", "config_error", "rejected"]


@dataclass(frozen=True)
class Answer:
    """A robot's answer to one request.

    kind: `ok` (delivered), `rate_limited` (retry after the robot's window), `retry` (transient: 5xx,
    timeout, no answer, "system busy"), `config_error` (bad URL, token, signature, keyword, or a message
    the robot refuses: retrying the same request cannot help; report it on the channel's status),
    `rejected` (the destination refused this one message, e.g. Slack `invalid_payload` or a webhook's
    400: it is dropped, counted and reported, and the channel's next messages are delivered).
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
    (`measure="content"`: DingTalk, WeCom) or on the whole JSON request body (`"body"`: Feishu); with
    `measure="characters"` (Slack, Discord, Telegram), characters of the message text; 0: no limit.
    text_max_bytes: the same for a `text` message. per_minute / per_second: messages per robot (0: no
    limit)."""

    max_bytes: int
    text_max_bytes: int
    measure: Literal["content", "body", "characters"]
    per_minute: int
    per_second: int | None = None


# DingTalk publishes no byte limit for custom robots; 20,000 bytes of content is the limit its server
# enforces in practice (larger markdown is rejected), so messages are split below it.
LIMITS: dict[str, Limits] = {
    "dingtalk": Limits(max_bytes=20_000, text_max_bytes=20_000, measure="content", per_minute=20),
    "wecom": Limits(max_bytes=4_096, text_max_bytes=2_048, measure="content", per_minute=20),
    # "20 KB": 20,000 is under both readings (20,000 and 20,480).
    "feishu": Limits(max_bytes=20_000, text_max_bytes=20_000, measure="body", per_minute=100, per_second=5),
    # Attachment text, under Slack's observed ~8,000-character cut; one message a second per channel.
    "slack": Limits(max_bytes=7_000, text_max_bytes=7_000, measure="characters", per_minute=60, per_second=1),
    "webhook": Limits(max_bytes=0, text_max_bytes=0, measure="body", per_minute=0),  # Alertmanager's payload
    # An embed description; 5 per 2 s per webhook (as 2 a second) and 30 a minute per channel.
    "discord": Limits(max_bytes=4_096, text_max_bytes=4_096, measure="characters", per_minute=30, per_second=2),
    "telegram": Limits(max_bytes=4_096, text_max_bytes=4_096, measure="characters", per_minute=20, per_second=1),
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
    (other 4xx, any other code) -> config_error. Alertmanager's own types (slack, webhook, discord,
    telegram) are classified by their own rules (`NATIVE_CLASSIFIERS`)."""
    if (native := NATIVE_CLASSIFIERS.get(channel_type)) is not None:
        return native(status, body)
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


# ----------------------------------------------------------------------------------------------------
# Alertmanager's own types delivered by the gateway (sources in the module docstring)

# Slack errors that refuse this message itself (anything else Slack refuses is configuration).
_SLACK_REJECTED = frozenset(
    {"invalid_payload", "no_text", "too_many_attachments", "invalid_attachments", "invalid_blocks", "msg_too_long"}
)
_SLACK_RETRY = frozenset({"rollup_error", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
_SLACK_RATE = frozenset({"ratelimited", "rate_limited"})


def _transient(status: int) -> bool:
    return status in {0, 408} or status >= 500


def _http_message(status: int, said: str) -> str:
    said = _clean(said)
    return f"HTTP {status}: {said}" if status and said else (f"HTTP {status}" if status else "no answer")


def classify_slack(status: int, body: str) -> Answer:
    """Slack's answer to an incoming webhook (plain text: `ok`, `no_service`, ...) or to
    chat.postMessage (JSON `{"ok": ..., "error": ...}`). Raises nothing."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("ok"), bool):
        error = str(data.get("error") or "")
        said = error or "ok"
        if data["ok"] and 200 <= status < 300:
            return Answer("ok", None, "ok")
    else:
        error = " ".join(body.split())[:100]
        said = error
        if 200 <= status < 300:
            return Answer("ok", None, said or "ok")
    message = _http_message(status, said)
    if status == 429 or error in _SLACK_RATE:
        return Answer("rate_limited", None, message)
    if _transient(status) or error in _SLACK_RETRY:
        return Answer("retry", None, message)
    if error in _SLACK_REJECTED:
        return Answer("rejected", None, message)
    return Answer("config_error", None, message)  # no_service, channel_not_found, invalid_auth, ...


def classify_webhook(status: int, body: str) -> Answer:
    """A generic webhook's answer, by HTTP status only: 2xx ok; 429 rate_limited; no answer, 408 and
    5xx retry (Alertmanager retries 5xx too); 401, 403, 404, 405 and 410 config_error (a wrong URL
    or credentials); any other 4xx rejected (the receiver refuses this payload). Raises nothing."""
    message = _http_message(status, body[:200] if not 200 <= status < 300 else "")
    if 200 <= status < 300:
        return Answer("ok", None, message)
    if status == 429:
        return Answer("rate_limited", None, message)
    if _transient(status):
        return Answer("retry", None, message)
    if status in {401, 403, 404, 405, 410}:
        return Answer("config_error", None, message)
    return Answer("rejected", None, message)


def classify_discord(status: int, body: str) -> Answer:
    """Discord's answer to Execute Webhook: 2xx ok; 429 rate_limited; no answer, 408 and 5xx retry;
    400 rejected (the message: an empty or too long embed); other 4xx config_error (unknown webhook,
    bad token). `code` is Discord's JSON error code. Raises nothing."""
    code, said = _parse(body)
    said = said or ("" if 200 <= status < 300 else body[:200])
    message = _http_message(status, said)
    if 200 <= status < 300:
        return Answer("ok", None, message)
    if status == 429:
        return Answer("rate_limited", code, message)
    if _transient(status):
        return Answer("retry", code, message)
    if status == 400:
        return Answer("rejected", code, message)
    return Answer("config_error", code, message)


# Telegram descriptions of a message it refuses (rather than the bot's or chat's configuration).
_TELEGRAM_REJECTED = ("can't parse entities", "message is too long", "message text is empty", "text must be")


def classify_telegram(status: int, body: str) -> Answer:
    """The Bot API's answer `{"ok": bool, "error_code": int, "description": str}`: ok; 429
    rate_limited; no answer, 408 and 5xx retry; 400 about the text itself (entities, length) rejected;
    anything else (chat not found, bad token, bot blocked) config_error. `code` is `error_code`."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    code = data.get("error_code") if isinstance(data.get("error_code"), int) else None
    description = str(data.get("description") or "")
    message = _http_message(status, description)
    if data.get("ok") is True and 200 <= status < 300:
        return Answer("ok", 0, "ok")
    if status == 429 or code == 429:
        return Answer("rate_limited", code, message)
    if _transient(status) or (not data and 200 <= status < 300):  # no answer, or an unreadable one
        return Answer("retry", code, message)
    if (code or status) == 400 and any(m in description.lower() for m in _TELEGRAM_REJECTED):
        return Answer("rejected", code, message)
    return Answer("config_error", code, message)


NATIVE_CLASSIFIERS: dict[str, Callable[[int, str], Answer]] = {
    "slack": classify_slack,
    "webhook": classify_webhook,
    "discord": classify_discord,
    "telegram": classify_telegram,
}
