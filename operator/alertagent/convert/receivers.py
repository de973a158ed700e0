"""prometheus-operator receiver configurations → NotificationChannel blocks (pure).

Field names follow prometheus-operator's pkg/apis/monitoring/v1alpha1 and v1beta1
alertmanager_config_types.go (`SlackConfig`, `EmailConfig`, `HTTPConfig`, ...); the two versions
share these types, except that v1beta1's SecretKeySelector has no `optional`. A SecretKeySelector
(`{name, key}`, always in the object's own namespace there as here) becomes a `secretKeyRef`
`{name, key}`. `sendResolved`, when unset, is Alertmanager's default for the type
(config/notifiers.go: false for slack, email and wechat, true otherwise), written explicitly because
an AlertAgent channel's default is true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .report import NO_DEFAULT, Fields, Sink, Unsupported


@dataclass(frozen=True)
class ReceiverType:
    """How one prometheus-operator `<type>Configs` entry maps to an AlertAgent channel block."""

    type: str  # AlertAgent's spec.type
    upstream: str  # prometheus-operator's Go type
    send_resolved: bool  # Alertmanager's default
    plain: Mapping[str, str] = field(default_factory=dict)  # upstream field → block field, copied
    secrets: Mapping[str, str] = field(default_factory=dict)  # upstream SecretKeySelector → block secretKeyRef
    unsupported: tuple[str, ...] = ()  # upstream fields without an equivalent
    defaults: Mapping[str, Any] = field(default_factory=dict)  # Alertmanager's value when unset: nothing lost


def _no_equivalent(kind: str, names: tuple[str, ...], defaults: Mapping[str, Any]) -> dict[str, Unsupported]:
    table = {
        name: Unsupported(f"no equivalent in AlertAgent's {kind} channel", defaults.get(name, NO_DEFAULT))
        for name in names
    }
    if "timeout" in names:
        table["timeout"] = Unsupported(f"AlertAgent's {kind} channel sets no timeout (Alertmanager's default applies)")
    return table


RECEIVER_TYPES: dict[str, ReceiverType] = {
    "slackConfigs": ReceiverType(
        "slack",
        "SlackConfig",
        False,
        plain={"channel": "channel", "username": "username", "color": "color", "title": "title", "text": "text"}
        | {"iconEmoji": "iconEmoji"},
        secrets={"apiURL": "apiUrl"},
        unsupported=(
            "titleLink",
            "pretext",
            "fields",
            "shortFields",
            "footer",
            "fallback",
            "callbackId",
            "iconURL",
            "imageURL",
            "thumbURL",
            "linkNames",
            "mrkdwnIn",
            "actions",
            "timeout",
            "messageText",
            "updateMessage",
        ),
        defaults={"shortFields": False, "linkNames": False, "updateMessage": False},
    ),
    "emailConfigs": ReceiverType(
        "email",
        "EmailConfig",
        False,
        plain={"to": "to", "from": "from", "smarthost": "smarthost", "authUsername": "authUsername"}
        | {"requireTLS": "requireTls", "html": "html", "text": "text"},
        secrets={"authPassword": "authPassword"},
        unsupported=("hello", "authSecret", "authIdentity", "tlsConfig", "forceImplicitTLS", "threading"),
    ),
    "webhookConfigs": ReceiverType(
        "webhook",
        "WebhookConfig",
        True,
        plain={"url": "url"},
        secrets={"urlSecret": "urlSecret"},
        unsupported=("timeout", "payload"),
    ),
    "pagerdutyConfigs": ReceiverType(
        "pagerduty",
        "PagerDutyConfig",
        True,
        plain={"url": "url", "severity": "severity", "description": "description", "component": "component"}
        | {"group": "group", "class": "class"},
        secrets={"routingKey": "routingKey", "serviceKey": "serviceKey"},
        unsupported=(
            "client",
            "clientURL",
            "details",
            "pagerDutyImageConfigs",
            "pagerDutyLinkConfigs",
            "source",
            "timeout",
        ),
    ),
    "opsgenieConfigs": ReceiverType(
        "opsgenie",
        "OpsGenieConfig",
        True,
        plain={"apiURL": "apiUrl", "message": "message", "description": "description", "priority": "priority"}
        | {"tags": "tags"},
        secrets={"apiKey": "apiKey"},
        unsupported=("source", "note", "updateAlerts", "details", "responders", "entity", "actions"),
        defaults={"updateAlerts": False},
    ),
    "msteamsConfigs": ReceiverType(
        "msteams",
        "MSTeamsConfig",
        True,
        plain={"title": "title", "summary": "summary", "text": "text"},
        secrets={"webhookUrl": "webhookUrl"},
    ),
    "telegramConfigs": ReceiverType(
        "telegram",
        "TelegramConfig",
        True,
        plain={"apiURL": "apiUrl", "chatID": "chatId", "message": "message", "parseMode": "parseMode"},
        secrets={"botToken": "botToken"},
        unsupported=("botTokenFile", "messageThreadID", "disableNotifications"),
        defaults={"disableNotifications": False},
    ),
    "wechatConfigs": ReceiverType(
        "wechat",
        "WeChatConfig",
        False,
        plain={"corpID": "corpId", "agentID": "agentId", "toUser": "toUser", "toParty": "toParty"}
        | {"toTag": "toTag", "message": "message", "messageType": "messageType"},
        secrets={"apiSecret": "apiSecret"},
        unsupported=("apiURL",),
    ),
    "discordConfigs": ReceiverType(
        "discord",
        "DiscordConfig",
        True,
        plain={"title": "title", "message": "message"},
        secrets={"apiURL": "webhookUrl"},
        unsupported=("content", "username", "avatarURL"),
    ),
    "webexConfigs": ReceiverType(
        "webex", "WebexConfig", True, plain={"apiURL": "apiUrl", "roomID": "roomId", "message": "message"}
    ),
}
# Receiver types of prometheus-operator that AlertAgent has no channel type for.
UNSUPPORTED_TYPES = {
    "victoropsConfigs": "VictorOps",
    "pushoverConfigs": "Pushover",
    "snsConfigs": "Amazon SNS",
    "msteamsv2Configs": "Microsoft Teams (v2, adaptive cards)",
    "rocketchatConfigs": "Rocket.Chat",
}


def secret_ref(value: Any, path: str, report: Sink) -> dict[str, Any] | None:
    """A SecretKeySelector as a `secretKeyRef` `{name, key}` (None when empty)."""
    fields = Fields(
        value,
        path,
        report,
        {
            "optional": Unsupported(
                "AlertAgent's secretKeyRef is never optional: a missing Secret or key keeps the channel out", False
            )
        },
        upstream="SecretKeySelector",
    )
    ref = {k: v for k in ("name", "key") if (v := fields.get(k)) not in (None, "")}
    fields.finish()
    return ref or None


def _authorization(value: Any, path: str, report: Sink) -> dict[str, Any] | None:
    """A SafeAuthorization's credentials when its type is Bearer (the default), else reported."""
    fields = Fields(value, path, report, upstream="SafeAuthorization")
    kind = fields.get("type") or "Bearer"
    credentials = fields.get("credentials")
    if kind.lower() != "bearer":
        fields.finish()
        report(path, f"authorization type {kind}: AlertAgent sends Bearer credentials only")
        return None
    ref = secret_ref(credentials, f"{path}.credentials", report)
    fields.finish()
    return ref


