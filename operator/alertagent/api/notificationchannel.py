"""NotificationChannel: one receiver and the route that leads to it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, field_validator

from .base import Invariant, Model
from .common import (
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
    Condition,
    CrdNames,
    Duration,
    K8sName,
    Matcher,
    PrinterColumn,
    Resource,
    SecretKeyRef,
    go_quote,
    http_url,
)
from .suppressionpolicy import zone

# Receiver fields mirror Alertmanager's config/notifiers.go and config/config.go (v0.25.0, v0.26.0,
# v0.27.0): a URL field is Go's url.Parse with scheme http or https and a host (`parseURL`, checked
# by `http_url`); an email smarthost is Go's net.SplitHostPort with a non-empty port (`HostPort`);
# telegram needs a chat_id other than 0 and webex a room_id (their UnmarshalYAML); email headers may
# not collide case-insensitively (textproto.CanonicalMIMEHeaderKey). What depends on the cluster's
# global settings or the Alertmanager version (a value only the global can supply, a field the
# version lacks) is checked per cluster by render/receivers.py.
Text = Annotated[str, Field(max_length=65536)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+", max_length=2048), AfterValidator(http_url)]
# Go's net.SplitHostPort: `host:port` or `[host]:port`; no other colon or bracket; the port not empty.
HOST_PORT_PATTERN = r"^(\[[^\[\]]*\]|[^:\[\]]*):[^:\[\]]+$"
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _int64(value: int) -> int:
    if value > 2**63 - 1:
        raise ValueError(f"must be a 64-bit integer: less than or equal to {2**63 - 1}")
    if value < -(2**63):
        raise ValueError(f"must be a 64-bit integer: greater than or equal to {-(2**63)}")
    return value


# Go's int64 (Alertmanager's telegram chat_id). Checked here, not as a schema bound: the API server holds
# an integer as int64 already (a larger number is a float, refused as not an integer), and it reads a
# bound as float64, where 2**63 - 1 becomes 2**63 (see `crd._numeric_bounds`).
Int64 = Annotated[int, AfterValidator(_int64), Field(json_schema_extra={"format": "int64"})]


def _time_zone(value: str) -> str:
    zone(value)
    return value


# Options of the gateway types (dingtalk, wecom, feishu): what the gateway renders messages with.
Language = Literal["zh", "en"]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_time_zone)]
MaxAlerts = Annotated[int, Field(ge=0)]
Mobile = Annotated[str, Field(min_length=1, max_length=32)]
UserId = Annotated[str, Field(min_length=1, max_length=128)]


def canonical_mime_header_key(key: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: `content-type` → `Content-Type`; a key with a character
    that is not a token character is returned unchanged."""
    if any(c not in _TOKEN for c in key):
        return key
    out, upper = [], True
    for c in key:
        out.append(c.upper() if upper else c.lower())
        upper = c == "-"
    return "".join(out)


SLACK_POST_MESSAGE_URL = "https://slack.com/api/chat.postMessage"


class SlackConfig(Model):
    """Slack incoming webhook or chat.postMessage delivery."""

    __invariants__ = (
        Invariant(
            cel="!has(self.botToken) || has(self.channel)",
            message="botToken (chat.postMessage) needs the channel to post to",
            holds=lambda s: s.bot_token is None or s.channel is not None,
            field_path=".channel",
        ),
    )

    api_url: SecretKeyRef | None = None
    """Secret key holding the incoming webhook URL; the cluster's global slackApiUrl when unset (with
    botToken: `https://slack.com/api/chat.postMessage`)."""
    bot_token: SecretKeyRef | None = None
    """Secret key holding a bot token (`xoxb-...`) to post with chat.postMessage (sent as Bearer
    authorization; needs `channel`)."""
    channel: Annotated[str, Field(max_length=256)] | None = None
    """Channel or user to send to, for example `#alerts`."""
    username: str | None = None
    """Name the message is posted as."""
    icon_emoji: str | None = None
    """Emoji used as the icon, for example `:fire:`."""
    title: Text | None = None
    """Message title (Go template)."""
    text: Text | None = None
    """Message text (Go template)."""
    color: str | None = None
    """Attachment colour (Go template), for example `danger`."""


