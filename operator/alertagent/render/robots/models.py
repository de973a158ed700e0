"""What the gateway receives and what it knows of each channel (pure pydantic models).

- `WebhookPayload`: Alertmanager's webhook body, version 4 (notify/webhook/webhook.go, `Message`;
  template/template.go, `Data` and `Alert`), as it POSTs it to `/api/v1/alerts/webhook/<ns>/<name>`.
- `GatewayChannel`: one gateway-delivered NotificationChannel (dingtalk, wecom, feishu, or another type
  with `spec.delivery: Gateway`) with its Secrets resolved, as the operator writes it into the
  channels file (`ChannelsFile`, a JSON document in a Secret the gateway mounts or watches). The
  gateway never reads tenants' Secrets: everything it needs is here."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Alert(_Wire):
    """One alert of a webhook payload."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")  # 0001-01-01 while firing
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class WebhookPayload(_Wire):
    """Alertmanager's webhook body (version "4"); `truncated_alerts` counts alerts cut by max_alerts."""

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)


class Mentions(_Wire):
    """Who a message mentions, in the terms of the channel's robot."""

    mobiles: list[str] = []  # DingTalk atMobiles, WeCom mentioned_mobile_list
    user_ids: list[str] = []  # DingTalk atUserIds, WeCom mentioned_list / <@userid>
    all: bool = False  # DingTalk isAtAll, WeCom "@all"


class SlackTarget(_Wire):
    """Where and as whom a Slack message is posted (Slack's own fields; unset: the webhook's defaults)."""

    channel: str | None = None  # "#alerts", a channel id or "@user"; chat.postMessage requires it
    username: str | None = None
    icon_emoji: str | None = None


class TelegramTarget(_Wire):
    """The chat a Telegram message goes to, and how Telegram parses its text (None: plain text)."""

    chat_id: int
    parse_mode: Literal["MarkdownV2", "HTML"] | None = None


class GatewayChannel(_Wire):
    """One gateway channel with its credentials resolved (never logged: see `redacted`)."""

    key: str  # "<namespace>/<name>"
    # dingtalk, wecom, feishu: robots; the others are Alertmanager's types with spec.delivery Gateway.
    type: Literal["dingtalk", "wecom", "feishu", "slack", "webhook", "msteams", "discord", "telegram"]
    # Where requests go, its token included: the robot's URL (access token or key); Slack's incoming
    # webhook or chat.postMessage URL; the webhook's URL; the Teams or Discord webhook URL; Telegram's
    # `<api>/bot<token>/sendMessage`.
    webhook_url: str
    sign_secret: str | None = None  # DingTalk `SEC...` or Feishu signing secret
    token: str  # the bearer token Alertmanager sends for this channel (checked by the gateway)
    message_type: str = "markdown"  # dingtalk/wecom: markdown | text; feishu: interactive | text
    mentions: Mentions = Mentions()
    language: Literal["zh", "en"] = "en"
    time_zone: str = "UTC"  # IANA name; times in messages are shown in it
    template: str | None = None  # Jinja2 template overriding the default body text
    alertmanager_url: str = ""  # a link to Alertmanager in messages (its externalURL when empty)
    authorization: str | None = None  # Authorization header value: webhook Bearer/Basic, Slack bot token
    slack: SlackTarget | None = None  # type slack
    telegram: TelegramTarget | None = None  # type telegram

    def redacted(self) -> dict[str, object]:
        """For logs and errors: no URL, token or secret."""
        return {"key": self.key, "type": self.type, "message_type": self.message_type}


class LlmSettings(_Wire):
    """An incident analysis LLM provider as the gateway uses it (AlertmanagerCluster
    `spec.incidents.analysis.llm`, its key resolved; seconds)."""

    type: Literal["OpenAI", "Dify", "N8n"]
    url: str
    model: str = ""
    dify_mode: Literal["Chat", "Workflow"] = "Chat"
    api_key: str | None = Field(default=None, repr=False)  # from the cluster's Secret; never logged
    auth_header: str = "Authorization"
    temperature: float = 0.2
    max_tokens: int = 20000
    timeout: float = 60.0
    max_steps: int = 6
    anonymize: bool = False
    problem: str = ""  # why it cannot run (its Secret is missing): the analysis says so


class AnalysisSettings(_Wire):
    """Incident analysis (AlertmanagerCluster `spec.incidents.analysis`; seconds)."""

    builtin: bool = True
    lookback: float = 3600.0
    rollout_window: float = 1800.0
    llm: LlmSettings | None = None
    max_per_hour: int = 20
    max_tokens_per_day: int = 500000
    evaluators: list[str] = []  # the cluster's evaluator URLs, for PromQL when an alert's generatorURL has none


class IncidentSettings(_Wire):
    """The incident engine of one cluster, as the gateway runs it (AlertmanagerCluster
    `spec.incidents`, durations in seconds)."""

    alertmanager_url: str  # the cluster's Alertmanager (API v2 is read from it)
    window: float = 300.0  # alerts of connected services starting within this are one incident
    hold: float = 30.0  # the first incident notification waits this long after the start
    update_interval: float = 300.0  # at most one update per this while an incident grows
    poll_interval: float = 10.0  # Alertmanager's alerts are read this often
    retention: float = 7 * 86400.0  # resolved Incidents are deleted this long after they resolved
    service_label: str = "service"  # alert label naming the service
    namespace_label: str = "namespace"  # alert label naming its namespace
    namespaces: list[str] | None = None  # the namespaces the cluster selects (None: all): Incidents go there
    graph_namespace: str  # the operator's namespace: ConfigMap alertagent-service-graph
    analysis: AnalysisSettings | None = None  # None: no analysis (files written before it have none)


class ChannelsFile(_Wire):
    """The channels file: every gateway channel of one AlertmanagerCluster, by key, and its incident
    engine's settings (absent: no incident engine for it; files written before it have none)."""

    cluster: str  # "<namespace>/<name>"
    channels: dict[str, GatewayChannel]
    incidents: IncidentSettings | None = None
