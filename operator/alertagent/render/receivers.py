"""One Alertmanager receiver per NotificationChannel (pure): a small converter per native receiver
type, registered in `CONVERTERS`; the gateway types (`GATEWAY_TYPES`), and the types of
`GATEWAY_NATIVE_TYPES` with `spec.delivery: Gateway` (render/gateway_targets.py), become a webhook to
the AlertAgent gateway instead.

A converter takes the channel's block of its type (`spec.<type>`) and the channel's `Secrets`, and
returns the one entry of the receiver's `<type>_configs` list with unset values as `None`; `receiver`
adds `send_resolved`, drops the unset values and names the receiver `<namespace>/<name>`. Field names
are Alertmanager's (https://prometheus.io/docs/alerting/latest/configuration/#receiver).

`receiver` then refuses, for that channel alone, what Alertmanager would refuse in the rendered entry
(so the whole alertmanager.yaml never fails because of one channel). Upstream sources, prometheus/
alertmanager at v0.25.0, v0.26.0, v0.27.0 (and main for the message changes noted):
- config/config.go `Config.UnmarshalYAML`: a value a receiver leaves empty is taken from `global`; with
  no global value either, the whole file is refused. Without defaults in `DefaultGlobalConfig` are:
  slack api_url (`no global Slack API URL set either inline or in a file`; from 0.30 `no Slack API URL
  nor App token set either inline or in a file`), opsgenie api_key (`no global OpsGenie API Key set
  either inline or in a file`), wechat api_secret (`no global Wechat ApiSecret set`; from 0.31 `no
  global Wechat Api Secret set either inline or in a file`) and corp_id (`no global Wechat CorpID
  set`), email smarthost (`no global SMTP smarthost set`) and from (`no global SMTP from set`). The URL
  globals (pagerduty_url, opsgenie_api_url, wechat_api_url, telegram_api_url, webex_api_url) have
  defaults, so they are never missing. An empty string counts as unset, as in Go.
- config/config.go `parseURL` (URL, SecretURL): a URL value, also one read from a Secret, must parse
  with scheme http or https and a host; the message never quotes a Secret's value.
- config/notifiers.go: per-version fields (`FIELD_MIN_VERSION`: msteams `summary` is 0.27, the rest of
  each type's fields exist since the type does), and required values read from Secrets: telegram
  `missing bot_token on telegram_config` (0.26: `missing bot_token or bot_token_file on
  telegram_config`), pagerduty `missing service or routing key in PagerDuty config`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Final

from ..api.alertmanagercluster import GlobalConfig
from ..api.common import SecretKeyRef, url_error
from ..api.notificationchannel import (
    SLACK_POST_MESSAGE_URL,
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
from .gateway_targets import GATEWAY_NATIVE_TYPES, gateway_target, max_alerts, unsupported

GATEWAY_TYPES = frozenset({"dingtalk", "wecom", "feishu"})  # robots: only the gateway delivers them
# First Alertmanager version with each native receiver type (types absent here exist in all versions).
MIN_VERSION = {"telegram": (0, 24), "discord": (0, 25), "webex": (0, 25), "msteams": (0, 26)}

SecretResolver = Callable[[str, SecretKeyRef], str | None]


# First Alertmanager version with a field of a native receiver's entry (fields absent here exist as
# long as their type does): config/notifiers.go at v0.25.0, v0.26.0 and v0.27.0.
FIELD_MIN_VERSION: dict[tuple[str, str], tuple[int, int]] = {("msteams", "summary"): (0, 27)}
# Fields of each entry holding URLs (config.URL / config.SecretURL in config/notifiers.go).
URL_FIELDS: dict[str, tuple[str, ...]] = {
    "slack": ("api_url",),
    "webhook": ("url",),
    "pagerduty": ("url",),
    "opsgenie": ("api_url",),
    "msteams": ("webhook_url",),
    "telegram": ("api_url",),
    "wechat": ("api_url",),
    "discord": ("webhook_url",),
    "webex": ("api_url",),
}
_VERSION = re.compile(r"v?([0-9]+)\.([0-9]+)")


def parse_version(text: str | None) -> tuple[int, int]:
    """(major, minor) of an Alertmanager version such as `v0.27.0` or `0.25.0+ds`; (0, 27), a current
    Alertmanager, when unknown. Raises ValueError when the text does not start with `major.minor`."""
    if not text:
        return (0, 27)
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"not an Alertmanager version: {text!r}")
    return int(match.group(1)), int(match.group(2))


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
    """The `slack_configs` entry, a bot token as Bearer authorization (chat.postMessage, its URL the
    default api_url); raises MissingSecretError for a missing apiUrl or botToken secret."""
    token = secret(c.bot_token)
    return {
        "api_url": secret(c.api_url) or (SLACK_POST_MESSAGE_URL if token else None),
        "http_config": {"authorization": {"type": "Bearer", "credentials": token}} if token else None,
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
    """The `webhook_configs` entry, the bearer token as Bearer authorization or basicAuth as
    `basic_auth`; raises MissingSecretError for a missing bearerToken, password or urlSecret secret."""
    token = secret(c.bearer_token)
    http_config: dict[str, Any] | None = None
    if token:
        http_config = {"authorization": {"type": "Bearer", "credentials": token}}
    elif c.basic_auth is not None:
        http_config = {"basic_auth": {"username": c.basic_auth.username, "password": secret(c.basic_auth.password)}}
    return {"url": c.url or secret(c.url_secret), "max_alerts": c.max_alerts, "http_config": http_config}


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


WEBHOOK_PATH = "/api/v1/alerts/webhook"
# First Alertmanager versions with what a gateway receiver uses (CHANGELOG.md): webhook `max_alerts`
# (0.21.0, #2274) and http_config `authorization` (0.22.0, #2499; before it, `bearer_token` only).
MAX_ALERTS_VERSION, AUTHORIZATION_VERSION = (0, 21), (0, 22)


@dataclass(frozen=True)
class GatewayEndpoint:
    """Where a cluster's gateway is (`spec.gateway.url`) and each gateway channel's bearer token
    (`<namespace>/<name>` → token, from plans/gateway)."""

    url: str
    tokens: Mapping[str, str] = dataclass_field(default_factory=dict)


def gateway_webhook_url(gateway_url: str, channel: NotificationChannel) -> str:
    """The gateway endpoint that receives `channel`'s alerts:
    `<gateway>/api/v1/alerts/webhook/<namespace>/<name>`. Raises nothing."""
    return f"{gateway_url.rstrip('/')}{WEBHOOK_PATH}/{ObjectRef.of(channel).key}"


def gateway_config(
    channel: NotificationChannel, version: tuple[int, int], gateway: GatewayEndpoint, secret: Secrets
) -> dict[str, Any]:
    """The `webhook_configs` entry of a dingtalk, wecom or feishu channel, or of a channel of
    `GATEWAY_NATIVE_TYPES` with delivery Gateway: the gateway's webhook for it, `send_resolved`,
    `max_alerts` (when not 0) and the channel's bearer token (`authorization`; `bearer_token` before
    Alertmanager 0.22). The destination's Secrets are resolved too, though only the gateway uses them,
    so a channel whose destination cannot be reached is never routed to the gateway. Raises
    MissingSecretError for a missing Secret, ValueError for a URL Alertmanager would refuse too (no
    host, another scheme), a setting the gateway cannot deliver (render/gateway_targets.py), a
    `maxAlerts` the version lacks, or a channel with no token yet; with placeholders a missing token is
    a marked placeholder, recorded as missing."""
    kind, key = channel.spec.type, ObjectRef.of(channel).key
    if kind in GATEWAY_TYPES:
        block = getattr(channel.spec, kind)
        robot = secret(block.webhook_url)
        secret(getattr(block, "sign_secret", None))
        if robot is not None and (error := url_error(robot, redact=True)) is not None:
            raise ValueError(f"{kind}.webhookUrl from its Secret: {error}")
        limit_field, limit = f"{kind}.maxAlerts", block.max_alerts
    else:
        gateway_target(channel, "", secret)  # what the gateway would get: refused here when it cannot be
        limit_field, limit = max_alerts(channel)
    if limit and version < MAX_ALERTS_VERSION:
        raise ValueError(f"{limit_field}: Alertmanager {version[0]}.{version[1]} has no webhook max_alerts")
    token = gateway.tokens.get(key)
    if token is None:
        if not secret.placeholders:
            raise ValueError("no gateway bearer token for this channel yet")
        secret.missing.append(f"gateway bearer token of {key} (the operator generates it)")
        token = "alertagent-gateway-token-placeholder"
    http_config: dict[str, Any] = (
        {"authorization": {"type": "Bearer", "credentials": token}}
        if version >= AUTHORIZATION_VERSION
        else {"bearer_token": token}
    )
    return clean(
        {
            "url": gateway_webhook_url(gateway.url, channel),
            "send_resolved": channel.spec.send_resolved,
            "max_alerts": limit or None,
            "http_config": http_config,
        }
    )


class _Unchecked:
    """`receiver(global_=UNCHECKED)`: the caller does not say what the cluster's global block holds."""


