"""Shared test data: valid examples and invalid objects with the field and reason they must be
rejected for. The unit tests check the pydantic models reject each invalid object; the integration
tests check the real API server does, naming the field."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alertagent.api.common import Resource
from alertagent.api.crd import RESOURCES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "basic"
KINDS: dict[str, type[Resource]] = {r.names.kind: r for r in RESOURCES}
WRITTEN_BY_ALERTAGENT = ("Incident",)  # no example for users to apply
USER_KINDS = {kind: r for kind, r in KINDS.items() if kind not in WRITTEN_BY_ALERTAGENT}


def example(kind: str) -> dict[str, Any]:
    """The example object of `kind` from examples/basic (a fresh copy)."""
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                return copy.deepcopy(doc)
    raise KeyError(kind)


@dataclass(frozen=True)
class Invalid:
    id: str
    kind: str
    spec: dict[str, Any]
    field: str  # the field path the API server must name
    reason: str  # a fragment of the API server's message

    def manifest(self, name: str | None = None) -> dict[str, Any]:
        return {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": self.kind,
            "metadata": {"name": name or self.id},
            "spec": self.spec,
        }


def _rule_spec(**rule: Any) -> dict[str, Any]:
    return {"groups": [{"name": "g", "rules": [rule]}]}


_AMC = {"alertmanager": {"url": "http://am:9093"}}
_SLACK = {"apiUrl": {"name": "s", "key": "k"}}

INVALID: tuple[Invalid, ...] = (
    Invalid(
        "rule-alert-and-record",
        "AlertRule",
        _rule_spec(alert="A", record="a:b", expr="up"),
        "spec.groups[0].rules[0]",
        "exactly one of alert or record must be set",
    ),
    Invalid(
        "rule-neither-alert-nor-record",
        "AlertRule",
        _rule_spec(expr="up"),
        "spec.groups[0].rules[0]",
        "exactly one of alert or record must be set",
    ),
    Invalid(
        "rule-missing-expr",
        "AlertRule",
        _rule_spec(alert="A"),
        "spec.groups[0].rules[0].expr",
        "Required value",
    ),
    Invalid(
        "rule-bad-duration",
        "AlertRule",
        _rule_spec(alert="A", expr="up", **{"for": "5 minutes"}),
        "spec.groups[0].rules[0].for",
        "should match",
    ),
    Invalid("rule-no-groups", "AlertRule", {"groups": []}, "spec.groups", "should have at least 1 items"),
    Invalid(
        "rule-duplicate-group",
        "AlertRule",
        {
            "groups": [
                {"name": "g", "rules": [{"alert": "A", "expr": "up"}]},
                {"name": "g", "rules": [{"alert": "B", "expr": "up"}]},
            ]
        },
        "spec.groups[1]",
        "Duplicate value",
    ),
    Invalid(
        "rule-record-with-for",
        "AlertRule",
        _rule_spec(record="a:b", expr="up", **{"for": "5m"}),
        "spec.groups[0].rules[0]",
        "a recording rule cannot have for",
    ),
    Invalid(
        "rule-bad-record-name",
        "AlertRule",
        _rule_spec(record="not a metric", expr="up"),
        "spec.groups[0].rules[0].record",
        "should match",
    ),
    Invalid(
        "rule-targets-and-selector",
        "AlertRule",
        {**_rule_spec(alert="A", expr="up"), "targets": ["main"], "clusterSelector": {}},
        "spec",
        "set targets or clusterSelector, not both",
    ),
    Invalid(
        "nc-type-block-mismatch",
        "NotificationChannel",
        {"type": "slack", "webhook": {"url": "http://x"}},
        "spec.slack",
        "type slack requires the slack block",
    ),
    Invalid(
        "nc-two-blocks",
        "NotificationChannel",
        {"type": "slack", "slack": _SLACK, "webhook": {"url": "http://x"}},
        "spec",
        "exactly one receiver block must be set",
    ),
    Invalid(
        "nc-unknown-type",
        "NotificationChannel",
        {"type": "sms", "webhook": {"url": "http://x"}},
        "spec.type",
        "Unsupported value",
    ),
    Invalid(
        "nc-webhook-url-and-secret",
        "NotificationChannel",
        {"type": "webhook", "webhook": {"url": "http://x", "urlSecret": {"name": "s", "key": "k"}}},
        "spec.webhook",
        "set exactly one of url or urlSecret",
    ),
    Invalid(
        "nc-telegram-chat-id-zero",
        "NotificationChannel",
        {"type": "telegram", "telegram": {"botToken": {"name": "s", "key": "k"}, "chatId": 0}},
        "spec.telegram.chatId",
        "missing chat_id on telegram_config",  # Alertmanager TelegramConfig.UnmarshalYAML
    ),
    Invalid(
        "nc-webex-empty-room",
        "NotificationChannel",
        {"type": "webex", "webex": {"botToken": {"name": "s", "key": "k"}, "roomId": ""}},
        "spec.webex.roomId",
        "missing room_id on webex_config",  # Alertmanager WebexConfig.UnmarshalYAML
    ),
    Invalid(
        "nc-webhook-url-scheme",
        "NotificationChannel",
        {"type": "webhook", "webhook": {"url": "ftp://hooks.example.com"}},
        "spec.webhook.url",
        "should match",
    ),
    Invalid(
        "nc-email-smarthost-without-port",
        "NotificationChannel",
        {"type": "email", "email": {"to": "oncall@example.com", "smarthost": "smtp.example.com"}},
        "spec.email.smarthost",
        "should match",
    ),
    Invalid(
        "nc-bad-matcher-op",
        "NotificationChannel",
        {
            "type": "slack",
            "slack": _SLACK,
            "route": {"matchers": [{"name": "a", "matchType": "==", "value": "b"}]},
        },
        "spec.route.matchers[0].matchType",
        "Unsupported value",
    ),
    Invalid(
        "nc-bad-label-name",
        "NotificationChannel",
        {"type": "slack", "slack": _SLACK, "route": {"matchers": [{"name": "bad-label", "value": "b"}]}},
        "spec.route.matchers[0].name",
        "should match",
    ),
    Invalid(
        "nc-robot-delivery-native",
        "NotificationChannel",
        {"type": "dingtalk", "delivery": "Native", "dingtalk": {"webhookUrl": {"name": "s", "key": "k"}}},
        "spec.delivery",
        "Native is not possible for types dingtalk, wecom and feishu",
    ),
    Invalid(
        "nc-gateway-message-native",
        "NotificationChannel",
        {"type": "slack", "slack": _SLACK, "gatewayMessage": {"language": "zh"}},
        "spec.gatewayMessage",
        "gatewayMessage needs delivery Gateway",
    ),
    Invalid(
        "nc-webhook-two-authorizations",
        "NotificationChannel",
        {
            "type": "webhook",
            "webhook": {
                "url": "http://x",
                "bearerToken": {"name": "s", "key": "k"},
                "basicAuth": {"username": "u", "password": {"name": "s", "key": "p"}},
            },
        },
        "spec.webhook",
        "at most one of basicAuth and bearerToken must be configured",
    ),
    Invalid(
        "nc-slack-bot-token-without-channel",
        "NotificationChannel",
        {"type": "slack", "slack": {"botToken": {"name": "s", "key": "k"}}},
        "spec.slack.channel",
        "botToken (chat.postMessage) needs the channel to post to",
    ),
    Invalid(
        "sp-end-before-start",
        "SuppressionPolicy",
        {"maintenanceWindows": [{"name": "w", "start": "2026-12-01T03:00:00Z", "end": "2026-12-01T01:00:00Z"}]},
        "spec.maintenanceWindows[0].end",
        "end must be after start",
    ),
    Invalid(
        "sp-recurring-and-oneoff",
        "SuppressionPolicy",
        {
            "maintenanceWindows": [
                {
                    "name": "w",
                    "recurring": {"weekdays": ["monday"]},
                    "start": "2026-12-01T01:00:00Z",
                    "end": "2026-12-01T03:00:00Z",
                }
            ]
        },
        "spec.maintenanceWindows[0]",
        "set either recurring, or start and end",
    ),
    Invalid(
        "sp-start-without-end",
        "SuppressionPolicy",
        {"maintenanceWindows": [{"name": "w", "start": "2026-12-01T01:00:00Z"}]},
        "spec.maintenanceWindows[0]",
        "a one-off window needs both start and end",
    ),
    Invalid(
        "sp-time-range-reversed",
        "SuppressionPolicy",
        {"maintenanceWindows": [{"name": "w", "recurring": {"times": [{"startTime": "18:00", "endTime": "09:00"}]}}]},
        "spec.maintenanceWindows[0].recurring.times[0]",
        "start time cannot be equal or greater than end time",  # Alertmanager timeinterval.go
    ),
    Invalid(
        "sp-time-after-midnight",
        "SuppressionPolicy",
        {"maintenanceWindows": [{"name": "w", "recurring": {"times": [{"startTime": "23:00", "endTime": "24:30"}]}}]},
        "spec.maintenanceWindows[0].recurring.times[0].endTime",
        "should match",  # Alertmanager's validTime: 00:00 to 23:59, or 24:00
    ),
    Invalid(
        "sp-weekday-not-a-name",
        "SuppressionPolicy",
        {"maintenanceWindows": [{"name": "w", "recurring": {"weekdays": ["mon-fri"]}}]},
        "spec.maintenanceWindows[0].recurring.weekdays[0]",
        "should match",
    ),
    Invalid(
        "sp-day-of-month-not-a-number",
        "SuppressionPolicy",
        {"maintenanceWindows": [{"name": "w", "recurring": {"daysOfMonth": ["last"]}}]},
        "spec.maintenanceWindows[0].recurring.daysOfMonth[0]",
        "should match",
    ),
    Invalid(
        "sp-max-depth-zero",
        "SuppressionPolicy",
        {
            "dependencySuppression": {
                "sourceMatchers": [{"name": "severity", "value": "critical"}],
                "maxDepth": 0,
            }
        },
        "spec.dependencySuppression.maxDepth",
        "should be greater than or equal to 1",
    ),
    Invalid(
        "amc-missing-url",
        "AlertmanagerCluster",
        {"alertmanager": {}},
        "spec.alertmanager.url",
        "Required value",
    ),
    Invalid(
        "amc-unknown-evaluator-type",
        "AlertmanagerCluster",
        {**_AMC, "ruleEvaluators": [{"name": "t", "type": "thanos", "url": "http://t:10902"}]},
        "spec.ruleEvaluators[0].type",
        "Unsupported value",
    ),
    Invalid(
        "amc-duplicate-evaluator",
        "AlertmanagerCluster",
        {
            **_AMC,
            "ruleEvaluators": [
                {"name": "p", "type": "prometheus", "url": "http://p:9090"},
                {"name": "p", "type": "vmalert", "url": "http://v:8880"},
            ],
        },
        "spec.ruleEvaluators[1]",
        "Duplicate value",
    ),
    Invalid(
        "amc-bad-isolation",
        "AlertmanagerCluster",
        {**_AMC, "namespaceIsolation": "Strict"},
        "spec.namespaceIsolation",
        "Unsupported value",
    ),
)