def _http_config(value: Any, path: str, kind: str, report: Sink) -> dict[str, Any]:
    """The parts of an HTTPConfig AlertAgent's channel of `kind` has (a webhook's bearer token or basic
    auth, webex's bot token); the rest is reported."""
    reason = f"AlertAgent's {kind} channel has no such HTTP client setting"
    unsupported = {
        name: Unsupported(reason)
        for name in ("authorization", "basicAuth", "oauth2", "bearerTokenSecret", "tlsConfig", "proxyURL")
    }
    unsupported["followRedirects"] = Unsupported(reason, True)
    unsupported["enableHttp2"] = Unsupported(reason, True)
    fields = Fields(value, path, report, unsupported, upstream="HTTPConfig")
    out: dict[str, Any] = {}
    if kind == "webhook":
        token = None
        if (auth := fields.get("authorization")) is not None:
            token = _authorization(auth, fields.at("authorization"), report)
        if token is None and (legacy := fields.get("bearerTokenSecret")) is not None:
            token = secret_ref(legacy, fields.at("bearerTokenSecret"), report)
        if token is not None:
            out["bearerToken"] = token
        if fields.get("basicAuth") is not None:
            report(
                fields.at("basicAuth"),
                "the user name is a Secret reference; AlertAgent's basicAuth takes it as text "
                "(spec.webhook.basicAuth.username, the password a secretKeyRef): not converted",
            )
    elif kind == "webex" and (auth := fields.get("authorization")) is not None:
        token = _authorization(auth, fields.at("authorization"), report)
        if token is not None:
            out["botToken"] = token
    fields.finish()
    return out


def convert_receiver_config(key: str, value: Any, path: str, report: Sink) -> tuple[str, dict[str, Any], bool] | None:
    """(channel type, block, sendResolved) for one entry of a receiver's `key` list (`slackConfigs`,
    ...), every field that does not map given to `report`; None for a type AlertAgent lacks."""
    if key in UNSUPPORTED_TYPES:
        report(path, f"{UNSUPPORTED_TYPES[key]}: AlertAgent has no such channel type")
        return None
    spec = RECEIVER_TYPES[key]
    unsupported = _no_equivalent(spec.type, spec.unsupported, spec.defaults)
    fields = Fields(value, path, report, unsupported, upstream=spec.upstream)
    block: dict[str, Any] = {}
    for source, target in spec.plain.items():
        if (v := fields.get(source)) is not None:
            block[target] = v
    for source, target in spec.secrets.items():
        if (v := fields.get(source)) is not None and (ref := secret_ref(v, fields.at(source), report)) is not None:
            block[target] = ref
    if spec.type == "email" and (headers := fields.get("headers")):
        block["headers"] = {h.get("key"): h.get("value") for h in headers if isinstance(h, dict)}
    if spec.type == "webhook" and (max_alerts := fields.get("maxAlerts")):
        block["maxAlerts"] = max_alerts
    if (http := fields.get("httpConfig")) is not None:
        block |= _http_config(http, fields.at("httpConfig"), spec.type, report)
    send_resolved = fields.get("sendResolved")
    fields.finish()
    return spec.type, block, spec.send_resolved if send_resolved is None else bool(send_resolved)
