"""One Alertmanager receiver per NotificationChannel (pure): a small converter per native receiver
type, registered in `CONVERTERS`; the gateway types (`GATEWAY_TYPES`) become a webhook to the
AlertAgent gateway instead.

A converter takes the channel's block of its type (`spec.<type>`) and the channel's `Secrets`, and
returns the one entry of the receiver's `<type>_configs` list with unset values as `None`; `receiver`
adds `send_resolved`, drops the unset values and names the receiver `<namespace>/<name>`. Field names
are Alertmanager's (https://prometheus.io/docs/alerting/latest/configuration/#receiver)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..api.common import SecretKeyRef
from ..api.notificationchannel import (
    DiscordConfig,
    EmailConfig,
    MSTeamsConfig,
    NotificationChannel,
    OpsgenieConfig,
    PagerDutyConfig,
    SlackConfig,
    TelegramConfig,
    WebexConfig,
    WebhookConfig,
    WeChatConfig,
)
from ..common.identity import ObjectRef

GATEWAY_TYPES = frozenset({"dingtalk", "wecom", "feishu"})
# First Alertmanager version with each native receiver type (types absent here exist in all versions).
MIN_VERSION = {"telegram": (0, 24), "discord": (0, 25), "webex": (0, 25), "msteams": (0, 26)}

SecretResolver = Callable[[str, SecretKeyRef], str | None]


def parse_version(text: str | None) -> tuple[int, int]:
    """(major, minor) of an Alertmanager version such as `v0.27.0`; (0, 27), a current Alertmanager,
    when unknown. Raises ValueError when the text is not `major.minor[...]`."""
    if not text:
        return (0, 27)
    major, minor = text.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def clean(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` without the keys whose value is `None`, `[]` or `{}`. Raises nothing."""
    return {k: v for k, v in config.items() if v is not None and v not in ([], {})}


class MissingSecretError(ValueError):
    """A `secretKeyRef` names a Secret or key that does not exist."""


class Secrets:
    """Resolves the secret references of one object (in its namespace); records the missing ones."""

    def __init__(self, resolve: SecretResolver, namespace: str, placeholders: bool):
        self.resolve, self.namespace, self.placeholders = resolve, namespace, placeholders
        self.missing: list[str] = []

    def __call__(self, ref: SecretKeyRef | None) -> str | None:
        """The value `ref` points to, `None` when `ref` is `None`. A missing value is recorded and
        raises MissingSecretError, or with placeholders is replaced by a marked, unroutable URL."""
        if ref is None:
            return None
        value = self.resolve(self.namespace, ref)
        if value is not None:
            return value
        where = f"secret {self.namespace}/{ref.name} key {ref.key}"
        self.missing.append(where)
        if not self.placeholders:
            raise MissingSecretError(f"{where} not found")
        # Valid wherever a URL is expected (so amtool accepts the file), unmistakable, and unroutable.
        return f"https://missing-secret.alertagent.invalid/{self.namespace}/{ref.name}/{ref.key}"


def slack_config(c: SlackConfig, secret: Secrets) -> dict[str, Any]:
    """The `slack_configs` entry; raises MissingSecretError for a missing apiUrl secret."""
    return {
        "api_url": secret(c.api_url),
        "channel": c.channel,
        "username": c.username,
        "icon_emoji": c.icon_emoji,
        "title": c.title,
        "text": c.text,
        "color": c.color,
    }


def email_config(c: EmailConfig, secret: Secrets) -> dict[str, Any]:
    """The `email_configs` entry; raises MissingSecretError for a missing authPassword secret."""
    return {
        "to": c.to,
        "from": c.from_,
        "smarthost": c.smarthost,
        "auth_username": c.auth_username,
        "auth_password": secret(c.auth_password),
        "require_tls": c.require_tls,
        "headers": c.headers,
        "html": c.html,
        "text": c.text,
    }


def webhook_config(c: WebhookConfig, secret: Secrets) -> dict[str, Any]:
    """The `webhook_configs` entry, the bearer token as Bearer authorization; raises
    MissingSecretError for a missing bearerToken or urlSecret secret."""
    token = secret(c.bearer_token)
    return {
        "url": c.url or secret(c.url_secret),
        "max_alerts": c.max_alerts,
        "http_config": {"authorization": {"type": "Bearer", "credentials": token}} if token else None,
    }


def pagerduty_config(c: PagerDutyConfig, secret: Secrets) -> dict[str, Any]:
    """The `pagerduty_configs` entry; raises MissingSecretError for a missing routingKey or
    serviceKey secret."""
    return {
        "routing_key": secret(c.routing_key),
        "service_key": secret(c.service_key),
        "url": c.url,
        "severity": c.severity,
        "description": c.description,
        "component": c.component,
        "group": c.group,
        "class": c.class_,
    }


