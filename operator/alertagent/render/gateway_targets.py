"""Channels of Alertmanager's own types that the AlertAgent gateway delivers (`spec.delivery: Gateway`):
which types it can deliver, and the channels-file entry (`GatewayChannel`) of one, its Secrets
resolved (pure).

The same function checks a channel when its receiver is rendered (render/receivers.py `gateway_config`,
so a channel the gateway cannot deliver is never routed to it, and its status says why) and builds its
entry in the channels file (plans/gateway_native.py). What each type needs, mirroring what
Alertmanager's receiver of the type sends (notify/<type>/<type>.go):
- slack: `apiUrl` (an incoming webhook URL) or `botToken` (chat.postMessage, `Authorization: Bearer`,
  `apiUrl` defaulting to https://slack.com/api/chat.postMessage); channel, username, iconEmoji. The
  cluster's global slackApiUrl is Alertmanager's: the gateway needs the channel's own.
- webhook: `url` or `urlSecret`; `bearerToken` (`Authorization: Bearer`) or `basicAuth` (`Basic`).
- discord: `webhookUrl`.
- telegram: `botToken` and `chatId`, `apiUrl` (default https://api.telegram.org; the cluster's global
  telegramApiUrl is Alertmanager's), `parseMode` HTML or MarkdownV2 (legacy Markdown is not supported).
The types' Go-template fields (slack title/text/color, discord title/message, telegram message) are
Alertmanager's: with Gateway the gateway renders the message (`spec.gatewayMessage`), so they are
refused rather than ignored."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import quote

from ..api.common import SecretKeyRef, url_error
from ..api.notificationchannel import SLACK_POST_MESSAGE_URL, NotificationChannel
from ..common.identity import ObjectRef
from .robots.models import GatewayChannel, SlackTarget, TelegramTarget
from .robots.native import NATIVE_TYPES

GATEWAY_NATIVE_TYPES = NATIVE_TYPES
TELEGRAM_API_URL = "https://api.telegram.org"
# Fields of each type that are Go templates for Alertmanager (camelCase, as in the spec).
GO_TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "slack": ("title", "text", "color"),
    "discord": ("title", "message"),
    "telegram": ("message",),
}

# `Secrets` of render/receivers.py: a reference's value, None for no reference; raises
# MissingSecretError for a missing Secret or key.
SecretLookup = Callable[[SecretKeyRef | None], str | None]


def unsupported(kind: str) -> str:
    """Why a channel of `kind` cannot have `spec.delivery: Gateway` (yet)."""
    supported = ", ".join(["dingtalk", "wecom", "feishu", *sorted(GATEWAY_NATIVE_TYPES)])
    return (
        f"spec.delivery: Gateway is not supported for type {kind} yet (the gateway delivers {supported}): "
        "set spec.delivery to Native or leave it unset"
    )


def max_alerts(channel: NotificationChannel) -> tuple[str, int]:
    """(the field, its value) that sets the gateway receiver's `max_alerts` for a channel of
    `GATEWAY_NATIVE_TYPES`: webhook.maxAlerts, else gatewayMessage.maxAlerts; 0 means all."""
    spec = channel.spec
    if spec.type == "webhook" and spec.webhook is not None and spec.webhook.max_alerts:
        return "webhook.maxAlerts", spec.webhook.max_alerts
    return "gatewayMessage.maxAlerts", spec.gateway_message.max_alerts if spec.gateway_message else 0


def _checked_url(field: str, url: str, from_secret: bool) -> str:
    if (error := url_error(url, redact=from_secret)) is not None:
        raise ValueError(f"{field}{' from its Secret' if from_secret else ''}: {error}")
    return url


def _no_go_templates(channel: NotificationChannel) -> None:
    kind = channel.spec.type
    block = getattr(channel.spec, kind)
    fields = [f"{kind}.{name}" for name in GO_TEMPLATE_FIELDS.get(kind, ()) if getattr(block, name) is not None]
    if fields:
        raise ValueError(
            f"{', '.join(fields)}: Go templates for Alertmanager's own receiver; with spec.delivery Gateway the "
            "gateway renders the message (spec.gatewayMessage.template, Jinja2): remove them"
        )
    if kind == "webhook" and channel.spec.gateway_message is not None:
        message = channel.spec.gateway_message
        if message.template is not None or message.template_config_map is not None:
            raise ValueError(
                "gatewayMessage.template: a webhook channel gets Alertmanager's payload as it is, no message"
            )


def gateway_target(
    channel: NotificationChannel, token: str, secret: SecretLookup, template: str | None = None
) -> GatewayChannel:
    """The channels-file entry of `channel` (a type of `GATEWAY_NATIVE_TYPES` with delivery Gateway):
    its endpoint and credentials resolved through `secret`, `token` the bearer token Alertmanager
    sends for it, `template` its message template (gatewayMessage.template or the ConfigMap's text).
    Raises MissingSecretError (from `secret`) for a missing Secret, ValueError (never quoting a
    Secret's value) for a type the gateway does not deliver, a URL Alertmanager would refuse too, a
    slack channel with neither apiUrl nor botToken, Go-template fields, or telegram's legacy
    Markdown."""
    spec = channel.spec
    kind = spec.type
    if kind not in GATEWAY_NATIVE_TYPES:
        raise ValueError(unsupported(kind))
    _no_go_templates(channel)
    authorization: str | None = None
    slack: SlackTarget | None = None
    telegram: TelegramTarget | None = None
    if kind == "slack" and spec.slack is not None:
        c = spec.slack
        url, bot = secret(c.api_url), secret(c.bot_token)
        if url is None and bot is None:
            raise ValueError(
                "slack.apiUrl: with spec.delivery Gateway set the channel's own apiUrl (incoming webhook) or "
                "botToken (the cluster's global slackApiUrl is for Alertmanager's receivers)"
            )
        url = _checked_url("slack.apiUrl", url, True) if url is not None else SLACK_POST_MESSAGE_URL
        authorization = f"Bearer {bot}" if bot else None
        slack = SlackTarget(channel=c.channel, username=c.username, icon_emoji=c.icon_emoji)
    elif kind == "webhook" and spec.webhook is not None:
        w = spec.webhook
        raw = w.url if w.url is not None else secret(w.url_secret)
        url = _checked_url("webhook.url" if w.url is not None else "webhook.urlSecret", raw or "", w.url is None)
        if (bearer := secret(w.bearer_token)) is not None:
            authorization = f"Bearer {bearer}"
        elif w.basic_auth is not None:
            password = secret(w.basic_auth.password) or ""
            pair = base64.b64encode(f"{w.basic_auth.username}:{password}".encode()).decode()
            authorization = f"Basic {pair}"
    elif kind == "discord" and spec.discord is not None:
        url = _checked_url("discord.webhookUrl", secret(spec.discord.webhook_url) or "", True)
    elif kind == "telegram" and spec.telegram is not None:
        t = spec.telegram
        if t.parse_mode == "Markdown":
            raise ValueError("telegram.parseMode: the gateway sends HTML or MarkdownV2, not the legacy Markdown")
        bot = secret(t.bot_token) or ""
        base = _checked_url("telegram.apiUrl", t.api_url or TELEGRAM_API_URL, False).rstrip("/")
        url = f"{base}/bot{quote(bot, safe=':')}/sendMessage"
        telegram = TelegramTarget(chat_id=t.chat_id, parse_mode=t.parse_mode)
    else:  # the spec's invariants guarantee the block
        raise ValueError(f"type {kind} requires the {kind} block")
    message = spec.gateway_message
    return GatewayChannel(
        key=ObjectRef.of(channel).key,
        type=kind,
        webhook_url=url,
        token=token,
        message_type="markdown",
        language=message.language if message else "en",
        time_zone=message.time_zone if message else "UTC",
        template=template,
        authorization=authorization,
        slack=slack,
        telegram=telegram,
    )