UNCHECKED: Final = _Unchecked()


def _missing_from_global(
    kind: str, entry: dict[str, Any], g: GlobalConfig | None, version: tuple[int, int]
) -> str | None:
    """Alertmanager's message when `entry` leaves a value empty that only the global block could supply
    and the global block lacks it (config/config.go `Config.UnmarshalYAML`); None when it is complete."""
    smtp = g.smtp if g else None
    if kind == "slack" and not entry.get("api_url") and not (g and g.slack_api_url):
        if version >= (0, 30):
            return "no Slack API URL nor App token set either inline or in a file"
        return "no global Slack API URL set either inline or in a file"
    if kind == "opsgenie" and not entry.get("api_key") and not (g and g.opsgenie_api_key):
        return "no global OpsGenie API Key set either inline or in a file"
    if kind == "wechat":
        if not entry.get("api_secret") and not (g and g.wechat_api_secret):
            if version >= (0, 31):
                return "no global Wechat Api Secret set either inline or in a file"
            return "no global Wechat ApiSecret set"
        if not entry.get("corp_id") and not (g and g.wechat_api_corp_id):
            return "no global Wechat CorpID set"
    if kind == "email":
        if not entry.get("smarthost") and not (smtp and smtp.smarthost):
            return "no global SMTP smarthost set"
        if not entry.get("from") and not (smtp and smtp.from_):
            return "no global SMTP from set"
    return None