class EmailConfig(Model):
    """Email delivery over SMTP."""

    to: Annotated[str, Field(min_length=1, max_length=2048)]
    """Recipient addresses, comma-separated."""
    from_: Annotated[str, Field(max_length=320)] | None = Field(default=None, alias="from")
    """Sender address; the cluster's global smtp.from when unset."""
    smarthost: Annotated[str, Field(pattern=HOST_PORT_PATTERN, max_length=1024)] | None = None
    """SMTP server as host:port (or [IPv6]:port); the cluster's global smtp.smarthost when unset."""
    auth_username: str | None = None
    """SMTP AUTH user name."""
    auth_password: SecretKeyRef | None = None
    """SMTP AUTH password."""
    require_tls: bool | None = None
    """Whether STARTTLS is required."""
    headers: dict[str, str] | None = None
    """Extra mail headers, for example Subject (Go templates)."""
    html: Text | None = None
    """HTML body (Go template)."""
    text: Text | None = None
    """Plain-text body (Go template)."""

    @field_validator("headers")
    @classmethod
    def _headers_unique(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        """Alertmanager (EmailConfig.UnmarshalYAML) refuses headers equal after canonicalisation."""
        seen: set[str] = set()
        for key in headers or {}:
            canonical = canonical_mime_header_key(key)
            if canonical in seen:
                raise ValueError(f"duplicate header {go_quote(canonical)} in email config")
            seen.add(canonical)
        return headers


class BasicAuth(Model):
    """HTTP basic authentication (Alertmanager's http_config `basic_auth`)."""

    username: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^:]+$")]
    """User name (no colon: RFC 7617)."""
    password: SecretKeyRef
    """Secret key holding the password."""


class WebhookConfig(Model):
    """Generic webhook: Alertmanager POSTs its JSON payload."""

    __invariants__ = (
        Invariant(
            cel="has(self.url) != has(self.urlSecret)",
            message="set exactly one of url or urlSecret",
            holds=lambda w: (w.url is None) != (w.url_secret is None),
        ),
        # prometheus/common config.HTTPClientConfig.Validate: one authorization method at most.
        Invariant(
            cel="!(has(self.bearerToken) && has(self.basicAuth))",
            message="at most one of basicAuth and bearerToken must be configured",
            holds=lambda w: w.bearer_token is None or w.basic_auth is None,
        ),
    )

    url: HttpUrl | None = None
    """Endpoint to POST to. Use urlSecret instead when the URL carries a token."""
    url_secret: SecretKeyRef | None = None
    """Secret key holding the endpoint URL."""
    bearer_token: SecretKeyRef | None = None
    """Secret key holding a bearer token sent in the Authorization header."""
    basic_auth: BasicAuth | None = None
    """HTTP basic authentication sent in the Authorization header (instead of bearerToken)."""
    max_alerts: Annotated[int, Field(ge=0)] | None = None
    """Maximum alerts per message; 0 means all."""


class PagerDutyConfig(Model):
    """PagerDuty Events API v2 (routingKey) or v1 (serviceKey)."""

    __invariants__ = (
        Invariant(
            cel="has(self.routingKey) != has(self.serviceKey)",
            message="set exactly one of routingKey or serviceKey",
            holds=lambda p: (p.routing_key is None) != (p.service_key is None),
        ),
    )

    routing_key: SecretKeyRef | None = None
    """Secret key holding the Events API v2 integration key."""
    service_key: SecretKeyRef | None = None
    """Secret key holding the Events API v1 service key."""
    url: HttpUrl | None = None
    """Events API URL; the cluster's global pagerdutyUrl when unset."""
    severity: str | None = None
    """Severity of the incident (Go template)."""
    description: Text | None = None
    """Incident description (Go template)."""
    component: str | None = None
    """Component of the source machine."""
    group: str | None = None
    """Logical group of the source machine."""
    class_: str | None = Field(default=None, alias="class")
    """Class or type of the event."""


