"""What the gateway receives and what it knows of each channel (pure pydantic models).

- `WebhookPayload`: Alertmanager's webhook body, version 4 (notify/webhook/webhook.go, `Message`;
  template/template.go, `Data` and `Alert`), as it POSTs it to `/api/v1/alerts/webhook/<ns>/<name>`.
- `GatewayChannel`: one dingtalk, wecom or feishu NotificationChannel with its Secrets resolved, as the
  operator writes it into the channels file (`ChannelsFile`, a JSON document in a Secret the gateway
  mounts or watches). The gateway never reads tenants' Secrets: everything it needs is here."""

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


class GatewayChannel(_Wire):
    """One gateway channel with its credentials resolved (never logged: see `redacted`)."""

    key: str  # "<namespace>/<name>"
    type: Literal["dingtalk", "wecom", "feishu"]
    webhook_url: str  # the robot's URL, with its access token or key
    sign_secret: str | None = None  # DingTalk `SEC...` or Feishu signing secret
    token: str  # the bearer token Alertmanager sends for this channel (checked by the gateway)
    message_type: str = "markdown"  # dingtalk/wecom: markdown | text; feishu: interactive | text
    mentions: Mentions = Mentions()
    language: Literal["zh", "en"] = "en"
    time_zone: str = "UTC"  # IANA name; times in messages are shown in it
    template: str | None = None  # Jinja2 template overriding the default body text
    alertmanager_url: str = ""  # a link to Alertmanager in messages (its externalURL when empty)

    def redacted(self) -> dict[str, object]:
        """For logs and errors: no URL, token or secret."""
        return {"key": self.key, "type": self.type, "message_type": self.message_type}


class ChannelsFile(_Wire):
    """The channels file: every gateway channel of one AlertmanagerCluster, by key."""

    cluster: str  # "<namespace>/<name>"
    channels: dict[str, GatewayChannel]
