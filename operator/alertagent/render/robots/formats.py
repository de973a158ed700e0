"""Alertmanager webhook payloads rendered into robot requests, split and signed (pure).

- DingTalk custom robot (open.dingtalk.com, "自定义机器人发送群消息", "自定义机器人安全设置"):
  `markdown` {title, text} or `text` {content}, with `at` {atMobiles, atUserIds, isAtAll}; a mobile or
  user id is highlighted only when it is also written in the text as `@138...`, so it is. Signing:
  `timestamp` (ms) and `sign = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))`,
  URL-encoded, as query parameters of the webhook URL.
- WeCom group robot (developer.work.weixin.qq.com/document/path/91770): `markdown` {content} mentions
  only by `<@userid>` in the content; `mentioned_list` / `mentioned_mobile_list` work on `text`
  messages only. So when mobiles (or everyone) are to be mentioned, a markdown notification ends with a
  short `text` message carrying `mentioned_mobile_list` (and `@all`) that really notifies them.
- Feishu/Lark custom bot (open.feishu.cn, "自定义机器人使用指南"): `interactive` card (header coloured
  by state and severity, a `markdown` element) or `text`; mentions `<at id=...></at>` (card) or
  `<at user_id="...">` (text). Signing: `timestamp` (s) and `sign = base64(HMAC-SHA256(key=
  f"{timestamp}\\n{secret}", msg=b""))` in the JSON body.

Text comes from Jinja2 templates (`templates/<language>.j2`, blocks `title` and `body`, rendered in a
sandbox); `GatewayChannel.template` replaces the body. Messages over the robot's limit (`LIMITS`) are
split into numbered parts, "(1/3)", never truncated: at alert boundaries first (`part_break` in the
template), then at line ends, then between characters (UTF-8 safe).

Incidents (`incidents.py`, templates `incident_<language>.j2`): a message carrying the root alert of an
incident gets its section (root, impacted services as a tree, suppressed count) before the alerts;
`render_notice` renders the incident updates and resolves the gateway sends on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from ...api.analysis import IncidentAnalysis
from . import native
from .answers import LIMITS
from .incidents import IncidentLike, incident_context
from .models import Alert, GatewayChannel, WebhookPayload

PART_BREAK = "\x1e"  # ASCII record separator: where a long message may be split; never sent
_MARKER_RESERVE = 16  # bytes kept for the "(999/999)\n\n" part marker, JSON-escaped
_SIGN_RESERVE = 96  # bytes kept for Feishu's `"timestamp":"…","sign":"…"` added at delivery


@dataclass(frozen=True)
class RobotRequest:
    """One HTTP POST to a robot: `body` as JSON to `url` (which holds the robot's token: never logged,
    hence not in repr). `part` of `parts` (1-based) numbers the requests of one notification, sent in
    order."""

    channel: str
    url: str = field(repr=False)
    body: dict[str, Any]
    part: int
    parts: int

    def encoded(self) -> bytes:
        """The body exactly as sized by the splitter: compact JSON, UTF-8, non-ASCII kept."""
        return encode_body(self.body)


def encode_body(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (what the robots' byte limits are measured on)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# ----------------------------------------------------------------------------------------------------
# Rendering


def render_requests(
    channel: GatewayChannel,
    payload: WebhookPayload,
    test: bool = False,
    incidents: Sequence[IncidentLike] = (),
    analyses: Mapping[str, IncidentAnalysis] | None = None,
) -> list[RobotRequest]:
    """The unsigned requests that deliver `payload` to `channel`'s robot, in order, each within the
    robot's limit. `test` marks the message clearly as a test. `incidents`: those the payload carries
    a root alert of (each gets its section, with its analysis from `analyses` by incident name).
    Raises ValueError (naming the channel, never its URL or secrets) for a bad time zone or a
    template that fails."""
    if channel.type == "webhook":  # spec.delivery Gateway: Alertmanager's payload as it arrived (native.py)
        return [RobotRequest(channel.key, channel.webhook_url, native.webhook_body(payload), part=1, parts=1)]
    context = _context(channel, payload, test, incidents, analyses or {})
    title, text = _render_text(channel, context)
    return _requests(channel, context, title, text)


def render_notice(
    channel: GatewayChannel,
    kind: str,
    incident: IncidentLike,
    previous: int = 0,
    peak: int = 0,
    analysis: IncidentAnalysis | None = None,
) -> list[RobotRequest]:
    """The unsigned requests of a message the gateway sends on its own about `incident`: `kind`
    "update" (it grew: now its services, `previous` the number the last message showed), "resolve"
    (it resolved; `peak` services were impacted) or "analysis" (an LLM's analysis arrived). The
    default template of the channel's language (`incident_<language>.j2`), whatever its `template`.
    Raises ValueError like `render_requests`."""
    zone = _zone(channel)
    firing = kind != "resolve"
    tone = ("critical" if _critical(incident.severity) else "warning") if firing else "ok"
    context = _helpers(channel, tone, test=False)
    context |= {
        "incident": incident_context(incident, zone, channel.language, analysis=analysis),
        "notice": {"kind": kind, "previous": previous, "peak": max(peak, 1 + len(incident.impacted))},
        "icon": "🧩" if firing else "✅",
        "alertmanager_url": channel.alertmanager_url.rstrip("/"),
    }
    try:
        template = _environment().get_template(f"incident_{channel.language}.j2")
        title = " ".join(_block(template, "title", context).split())
        text = _block(template, "body", context).strip("\n")
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError) as error:
        raise ValueError(f"channel {channel.key}: its incident message failed: {error}") from error
    return _requests(channel, context, title, text)


def _requests(channel: GatewayChannel, context: dict[str, Any], title: str, text: str) -> list[RobotRequest]:
    build = {"dingtalk": _dingtalk, "wecom": _wecom, "feishu": _feishu}.get(channel.type)
    if build is None:  # Alertmanager's own types with spec.delivery Gateway (a webhook gets no notices)
        bodies = native.bodies(channel, context, title, text, split_text)
    else:
        bodies = build(channel, context, title, text)
    return [
        RobotRequest(channel=channel.key, url=channel.webhook_url, body=body, part=i, parts=len(bodies))
        for i, body in enumerate(bodies, start=1)
    ]


def _dingtalk(channel: GatewayChannel, ctx: dict[str, Any], title: str, text: str) -> list[dict[str, Any]]:
    m = channel.mentions
    mentioned = " ".join(f"@{who}" for who in [*m.mobiles, *m.user_ids])
    limits = LIMITS["dingtalk"]
    markdown = channel.message_type != "text"
    budget = (limits.max_bytes if markdown else limits.text_max_bytes) - _MARKER_RESERVE
    chunks = split_text(_join(text, mentioned), budget)
    bodies: list[dict[str, Any]] = []
    for i, chunk in enumerate(chunks, start=1):
        content = _numbered(chunk, i, len(chunks))
        body: dict[str, Any] = (
            {"msgtype": "markdown", "markdown": {"title": _numbered_title(title, i, len(chunks)), "text": content}}
            if markdown
            else {"msgtype": "text", "text": {"content": content}}
        )
        if i == len(chunks) and (m.mobiles or m.user_ids or m.all):  # the part that carries the @ text
            body["at"] = {"atMobiles": list(m.mobiles), "atUserIds": list(m.user_ids), "isAtAll": m.all}
        bodies.append(body)
    return bodies


def _wecom(channel: GatewayChannel, ctx: dict[str, Any], title: str, text: str) -> list[dict[str, Any]]:
    m = channel.mentions
    limits = LIMITS["wecom"]
    if channel.message_type == "text":
        chunks = split_text(text, limits.text_max_bytes - _MARKER_RESERVE)
        bodies: list[dict[str, Any]] = [
            {"msgtype": "text", "text": {"content": _numbered(chunk, i, len(chunks))}}
            for i, chunk in enumerate(chunks, start=1)
        ]
        mentioned_list = [*m.user_ids, *(["@all"] if m.all else [])]
        if mentioned_list:
            bodies[-1]["text"]["mentioned_list"] = mentioned_list
        if m.mobiles:
            bodies[-1]["text"]["mentioned_mobile_list"] = list(m.mobiles)
        return bodies
    chunks = split_text(_join(text, " ".join(f"<@{who}>" for who in m.user_ids)), limits.max_bytes - _MARKER_RESERVE)
    bodies = [
        {"msgtype": "markdown", "markdown": {"content": _numbered(chunk, i, len(chunks))}}
        for i, chunk in enumerate(chunks, start=1)
    ]
    if m.mobiles or m.all:
        # Markdown cannot notify by mobile or @all: a short text message after it does.
        note = ctx["strings"]["see_above"].format(icon=ctx["icon"], title=title)
        notify: dict[str, Any] = {"content": _cut(note, limits.text_max_bytes)}
        if m.all:
            notify["mentioned_list"] = ["@all"]
        if m.mobiles:
            notify["mentioned_mobile_list"] = list(m.mobiles)
        bodies.append({"msgtype": "text", "text": notify})
    return bodies


def _feishu(channel: GatewayChannel, ctx: dict[str, Any], title: str, text: str) -> list[dict[str, Any]]:
    m = channel.mentions
    limits = LIMITS["feishu"]
    card = channel.message_type != "text"
    if card:
        mentioned = " ".join([*(f"<at id={who}></at>" for who in m.user_ids), *(["<at id=all></at>"] if m.all else [])])
    else:
        mentioned = " ".join(
            [*(f'<at user_id="{who}"></at>' for who in m.user_ids), *(['<at user_id="all"></at>'] if m.all else [])]
        )

    def body(content: str, heading: str) -> dict[str, Any]:
        if not card:
            return {"msg_type": "text", "content": {"text": content}}
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {"title": {"tag": "plain_text", "content": heading}, "template": ctx["feishu_color"]},
                "elements": [{"tag": "markdown", "content": content}],
            },
        }

    # The limit is on the whole body: what the envelope, title and signature take is not for content.
    overhead = len(encode_body(body("", title + " (999/999)"))) + (_SIGN_RESERVE if channel.sign_secret else 0)
    chunks = split_text(_join(text, mentioned), limits.max_bytes - overhead - _MARKER_RESERVE, cost=json_cost)
    return [
        body(_numbered(chunk, i, len(chunks)), _numbered_title(title, i, len(chunks)))
        for i, chunk in enumerate(chunks, start=1)
    ]


def _join(text: str, mentioned: str) -> str:
    return f"{text}{PART_BREAK}\n\n{mentioned}" if mentioned else text


def _numbered(chunk: str, part: int, parts: int) -> str:
    return f"({part}/{parts})\n\n{chunk}" if parts > 1 else chunk


def _numbered_title(title: str, part: int, parts: int) -> str:
    return f"{title} ({part}/{parts})" if parts > 1 else title


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "…"


def sample_payload(now: datetime, receiver: str = "alertagent-test") -> WebhookPayload:
    """A one-alert firing payload for test messages (render it with `test=True`)."""
    alert = {
        "status": "firing",
        "labels": {"alertname": "AlertAgentTestMessage", "severity": "info"},
        "annotations": {"summary": "A test message: this channel reaches its robot."},
        "startsAt": now.isoformat(),
    }
    return WebhookPayload.model_validate(
        {
            "version": "4",
            "groupKey": '{}:{alertname="AlertAgentTestMessage"}',
            "status": "firing",
            "receiver": receiver,
            "groupLabels": {"alertname": "AlertAgentTestMessage"},
            "commonLabels": alert["labels"],
            "alerts": [alert],
        }
    )


# ----------------------------------------------------------------------------------------------------
# Splitting


def utf8_cost(text: str) -> int:
    """UTF-8 bytes of `text` (DingTalk and WeCom limit the content's bytes)."""
    return len(text.encode())


def json_cost(text: str) -> int:
    """Bytes `text` takes inside a compact non-ASCII JSON string (Feishu limits the body's bytes).
    Additive: json_cost(a + b) == json_cost(a) + json_cost(b)."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def split_text(text: str, budget: int, cost: Callable[[str], int] = utf8_cost) -> list[str]:
    """`text` cut into parts of at most `budget` (by `cost`), in order, nothing lost: ''.join(parts)
    == text without PART_BREAK. Cuts at PART_BREAK (alert boundaries) first, then after a line end,
    then between characters (never inside a UTF-8 sequence). Always at least one part."""
    if budget < 8:
        raise ValueError(f"split budget {budget} is too small")
    pieces: list[tuple[str, int]] = []  # atoms, each within budget
    for segment in text.split(PART_BREAK):
        if (size := cost(segment)) <= budget:
            pieces.append((segment, size))
            continue
        for line in segment.splitlines(keepends=True):
            if (size := cost(line)) <= budget:
                pieces.append((line, size))
            else:
                pieces.extend(_by_characters(line, budget, cost))
    parts: list[str] = []
    current, used = "", 0
    for piece, size in pieces:
        if used + size > budget and current:
            parts.append(current)
            current, used = "", 0
        current, used = current + piece, used + size
    if current or not parts:
        parts.append(current)
    return parts


def _by_characters(line: str, budget: int, cost: Callable[[str], int]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    start, used = 0, 0
    for i, char in enumerate(line):
        size = cost(char)
        if used + size > budget:
            out.append((line[start:i], used))
            start, used = i, 0
        used += size
    out.append((line[start:], used))
    return out


# ----------------------------------------------------------------------------------------------------
# Templates

_STRINGS = {
    "en": {"see_above": "{icon} {title}: see the message above."},
    "zh": {"see_above": "{icon} {title}：详见上方消息。"},  # noqa: RUF001 (Chinese punctuation)
}
# Markdown flavours: WeCom's documented <font> colours (info, comment, warning); Feishu card markdown's.
_COLORS = {
    "wecom": {"critical": "warning", "warning": "warning", "ok": "info", "muted": "comment"},
    "feishu": {"critical": "red", "warning": "orange", "ok": "green", "muted": "grey"},
}
_FEISHU_HEADER = {"critical": "red", "warning": "orange", "ok": "green", "muted": "blue"}


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # Markdown, not HTML: no autoescape. Sandboxed: channel templates come from tenants.
    return SandboxedEnvironment(
        loader=jinja2.PackageLoader("alertagent.render.robots", "templates"),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@lru_cache(maxsize=256)
def _channel_template(source: str) -> jinja2.Template:
    return _environment().from_string(source)


@lru_cache(maxsize=256)
def _shows_incidents(source: str) -> bool:
    """Whether a channel template places the incident section itself."""
    names = jinja2.meta.find_undeclared_variables(_environment().parse(source))
    return bool(names & {"incident", "incidents", "incident_section"})


def _render_text(channel: GatewayChannel, context: dict[str, Any]) -> tuple[str, str]:
    """(title, body text) for the channel; template errors become ValueError naming the channel. The
    incident section comes first in a channel template's body unless the template shows it."""
    try:
        if context["incidents"]:
            sections = _environment().get_template(f"incident_{channel.language}.j2")
            context["incident_section"] = "\n\n".join(
                _block(sections, "section", context | {"incident": i}).strip("\n") for i in context["incidents"]
            )
        default = _environment().get_template(f"{channel.language}.j2")
        title = " ".join(_block(default, "title", context).split())
        if channel.template is None:
            body = _block(default, "body", context)
        else:
            body = _channel_template(channel.template).render(context)
            if context["incident_section"] and not _shows_incidents(channel.template):
                body = f"{context['incident_section']}\n\n{PART_BREAK}{body}"
    except jinja2.TemplateError as error:
        where = f" (line {error.lineno})" if isinstance(error, jinja2.TemplateSyntaxError) else ""
        raise ValueError(f"channel {channel.key}: its message template failed{where}: {error}") from error
    except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as error:
        raise ValueError(f"channel {channel.key}: its message template failed: {error}") from error
    return title, body.strip("\n")


def _block(template: jinja2.Template, name: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(context)))


def _zone(channel: GatewayChannel) -> ZoneInfo:
    try:
        return ZoneInfo(channel.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"channel {channel.key}: unknown time zone {channel.time_zone!r}") from error


def _helpers(channel: GatewayChannel, tone: str, test: bool) -> dict[str, Any]:
    """The context every message has: language, part_break, show_title, the header colour, strings and
    the formatting helpers, so one template serves markdown, cards and plain text."""
    kind = channel.type
    markdown = channel.message_type in ("markdown", "interactive")
    colors = _COLORS.get(kind, {}) if markdown else {}
    return {
        "test": test,
        "language": channel.language,
        "show_title": not (kind == "feishu" and markdown),  # the card's header shows it
        "part_break": PART_BREAK,
        "tone": tone,  # the message's: critical, warning, ok or muted (Slack's and Discord's colour)
        "feishu_color": _FEISHU_HEADER[tone],
        "strings": _STRINGS[channel.language],
        "bold": (lambda s: f"**{s}**") if markdown else str,
        "heading": (lambda s: f"### {s}" if kind != "feishu" else f"**{s}**") if markdown else str,
        "link": (lambda text, url: f"[{text}]({url})") if markdown else (lambda text, url: f"{text}: {url}"),
        "color": (lambda s, t: f'<font color="{colors[t]}">{s}</font>' if t in colors else s),
    } | native.markup(channel)  # Slack, Discord, Telegram markup; nothing for the robots


def _context(
    channel: GatewayChannel,
    payload: WebhookPayload,
    test: bool,
    incidents: Sequence[IncidentLike] = (),
    analyses: Mapping[str, IncidentAnalysis] | None = None,
) -> dict[str, Any]:
    """What templates see. Documented for channel templates: status ("firing" | "resolved"), firing
    (bool), test, language, count, firing_count, resolved_count, truncated_alerts, group_name,
    group_labels / common_labels / common_annotations (sorted (name, value) pairs), alerts (each:
    status, name, severity, tone, icon, labels, other_annotations, summary, description, runbook_url,
    starts_at, ends_at, generator_url, fingerprint), alertmanager_url, receiver, icon, show_title,
    part_break, incidents (those the payload carries a root alert of; see `incidents.py`), incident
    (the first, or None), incident_section (their sections as the default template shows them);
    filters bold, heading, link(url), color(tone)."""
    zone = _zone(channel)
    alerts = [_alert(alert, zone) for alert in payload.alerts]
    firing_count = sum(1 for alert in payload.alerts if alert.status == "firing")
    firing = payload.status == "firing"
    tone = "muted" if test else (_worst_tone(alerts) if firing else "ok")
    base = (channel.alertmanager_url or payload.external_url).rstrip("/")
    common = payload.common_labels
    group_name = common.get("alertname") or ", ".join(f"{k}={v}" for k, v in sorted(payload.group_labels.items()))
    views = [incident_context(i, zone, channel.language, analysis=(analyses or {}).get(i.name)) for i in incidents]
    context: dict[str, Any] = _helpers(channel, tone, test) | {
        "status": payload.status,
        "firing": firing,
        "count": len(payload.alerts) + payload.truncated_alerts,
        "firing_count": firing_count,
        "resolved_count": len(payload.alerts) - firing_count,
        "truncated_alerts": payload.truncated_alerts,
        "group_name": group_name or payload.receiver,
        "group_labels": sorted(payload.group_labels.items()),
        "common_labels": sorted(common.items()),
        "common_annotations": sorted(payload.common_annotations.items()),
        "alerts": alerts,
        "alertmanager_url": f"{base}/#/alerts?receiver={quote(payload.receiver, safe='')}" if base else "",
        "receiver": payload.receiver,
        "icon": "🧪" if test else ("🔥" if firing else "✅"),
        "incidents": views,
        "incident": views[0] if views else None,
        "incident_section": "",  # rendered with the language's template (_render_text)
    }
    return context


def _alert(alert: Alert, zone: ZoneInfo) -> dict[str, Any]:
    annotations = alert.annotations
    severity = alert.labels.get("severity", "")
    firing = alert.status == "firing"
    tone = ("critical" if _critical(severity) else "warning") if firing else "ok"
    return {
        "status": alert.status,
        "name": alert.labels.get("alertname", ""),
        "severity": severity,
        "tone": tone,
        "icon": ("🔴" if tone == "critical" else "🟠") if firing else "🟢",
        "labels": sorted(alert.labels.items()),
        "other_annotations": sorted(
            (k, v) for k, v in annotations.items() if k not in ("summary", "description", "runbook_url")
        ),
        "summary": annotations.get("summary", ""),
        "description": annotations.get("description", ""),
        "runbook_url": annotations.get("runbook_url", ""),
        "starts_at": _time(alert.starts_at, zone),
        # Alertmanager sends 0001-01-01T00:00:00Z as the end of a firing alert.
        "ends_at": _time(alert.ends_at, zone) if alert.ends_at and alert.ends_at.year > 1 and not firing else "",
        "generator_url": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def _critical(severity: str) -> bool:
    return severity in ("critical", "page", "error")


def _worst_tone(alerts: list[dict[str, Any]]) -> str:
    return "critical" if any(a["tone"] == "critical" for a in alerts) else "warning"


def _time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


# ----------------------------------------------------------------------------------------------------
# Signing


def sign(channel: GatewayChannel, request: RobotRequest, now: datetime) -> RobotRequest:
    """`request` signed for delivery at `now` (timezone-aware): DingTalk adds `timestamp` (ms) and
    `sign` to the URL's query, Feishu adds `timestamp` (s, a string as in Feishu's example) and `sign`
    to the body; WeCom (no signing) and channels without `sign_secret` are returned unchanged.
    Re-signing replaces an earlier signature. Raises ValueError for a naive `now`."""
    secret = channel.sign_secret
    if not secret or channel.type == "wecom":
        return request
    if now.tzinfo is None:
        raise ValueError("sign: now must be timezone-aware")
    if channel.type == "dingtalk":
        timestamp = str(int(now.timestamp() * 1000))
        signature = dingtalk_signature(secret, timestamp)
        return replace(request, url=_with_query(request.url, timestamp=timestamp, sign=quote_plus(signature)))
    timestamp = str(int(now.timestamp()))
    return replace(request, body={**request.body, "timestamp": timestamp, "sign": feishu_signature(secret, timestamp)})


def dingtalk_signature(secret: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")) (not yet URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_signature(secret: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _with_query(url: str, **params: str) -> str:
    # Edit the query text, not a parsed copy: the robot's own parameters stay byte for byte.
    base, _, fragment = url.partition("#")
    path, _, query = base.partition("?")
    kept = [pair for pair in query.split("&") if pair and pair.partition("=")[0] not in params]
    query = "&".join([*kept, *(f"{k}={v}" for k, v in params.items())])
    return f"{path}?{query}" + (f"#{fragment}" if fragment else "")