class OpsgenieConfig(Model):
    """Opsgenie alerts API."""

    api_key: SecretKeyRef | None = None
    """Secret key holding the API key; the cluster's global opsgenieApiKey when unset."""
    api_url: HttpUrl | None = None
    """API URL; the cluster's global opsgenieApiUrl when unset."""
    message: Text | None = None
    """Alert text (Go template)."""
    description: Text | None = None
    """Alert description (Go template)."""
    priority: str | None = None
    """Priority P1..P5 (Go template)."""
    tags: str | None = None
    """Comma-separated tags (Go template)."""


class MSTeamsConfig(Model):
    """Microsoft Teams incoming webhook (Alertmanager >= 0.26)."""

    webhook_url: SecretKeyRef
    """Secret key holding the incoming webhook URL."""
    title: Text | None = None
    """Message title (Go template)."""
    summary: Text | None = None
    """Message summary (Go template); needs Alertmanager >= 0.27."""
    text: Text | None = None
    """Message text (Go template)."""


class TelegramConfig(Model):
    """Telegram bot message."""

    __invariants__ = (
        Invariant(
            cel="self.chatId != 0",
            message="missing chat_id on telegram_config",
            holds=lambda t: t.chat_id != 0,
            field_path=".chatId",
        ),
    )

    bot_token: SecretKeyRef
    """Secret key holding the bot token."""
    chat_id: Int64
    """Chat to send to: a 64-bit integer other than 0 (a group's id is negative, for example
    `-1001234567890`)."""
    api_url: HttpUrl | None = None
    """Telegram API URL; the cluster's global telegramApiUrl when unset."""
    parse_mode: Literal["MarkdownV2", "Markdown", "HTML"] | None = None
    """How Telegram parses the message."""
    message: Text | None = None
    """Message text (Go template)."""


class WeChatConfig(Model):
    """WeCom (WeChat Work) application message, native to Alertmanager."""

    api_secret: SecretKeyRef | None = None
    """Secret key holding the application secret; the cluster's global wechatApiSecret when unset."""
    corp_id: str | None = None
    """Corp id; the cluster's global wechatApiCorpId when unset."""
    agent_id: str
    """Application agent id."""
    to_user: str | None = None
    """Users to send to (`|`-separated, `@all`)."""
    to_party: str | None = None
    """Departments to send to."""
    to_tag: str | None = None
    """Tags to send to."""
    message: Text | None = None
    """Message text (Go template)."""
    message_type: Literal["text", "markdown"] | None = None
    """Message type."""


class DiscordConfig(Model):
    """Discord webhook (Alertmanager >= 0.25)."""

    webhook_url: SecretKeyRef
    """Secret key holding the Discord webhook URL."""
    title: Text | None = None
    """Message title (Go template)."""
    message: Text | None = None
    """Message text (Go template)."""


class WebexConfig(Model):
    """Webex Teams message (Alertmanager >= 0.25)."""

    __invariants__ = (
        Invariant(
            cel="self.roomId != ''",
            message="missing room_id on webex_config",
            holds=lambda w: w.room_id != "",
            field_path=".roomId",
        ),
    )

    bot_token: SecretKeyRef
    """Secret key holding the bot's access token."""
    room_id: str
    """Room to send to."""
    api_url: HttpUrl | None = None
    """Webex API URL; the cluster's global webexApiUrl when unset."""
    message: Text | None = None
    """Message text (Go template)."""


class ConfigMapKeyRef(Model):
    """A key of a ConfigMap in the same namespace as the object that references it."""

    name: K8sName
    """Name of the ConfigMap (always in the referencing object's own namespace)."""
    key: Annotated[str, Field(min_length=1, max_length=253)]
    """Key inside the ConfigMap's data whose value is used."""


# A gateway block's message template: inline (`template`) or from a ConfigMap, never both.
_ONE_TEMPLATE = Invariant(
    cel="!(has(self.template) && has(self.templateConfigMap))",
    message="set at most one of template or templateConfigMap",
    holds=lambda b: b.template is None or b.template_config_map is None,
)