def _entry_problem(kind: str, entry: dict[str, Any], version: tuple[int, int]) -> str | None:
    """What Alertmanager `version` refuses in one rendered entry, by its own rules; None when nothing."""
    for (field_kind, field), needed in FIELD_MIN_VERSION.items():
        if field_kind == kind and entry.get(field) is not None and version < needed:
            return (
                f"{kind}.{field}: Alertmanager {version[0]}.{version[1]} has no such field (needs >= "
                f"{needed[0]}.{needed[1]}; it says: field {field} not found in type config.plain)"
            )
    for field in URL_FIELDS.get(kind, ()):
        value = entry.get(field)
        if isinstance(value, str) and (error := url_error(value, redact=True)) is not None:
            return f"{kind}.{field}: {error}"
    if kind == "telegram" and not entry.get("bot_token"):
        if version >= (0, 26):
            return "missing bot_token or bot_token_file on telegram_config"
        return "missing bot_token on telegram_config"
    if kind == "pagerduty" and not entry.get("routing_key") and not entry.get("service_key"):
        return "missing service or routing key in PagerDuty config"
    return None


def receiver(
    channel: NotificationChannel,
    version: tuple[int, int],
    gateway: GatewayEndpoint | None,
    secret: Secrets,
    global_: GlobalConfig | _Unchecked | None = UNCHECKED,
) -> dict[str, Any]:
    """The receiver of one channel, named `<namespace>/<name>`; a gateway-delivered channel's
    (`spec.delivery` Gateway, always for the gateway types) is `gateway_config` (`gateway` None: the
    cluster has no gateway). `global_` is the cluster's `global` block (`cluster.spec.global_`, None
    when it has none); values a channel leaves to it are checked only when it is given. Raises
    ValueError with the reason it cannot be rendered: delivery Gateway for a type the gateway does not
    deliver or without a gateway, a type or field this Alertmanager version lacks, a value
    Alertmanager would refuse (its own message), a value neither the channel nor the global block
    sets, or (MissingSecretError) a missing secret."""
    spec, name = channel.spec, ObjectRef.of(channel).key
    kind = spec.type
    if spec.delivery_mode() == "Gateway":
        if kind not in GATEWAY_TYPES and kind not in GATEWAY_NATIVE_TYPES:
            raise ValueError(unsupported(kind))
        if gateway is None:
            what = f"type {kind} is" if kind in GATEWAY_TYPES else "spec.delivery Gateway: this channel is"
            raise ValueError(
                f"{what} delivered by the AlertAgent gateway, which this cluster has none of "
                "(set spec.gateway.url of the AlertmanagerCluster)"
            )
        return {"name": name, "webhook_configs": [gateway_config(channel, version, gateway, secret)]}
    needed = MIN_VERSION.get(kind)
    if needed and version < needed:
        raise ValueError(
            f"Alertmanager {version[0]}.{version[1]} has no {kind} receiver (needs >= {needed[0]}.{needed[1]})"
        )
    convert, block = CONVERTERS.get(kind), getattr(spec, kind, None)
    if convert is None or block is None:
        raise ValueError(f"type {kind} has no native receiver")
    entry = clean({**convert(block, secret), "send_resolved": spec.send_resolved})
    problem = _entry_problem(kind, entry, version)  # a placeholder for a missing secret is a valid URL
    if problem is None and not isinstance(global_, _Unchecked):
        problem = _missing_from_global(kind, entry, global_, version)
    if problem is not None:
        raise ValueError(problem)
    return {"name": name, f"{kind}_configs": [entry]}