def opsgenie_config(c: OpsgenieConfig, secret: Secrets) -> dict[str, Any]:
    """The `opsgenie_configs` entry; raises MissingSecretError for a missing apiKey secret."""
    return {
        "api_key": secret(c.api_key),
        "api_url": c.api_url,
        "message": c.message,
        "description": c.description,
        "priority": c.priority,
        "tags": c.tags,
    }


def msteams_config(c: MSTeamsConfig, secret: Secrets) -> dict[str, Any]:
    """The `msteams_configs` entry; raises MissingSecretError for a missing webhookUrl secret."""
    return {"webhook_url": secret(c.webhook_url), "title": c.title, "summary": c.summary, "text": c.text}


def telegram_config(c: TelegramConfig, secret: Secrets) -> dict[str, Any]:
    """The `telegram_configs` entry; raises MissingSecretError for a missing botToken secret."""
    return {
        "bot_token": secret(c.bot_token),
        "chat_id": c.chat_id,
        "api_url": c.api_url,
        "parse_mode": c.parse_mode,
        "message": c.message,
    }


def wechat_config(c: WeChatConfig, secret: Secrets) -> dict[str, Any]:
    """The `wechat_configs` entry; raises MissingSecretError for a missing apiSecret secret."""
    return {
        "api_secret": secret(c.api_secret),
        "corp_id": c.corp_id,
        "agent_id": c.agent_id,
        "to_user": c.to_user,
        "to_party": c.to_party,
        "to_tag": c.to_tag,
        "message": c.message,
        "message_type": c.message_type,
    }


def discord_config(c: DiscordConfig, secret: Secrets) -> dict[str, Any]:
    """The `discord_configs` entry; raises MissingSecretError for a missing webhookUrl secret."""
    return {"webhook_url": secret(c.webhook_url), "title": c.title, "message": c.message}


def webex_config(c: WebexConfig, secret: Secrets) -> dict[str, Any]:
    """The `webex_configs` entry, the bot token as Bearer authorization; raises MissingSecretError
    for a missing botToken secret."""
    return {
        "api_url": c.api_url,
        "room_id": c.room_id,
        "message": c.message,
        "http_config": {"authorization": {"type": "Bearer", "credentials": secret(c.bot_token)}},
    }


# Native receiver type → converter of its block; the receiver's list is `<type>_configs`.
CONVERTERS: dict[str, Callable[[Any, Secrets], dict[str, Any]]] = {
    "slack": slack_config,
    "email": email_config,
    "webhook": webhook_config,
    "pagerduty": pagerduty_config,
    "opsgenie": opsgenie_config,
    "msteams": msteams_config,
    "telegram": telegram_config,
    "wechat": wechat_config,
    "discord": discord_config,
    "webex": webex_config,
}


def gateway_webhook_url(gateway_url: str, channel: NotificationChannel) -> str:
    """The gateway endpoint that delivers `channel`'s alerts. Raises nothing."""
    return f"{gateway_url.rstrip('/')}/api/v1/webhooks/{ObjectRef.of(channel).key}"


def receiver(
    channel: NotificationChannel, version: tuple[int, int], gateway_url: str | None, secret: Secrets
) -> dict[str, Any]:
    """The receiver of one channel, named `<namespace>/<name>`. Raises ValueError with the reason it
    cannot be rendered: a gateway type without a gateway, a type this Alertmanager version lacks, or
    (MissingSecretError) a missing secret."""
    spec, name = channel.spec, ObjectRef.of(channel).key
    kind = spec.type
    if kind in GATEWAY_TYPES:
        if not gateway_url:
            raise ValueError(f"type {kind} is delivered by the AlertAgent gateway, which this cluster has none of")
        url = gateway_webhook_url(gateway_url, channel)
        return {"name": name, "webhook_configs": [{"url": url, "send_resolved": spec.send_resolved}]}
    needed = MIN_VERSION.get(kind)
    if needed and version < needed:
        raise ValueError(
            f"Alertmanager {version[0]}.{version[1]} has no {kind} receiver (needs >= {needed[0]}.{needed[1]})"
        )
    convert, block = CONVERTERS.get(kind), getattr(spec, kind, None)
    if convert is None or block is None:
        raise ValueError(f"type {kind} has no native receiver")
    return {"name": name, f"{kind}_configs": [clean({**convert(block, secret), "send_resolved": spec.send_resolved})]}