class GatewayMessage(Model):
    """What the AlertAgent gateway's message looks like, for every robot type."""

    __invariants__ = (_ONE_TEMPLATE,)

    template: Text | None = None
    """Jinja2 template for the message; the gateway's default when neither this nor templateConfigMap is set."""
    template_config_map: ConfigMapKeyRef | None = None
    """ConfigMap key holding the Jinja2 template for the message, instead of `template`. The operator
    reads it at each reconcile, so an edit reaches the gateway by the next health interval at the
    latest; a missing ConfigMap or key leaves the channel out (or keeps its last delivered entry)."""
    language: Language = "en"
    """Language of the message text the gateway renders: `zh` (Chinese) or `en` (English)."""
    time_zone: TimeZone = "UTC"
    """IANA time zone the message shows times in, for example `Asia/Shanghai`."""
    max_alerts: MaxAlerts = 0
    """Maximum alerts Alertmanager sends per notification (webhook `max_alerts`); 0 means all. The
    message says how many were left out."""


class DingTalkConfig(GatewayMessage):
    """DingTalk group robot, delivered by the AlertAgent gateway (signed)."""

    webhook_url: SecretKeyRef
    """Secret key holding the robot webhook URL (with access_token)."""
    sign_secret: SecretKeyRef | None = None
    """Secret key holding the robot's signing secret (`SEC...`), when signing is enabled."""
    at_mobiles: Annotated[list[Mobile], Field(max_length=100)] | None = None
    """Mobile numbers to @-mention (also written in the text, as DingTalk requires for the mention)."""
    at_user_ids: Annotated[list[UserId], Field(max_length=100)] | None = None
    """DingTalk user ids to @-mention."""
    at_all: bool = False
    """Whether to @-mention everyone."""
    message_type: Literal["markdown", "text"] = "markdown"
    """Message type."""


class WeComConfig(GatewayMessage):
    """WeCom group robot, delivered by the AlertAgent gateway."""

    webhook_url: SecretKeyRef
    """Secret key holding the robot webhook URL (with key)."""
    mentioned_list: list[str] | None = None
    """User ids to @-mention (`@all` for everyone)."""
    mentioned_mobile_list: list[str] | None = None
    """Mobile numbers to @-mention."""
    message_type: Literal["markdown", "text"] = "markdown"
    """Message type."""


class FeishuConfig(GatewayMessage):
    """Feishu / Lark custom bot, delivered by the AlertAgent gateway (signed)."""

    webhook_url: SecretKeyRef
    """Secret key holding the bot webhook URL."""
    sign_secret: SecretKeyRef | None = None
    """Secret key holding the bot's signing secret, when signature verification is enabled."""
    message_type: Literal["interactive", "text"] = "interactive"
    """Message type: an interactive card or plain text."""


ChannelType = Literal[
    "slack",
    "email",
    "webhook",
    "pagerduty",
    "opsgenie",
    "msteams",
    "telegram",
    "wechat",
    "discord",
    "webex",
    "dingtalk",
    "wecom",
    "feishu",
]
CHANNEL_TYPES: tuple[str, ...] = get_args(ChannelType)
Delivery = Literal["Native", "Gateway"]
# Types Alertmanager has no receiver for: only the AlertAgent gateway delivers them.
GATEWAY_ONLY_TYPES: tuple[str, ...] = ("dingtalk", "wecom", "feishu")


def delivery_of(channel_type: str | None, delivery: str | None) -> Delivery:
    """`spec.delivery` as it takes effect: the value set, else `Gateway` for the gateway-only types
    (dingtalk, wecom, feishu) and `Native` for the others. Raises nothing."""
    if delivery in ("Native", "Gateway"):
        return "Gateway" if delivery == "Gateway" else "Native"
    return "Gateway" if channel_type in GATEWAY_ONLY_TYPES else "Native"


