"""Request bodies for Alertmanager's own receiver types when the gateway delivers them (`spec.delivery:
Gateway`), from the same Jinja2 text as the robots' (`formats.render_requests` calls in here; pure).

- Slack (incoming webhook, or chat.postMessage with a bot token): what Alertmanager's slack_config
  sends (notify/slack/slack.go): `channel`, `username`, `icon_emoji` and one attachment with `title`,
  `title_link` (Alertmanager), `text` in Slack's mrkdwn (`*bold*`, `<url|text>`; `&`, `<` and `>`
  escaped as Slack's "Formatting text for app surfaces" requires), `fallback`, `mrkdwn_in` and `color`
  by status (danger, warning, good; a test message blue). Long messages become numbered parts under
  `answers.LIMITS["slack"]`.
- Webhook: Alertmanager's payload, version 4 (notify/webhook/webhook.go `Message`), as it arrived:
  the same fields and values, re-encoded (times keep microseconds).
- Discord (Execute Webhook; Alertmanager's notify/discord): one embed, `title` (256 characters at
  most), markdown `description`, `color` by status, `allowed_mentions` empty so alert text never pings.
- Telegram (sendMessage; Alertmanager's notify/telegram): `chat_id`, `text` as plain text, or with
  `parse_mode` HTML or MarkdownV2, escaped as the Bot API's "Formatting options" require.

Markup helpers (`markup`) replace the robots' ones in the template context; they mark bold text and
links with control characters that `_finish` turns into the type's syntax after escaping the rest, so
alert text can never inject markup."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .answers import LIMITS
from .models import GatewayChannel, SlackTarget, WebhookPayload

NATIVE_TYPES = frozenset({"slack", "webhook", "discord", "telegram"})
Split = Callable[[str, int, Callable[[str], int]], list[str]]

_MARKER_RESERVE = 16  # characters kept for the "(999/999)\n\n" part marker
_BOLD, _END_BOLD = "\x0e", "\x0f"
_LINK, _LINK_TEXT, _END_LINK = "\x02", "\x1f", "\x03"
_MARKS = re.compile(f"[{_BOLD}{_END_BOLD}{_LINK}{_LINK_TEXT}{_END_LINK}]")
_MARKED_LINK = re.compile(f"{_LINK}([^{_LINK_TEXT}]*){_LINK_TEXT}([^{_END_LINK}]*){_END_LINK}")
_MARKED_BOLD = re.compile(f"{_BOLD}([^{_END_BOLD}]*){_END_BOLD}")
_SLACK_COLORS = {"critical": "danger", "warning": "warning", "ok": "good", "muted": "#439FE0"}
_DISCORD_COLORS = {"critical": 0xE74C3C, "warning": 0xF39C12, "ok": 0x2ECC71, "muted": 0x3498DB}
# Characters MarkdownV2 needs escaped everywhere outside entities (Bot API "MarkdownV2 style").
_MARKDOWN_V2 = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_NO_EPOCH = "0001-01-01T00:00:00Z"  # Go's zero time: Alertmanager's endsAt of a firing alert


def _marked_bold(text: str) -> str:
    return f"{_BOLD}{text}{_END_BOLD}"


def _marked_link(text: str, url: str) -> str:
    return f"{_LINK}{url}{_LINK_TEXT}{text}{_END_LINK}"


def markup(channel: GatewayChannel) -> dict[str, Any]:
    """Template context entries that replace the robots' markup helpers for `channel`'s type: bold,
    heading, link and color (no colored text), and show_title (False where the title has its own field:
    Slack's attachment, Discord's embed). Empty for the robots. Raises nothing."""
    kind = channel.type
    if kind not in NATIVE_TYPES:
        return {}
    plain = kind == "telegram" and (channel.telegram is None or channel.telegram.parse_mode is None)
    if plain:
        return {
            "bold": str,
            "heading": str,
            "link": lambda text, url: f"{text}: {url}",
            "color": lambda text, tone: text,
            "show_title": True,
        }
    if kind == "discord":  # Discord markdown needs no escaping of plain text
        return {
            "bold": lambda text: f"**{text}**",
            "heading": lambda text: f"**{text}**",
            "link": lambda text, url: f"[{text}]({url})",
            "color": lambda text, tone: text,
            "show_title": False,
        }
    return {
        "bold": _marked_bold,
        "heading": _marked_bold,
        "link": _marked_link,
        "color": lambda text, tone: text,
        "show_title": kind != "slack",
    }


def limit_key(channel: GatewayChannel) -> str:
    """What one rate limit covers (the gateway hashes it, `ratelimit.robot_key`): the endpoint URL; for
    Slack and Telegram, whose limits are per channel or chat, the URL with the channel or chat (a bot
    token's chat.postMessage URL, or a Telegram bot's, serves many)."""
    if channel.type == "slack" and channel.slack is not None and channel.slack.channel:
        return f"{channel.webhook_url}#{channel.slack.channel}"
    if channel.type == "telegram" and channel.telegram is not None:
        return f"{channel.webhook_url}#{channel.telegram.chat_id}"
    return channel.webhook_url


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html_escape(text: str) -> str:
    return _slack_escape(text).replace('"', "&quot;")


def _markdown_v2_escape(text: str) -> str:
    return _MARKDOWN_V2.sub(r"\\\1", text)


def _finish(channel: GatewayChannel, text: str) -> str:
    """`text` rendered with `markup`'s helpers, in the type's syntax: escaped, marks replaced."""
    if channel.type == "slack":
        text = _slack_escape(text)
        text = _MARKED_LINK.sub(lambda m: f"<{m.group(1)}|{m.group(2)}>", text)
        text = _MARKED_BOLD.sub(lambda m: f"*{m.group(1)}*", text)
    elif channel.type == "telegram" and channel.telegram is not None and channel.telegram.parse_mode == "HTML":
        text = _html_escape(text)
        text = _MARKED_LINK.sub(lambda m: f'<a href="{m.group(1)}">{m.group(2)}</a>', text)
        text = _MARKED_BOLD.sub(lambda m: f"<b>{m.group(1)}</b>", text)
    elif channel.type == "telegram" and channel.telegram is not None and channel.telegram.parse_mode == "MarkdownV2":
        # Escape the text, then the links' URLs (only `)` and `\` inside them): Bot API MarkdownV2.
        pieces: list[str] = []
        last = 0
        for m in _MARKED_LINK.finditer(text):
            pieces.append(_markdown_v2_bold(text[last : m.start()]))
            url = m.group(1).replace("\\", "\\\\").replace(")", "\\)")
            pieces.append(f"[{_markdown_v2_bold(m.group(2))}]({url})")
            last = m.end()
        pieces.append(_markdown_v2_bold(text[last:]))
        text = "".join(pieces)
    return _MARKS.sub("", text)


def _markdown_v2_bold(text: str) -> str:
    out: list[str] = []
    last = 0
    for m in _MARKED_BOLD.finditer(text):
        out.append(_markdown_v2_escape(text[last : m.start()]))
        out.append(f"*{_markdown_v2_escape(m.group(1))}*")
        last = m.end()
    out.append(_markdown_v2_escape(text[last:]))
    return "".join(out)


def tone_of(context: dict[str, Any]) -> str:
    """The message's tone, as the robots' colours: the context's `tone` (formats' helpers set it), else
    muted (a test), ok (resolved), critical (any critical alert firing) or warning."""
    if isinstance(context.get("tone"), str):
        return str(context["tone"])
    if context["test"]:
        return "muted"
    if not context["firing"]:
        return "ok"
    return "critical" if any(a["tone"] == "critical" for a in context["alerts"]) else "warning"


def _numbered(chunk: str, part: int, parts: int) -> str:
    return f"({part}/{parts})\n\n{chunk}" if parts > 1 else chunk


def _numbered_title(title: str, part: int, parts: int) -> str:
    return f"{title} ({part}/{parts})" if parts > 1 else title


def bodies(
    channel: GatewayChannel, context: dict[str, Any], title: str, text: str, split: Split
) -> list[dict[str, Any]]:
    """The request bodies, in order, that deliver one message to `channel` (a type of `NATIVE_TYPES`):
    `title` and `text` are the template's, rendered with `markup`'s helpers; `split` is
    formats.split_text. A webhook channel gets Alertmanager's payloads only (formats.render_requests,
    `webhook_body`), so no body here (none of the gateway's own incident notices). Raises ValueError
    for a type that is not one of them."""
    kind = channel.type
    if kind == "webhook":
        return []
    if kind not in NATIVE_TYPES:
        raise ValueError(f"channel {channel.key}: type {kind} is not delivered by render/robots/native.py")
    budget = LIMITS[kind].max_bytes - _MARKER_RESERVE
    chunks = split(_finish(channel, text), budget, len)
    tone = tone_of(context)
    out: list[dict[str, Any]] = []
    for i, chunk in enumerate(chunks, start=1):
        content, heading = _numbered(chunk, i, len(chunks)), _numbered_title(title, i, len(chunks))
        if kind == "slack":
            out.append(_slack(channel.slack or SlackTarget(), context, heading, content, tone))
        elif kind == "discord":
            embed: dict[str, Any] = {"title": heading[:256], "description": content, "color": _DISCORD_COLORS[tone]}
            if context["alertmanager_url"]:
                embed["url"] = context["alertmanager_url"]
            out.append({"embeds": [embed], "allowed_mentions": {"parse": []}})
        else:
            target = channel.telegram
            if target is None:
                raise ValueError(f"channel {channel.key}: a telegram channel without its chat")
            body: dict[str, Any] = {"chat_id": target.chat_id, "text": content, "disable_web_page_preview": True}
            if target.parse_mode:
                body["parse_mode"] = target.parse_mode
            out.append(body)
    return out


def _slack(target: SlackTarget, context: dict[str, Any], title: str, text: str, tone: str) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "color": _SLACK_COLORS[tone],
        "title": _slack_escape(title),
        "text": text,
        "fallback": _slack_escape(title),
        "mrkdwn_in": ["text"],
    }
    if context["alertmanager_url"]:
        attachment["title_link"] = context["alertmanager_url"]
    fields = {"channel": target.channel, "username": target.username, "icon_emoji": target.icon_emoji}
    return {**{k: v for k, v in fields.items() if v}, "attachments": [attachment]}


def webhook_body(payload: WebhookPayload) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) as it arrived: every field of its `Message`, a firing
    alert's endsAt Go's zero time as Alertmanager sends it."""
    return {
        "receiver": payload.receiver,
        "status": payload.status,
        "alerts": [
            {
                "status": a.status,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "startsAt": _go_time(a.starts_at),
                "endsAt": _go_time(a.ends_at) if a.ends_at is not None else _NO_EPOCH,
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
            }
            for a in payload.alerts
        ],
        "groupLabels": dict(payload.group_labels),
        "commonLabels": dict(payload.common_labels),
        "commonAnnotations": dict(payload.common_annotations),
        "externalURL": payload.external_url,
        "version": payload.version,
        "groupKey": payload.group_key,
        "truncatedAlerts": payload.truncated_alerts,
    }


def _go_time(moment: datetime) -> str:
    """RFC 3339 as Go's time.Time marshals it: `Z` for UTC, fractional seconds without trailing zeros."""
    text = moment.isoformat()
    if "." in text:
        head, _, rest = text.partition(".")
        fraction = rest[:6]  # microseconds: what Python keeps of Go's nanoseconds
        zone = rest[6:]
        fraction = fraction.rstrip("0")
        text = f"{head}.{fraction}{zone}" if fraction else f"{head}{zone}"
    return text.replace("+00:00", "Z")