class ChannelRoute(Model):
    """The child route that sends matching alerts to this channel's receiver."""

    matchers: Annotated[list[Matcher], Field(max_length=64)] | None = None
    """Alerts must match all of these (a namespace matcher is added under namespace isolation)."""
    group_by: list[Annotated[str, Field(max_length=128)]] | None = None
    """Labels to group by; inherited from the root route when unset."""
    group_wait: Duration | None = None
    """Initial wait for a new group; inherited when unset."""
    group_interval: Duration | None = None
    """Wait between notifications about new alerts of a group; inherited when unset."""
    repeat_interval: Duration | None = None
    """Wait before repeating a notification; inherited when unset."""
    continue_: bool = Field(default=False, alias="continue")
    """Keep matching the routes after this one once it matched. Respected among the channels of one
    namespace (ordered by name) and among exclusive channels; a channel in the cluster's own namespace
    that is not `exclusive` always continues (it gets a copy), so it never takes alerts from a
    namespace's own channels."""
    exclusive: bool = False
    """Go first and take what this route matches from the channels after it (with `continue: false`,
    the default). In the cluster's own namespace this deliberately takes matching alerts from every
    other namespace's channels, which then never see them; elsewhere it only puts the channel before
    the other channels of its own namespace and never affects another namespace."""
    active_time_intervals: list[str] | None = None
    """Names of time intervals (for example SuppressionPolicy windows `ns/policy/window`) outside of
    which the route is muted."""
    mute_time_intervals: list[str] | None = None
    """Names of time intervals during which the route is muted."""


def _exactly_one_block(spec: Any) -> bool:
    return sum(getattr(spec, t) is not None for t in CHANNEL_TYPES) == 1


def _block_invariant(channel_type: str) -> Invariant:
    return Invariant(
        cel=f"self.type != '{channel_type}' || has(self.{channel_type})",
        message=f"type {channel_type} requires the {channel_type} block",
        holds=lambda s: s.type != channel_type or getattr(s, channel_type) is not None,
        field_path=f".{channel_type}",
    )


_GATEWAY_ONLY_CEL = "[" + ", ".join(f"'{t}'" for t in GATEWAY_ONLY_TYPES) + "]"


class NotificationChannelSpec(Model):
    """A receiver of one type, the route that leads to it, and delivery options."""

    __invariants__ = (
        Invariant(
            cel=" + ".join(f"(has(self.{t}) ? 1 : 0)" for t in CHANNEL_TYPES) + " == 1",
            message="exactly one receiver block must be set: the one spec.type names",
            holds=_exactly_one_block,
        ),
        *(_block_invariant(t) for t in CHANNEL_TYPES),
        Invariant(
            cel=f"!has(self.delivery) || self.delivery == 'Gateway' || !(self.type in {_GATEWAY_ONLY_CEL})",
            message="Native is not possible for types dingtalk, wecom and feishu: Alertmanager has no such "
            "receiver, only the AlertAgent gateway delivers them (set Gateway or leave delivery unset)",
            holds=lambda s: s.delivery != "Native" or s.type not in GATEWAY_ONLY_TYPES,
            field_path=".delivery",
        ),
        Invariant(
            cel="!has(self.gatewayMessage) || (has(self.delivery) && self.delivery == 'Gateway' && "
            f"!(self.type in {_GATEWAY_ONLY_CEL}))",
            message="gatewayMessage needs delivery Gateway; dingtalk, wecom and feishu take these options in "
            "their own block",
            holds=lambda s: s.gateway_message is None or (s.delivery == "Gateway" and s.type not in GATEWAY_ONLY_TYPES),
            field_path=".gatewayMessage",
        ),
    )

    type: ChannelType
    """Receiver type; the block of the same name holds its settings."""
    delivery: Delivery | None = None
    """Who delivers this channel's notifications. `Native`: Alertmanager's own receiver of the type.
    `Gateway`: a webhook to the AlertAgent gateway (the cluster's `spec.gateway`), which renders the
    message itself (Jinja2, `gatewayMessage`), rate-limits, retries and adds incident summaries;
    Alertmanager still decides what is sent and when. The gateway delivers dingtalk, wecom and feishu
    (always Gateway) and slack, webhook, discord and telegram; another type with Gateway (email,
    pagerduty, opsgenie, msteams, ...) is not rendered (its status says why). Unset: Gateway for
    dingtalk, wecom and feishu, else Native."""
    gateway_message: GatewayMessage | None = None
    """How the gateway renders the messages of a slack, discord or telegram channel with
    delivery Gateway (template, language, time zone, maxAlerts); the type's Go-template fields (title,
    text, message, color) are Alertmanager's and cannot be set with Gateway. A webhook channel gets
    Alertmanager's JSON payload as is (only maxAlerts applies)."""
    slack: SlackConfig | None = None
    """Settings for type slack."""
    email: EmailConfig | None = None
    """Settings for type email."""
    webhook: WebhookConfig | None = None
    """Settings for type webhook."""
    pagerduty: PagerDutyConfig | None = None
    """Settings for type pagerduty."""
    opsgenie: OpsgenieConfig | None = None
    """Settings for type opsgenie."""
    msteams: MSTeamsConfig | None = None
    """Settings for type msteams."""
    telegram: TelegramConfig | None = None
    """Settings for type telegram."""
    wechat: WeChatConfig | None = None
    """Settings for type wechat (WeCom application)."""
    discord: DiscordConfig | None = None
    """Settings for type discord."""
    webex: WebexConfig | None = None
    """Settings for type webex."""
    dingtalk: DingTalkConfig | None = None
    """Settings for type dingtalk (via the AlertAgent gateway)."""
    wecom: WeComConfig | None = None
    """Settings for type wecom (group robot, via the AlertAgent gateway)."""
    feishu: FeishuConfig | None = None
    """Settings for type feishu (via the AlertAgent gateway)."""
    route: ChannelRoute | None = None
    """Route to this receiver. Without a route the receiver is still rendered (for use as the
    cluster's root receiver or by other routes) but no alert is routed to it."""
    send_resolved: bool = True
    """Whether to notify about resolved alerts."""
    targets: list[Annotated[str, Field(min_length=1, max_length=317)]] | None = None
    """AlertmanagerClusters (`name` or `namespace/name`) that include this channel. When unset, every
    cluster whose selectors include it."""

    def delivery_mode(self) -> Delivery:
        """`delivery` as it takes effect (see `delivery_of`)."""
        return delivery_of(self.type, self.delivery)


class LastTestResult(Model):
    """Outcome of the last test notification."""

    time: datetime
    """When the test alert was sent."""
    value: str
    """Value of the `alertagent.io/test-send` annotation that triggered it."""
    result: Literal["Succeeded", "Failed"]
    """Whether Alertmanager accepted the test alert; for a gateway channel, whether the robot
    accepted the test message."""
    code: int | None = None
    """For a gateway channel, the robot's own answer code (DingTalk/WeCom `errcode`, Feishu `code`;
    0 is success); unset when the robot gave none (unreachable)."""
    message: str | None = None
    """Details, for example the error; for a gateway channel, the robot's own message."""


class NotificationChannelStatus(Model):
    """Observed state of a NotificationChannel."""

    observed_generation: int | None = None
    """metadata.generation last processed."""
    conditions: list[Condition] | None = None
    """kstatus conditions; Ready is True when the receiver is valid and loaded by its clusters."""
    delivery: Delivery | None = None
    """Native: an Alertmanager receiver of this type. Gateway: a webhook to the AlertAgent gateway
    (spec.delivery as it takes effect)."""
    clusters: list[str] | None = None
    """AlertmanagerClusters (`namespace/name`) that include this channel."""
    last_test: LastTestResult | None = None
    """Result of the last test notification."""


class NotificationChannel(Resource):
    """A notification receiver (Slack, email, webhook, DingTalk, ...) and the route to it."""

    names = CrdNames(
        kind="NotificationChannel",
        plural="notificationchannels",
        short_names=("nc",),
        columns=(
            PrinterColumn("Type", ".spec.type", description="Receiver type"),
            PrinterColumn("Delivery", ".status.delivery", description="Native or Gateway"),
            PrinterColumn("Clusters", ".status.clusters", description="Clusters including it"),
            PrinterColumn("Last test", ".status.lastTest.result", description="Last test-send result"),
            READY_COLUMN,
            REASON_COLUMN,
            AGE_COLUMN,
        ),
    )

    kind: Literal["NotificationChannel"] = "NotificationChannel"
    """Kind is a string value representing the REST resource this object represents."""
    spec: NotificationChannelSpec
    """Desired receiver and route."""
    status: NotificationChannelStatus | None = None
    """Observed state, written by the operator."""
