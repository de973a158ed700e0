"""Golden alertmanager.yaml files, one small case each: per receiver type, per namespace isolation
mode, per maintenance window kind, the routing precedence (as prometheus-operator's testdata/*.golden).

To regenerate after an intended change, then review the diff of tests/unit/golden/alertmanager/:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_alertmanager_golden.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alertagent.api import AlertmanagerCluster, NotificationChannel, SuppressionPolicy
from alertagent.api.common import SecretKeyRef
from alertagent.render.alertmanager import RenderedAlertmanager, render_alertmanager
from alertagent.render.receivers import CONVERTERS, GATEWAY_TYPES

GOLDEN = Path(__file__).resolve().parent / "golden" / "alertmanager"
CLUSTER_NS, TEAM_NS = "monitoring", "team-a"
GATEWAY_URL = "http://alertagent-gateway.alertagent:8083"
SECRETS = {
    (TEAM_NS, "creds", "url"): "https://hooks.example.com/T0/B0/secret",
    (TEAM_NS, "creds", "token"): "token-value",
    (TEAM_NS, "creds", "password"): "smtp-password",
}


def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
    return SECRETS.get((namespace, ref.name, ref.key))


def secret(key: str) -> dict[str, str]:
    return {"name": "creds", "key": key}


def cluster(isolation: str = "OnNamespace") -> AlertmanagerCluster:
    spec = {"alertmanager": {"url": "http://am:9093", "version": "0.27.0"}, "namespaceIsolation": isolation}
    return AlertmanagerCluster.model_validate({"metadata": {"name": "main", "namespace": CLUSTER_NS}, "spec": spec})


def channel(name: str, spec: dict[str, Any], namespace: str = TEAM_NS) -> NotificationChannel:
    return NotificationChannel.model_validate({"metadata": {"name": name, "namespace": namespace}, "spec": spec})


def policy(name: str, spec: dict[str, Any]) -> SuppressionPolicy:
    return SuppressionPolicy.model_validate({"metadata": {"name": name, "namespace": TEAM_NS}, "spec": spec})


def matcher(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value}


# Every field of each type's block, so the golden file pins each Alertmanager field name.
RECEIVERS: dict[str, dict[str, Any]] = {
    "slack": {
        "apiUrl": secret("url"),
        "channel": "#alerts",
        "username": "alertmanager",
        "iconEmoji": ":fire:",
        "title": "{{ .CommonLabels.alertname }}",
        "text": "{{ .CommonAnnotations.summary }}",
        "color": "danger",
    },
    "email": {
        "to": "oncall@example.com",
        "from": "am@example.com",
        "smarthost": "smtp.example.com:587",
        "authUsername": "am",
        "authPassword": secret("password"),
        "requireTls": True,
        "headers": {"Subject": "{{ .CommonLabels.alertname }}"},
        "html": "<b>{{ .Status }}</b>",
        "text": "{{ .Status }}",
    },
    "webhook": {"urlSecret": secret("url"), "bearerToken": secret("token"), "maxAlerts": 10},
    "pagerduty": {
        "routingKey": secret("token"),
        "url": "https://events.pagerduty.com/v2/enqueue",
        "severity": "critical",
        "description": "{{ .CommonAnnotations.summary }}",
        "component": "api",
        "group": "shop",
        "class": "availability",
    },
    "opsgenie": {
        "apiKey": secret("token"),
        "apiUrl": "https://api.eu.opsgenie.com/",
        "message": "{{ .CommonLabels.alertname }}",
        "description": "{{ .CommonAnnotations.summary }}",
        "priority": "P2",
        "tags": "team-a,shop",
    },
    "msteams": {"webhookUrl": secret("url"), "title": "{{ .Status }}", "summary": "alerts", "text": "{{ .Status }}"},
    "telegram": {
        "botToken": secret("token"),
        "chatId": -1001234567890,
        "apiUrl": "https://api.telegram.org",
        "parseMode": "HTML",
        "message": "{{ .Status }}",
    },
    "wechat": {
        "apiSecret": secret("token"),
        "corpId": "corp",
        "agentId": "1000002",
        "toUser": "@all",
        "toParty": "2",
        "toTag": "3",
        "message": "{{ .Status }}",
        "messageType": "markdown",
    },
    "discord": {"webhookUrl": secret("url"), "title": "{{ .Status }}", "message": "{{ .Status }}"},
    "webex": {
        "botToken": secret("token"),
        "roomId": "room-1",
        "apiUrl": "https://webexapis.com/v1/messages",
        "message": "{{ .Status }}",
    },
}


@dataclass
class Case:
    cluster: AlertmanagerCluster
    channels: list[NotificationChannel]
    policies: list[SuppressionPolicy] = field(default_factory=list)
    gateway_url: str | None = None
    gateway_tokens: dict[str, str] = field(default_factory=dict)

    def render(self) -> RenderedAlertmanager:
        return render_alertmanager(
            self.cluster,
            self.channels,
            self.policies,
            resolve,
            gateway_url=self.gateway_url,
            gateway_tokens=self.gateway_tokens,
        )


def _receiver_case(kind: str) -> Callable[[], Case]:
    return lambda: Case(cluster(), [channel(kind, {"type": kind, kind: RECEIVERS[kind]})])


# The gateway types: every field of each block, the gateway from the cluster's spec.gateway.url.
GATEWAY_RECEIVERS: dict[str, dict[str, Any]] = {
    "dingtalk": {
        "webhookUrl": secret("url"),
        "signSecret": secret("token"),
        "atMobiles": ["13800000000"],
        "atUserIds": ["user-1"],
        "atAll": False,
        "messageType": "markdown",
        "language": "zh",
        "timeZone": "Asia/Shanghai",
        "maxAlerts": 20,
    },
    "wecom": {"webhookUrl": secret("url"), "mentionedList": ["@all"], "mentionedMobileList": ["13800000000"]},
    "feishu": {"webhookUrl": secret("url"), "signSecret": secret("token"), "messageType": "interactive"},
}


def _gateway_case(kind: str, version: str = "0.27.0") -> Callable[[], Case]:
    def build() -> Case:
        spec = {"alertmanager": {"url": "http://am:9093", "version": version}, "gateway": {"url": GATEWAY_URL}}
        amc = AlertmanagerCluster.model_validate({"metadata": {"name": "main", "namespace": CLUSTER_NS}, "spec": spec})
        ch = channel(kind, {"type": kind, kind: GATEWAY_RECEIVERS[kind], "sendResolved": kind != "wecom"})
        return Case(amc, [ch], gateway_tokens={f"{TEAM_NS}/{kind}": f"{kind}-bearer-token"})

    return build


def _isolation_case(isolation: str) -> Callable[[], Case]:
    def build() -> Case:
        route = {"matchers": [matcher("severity", "critical")]}
        rule = {
            "sourceMatchers": [matcher("alertname", "DatabaseDown")],
            "targetMatchers": [matcher("severity", "warning")],
            "equal": ["cluster"],
        }
        hooks = channel("hooks", {"type": "webhook", "webhook": {"url": "http://hooks.team-a:8080"}, "route": route})
        return Case(cluster(isolation), [hooks], [policy("database", {"inhibitRules": [rule]})])

    return build


def _window_case(window: dict[str, Any]) -> Callable[[], Case]:
    def build() -> Case:
        hooks = channel("hooks", {"type": "webhook", "webhook": {"url": "http://hooks.team-a:8080"}, "route": {}})
        spec = {"matchers": [matcher("service", "api")], "maintenanceWindows": [{"name": "upgrade", **window}]}
        return Case(cluster(), [hooks], [policy("maintenance", spec)])

    return build


def _precedence_case() -> Case:
    """Cluster-wide channels (exclusive first, then copies), then one group per namespace: "billing"
    sorts before the cluster's namespace and "team-a" after it, which changes nothing."""

    def hook(namespace: str, name: str, **route: Any) -> NotificationChannel:
        spec = {"type": "webhook", "webhook": {"url": f"http://{name}.{namespace}:8080"}, "route": route}
        return channel(name, spec, namespace)

    critical = [matcher("severity", "critical")]
    return Case(
        cluster(),
        [
            hook(TEAM_NS, "chat", **{"continue": True}),
            hook(TEAM_NS, "pager", matchers=critical, exclusive=True),
            hook("billing", "pager", matchers=critical),
            hook(CLUSTER_NS, "audit", matchers=critical),
            hook(CLUSTER_NS, "security", matchers=[matcher("team", "security")], exclusive=True),
        ],
    )


CASES: dict[str, Callable[[], Case]] = {
    **{f"receiver-{kind}": _receiver_case(kind) for kind in RECEIVERS},
    **{f"receiver-{kind}-gateway": _gateway_case(kind) for kind in GATEWAY_RECEIVERS},
    # Before Alertmanager 0.22 http_config has no `authorization`: the token is a `bearer_token`.
    "receiver-dingtalk-gateway-am-0.21": _gateway_case("dingtalk", "0.21.0"),
    "isolation-onnamespace": _isolation_case("OnNamespace"),
    "isolation-none": _isolation_case("None"),
    "window-recurring": _window_case(
        {"recurring": {"times": [{"startTime": "02:00", "endTime": "04:00"}], "weekdays": ["saturday", "sunday"]}}
    ),
    "routing-precedence": _precedence_case,
    "window-one-off": _window_case({"start": "2030-01-01T02:00:00Z", "end": "2030-01-01T04:00:00Z"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    rendered = CASES[name]().render()
    assert not rendered.problems and not rendered.placeholders, "every object of a case must render in full"
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered.text)
    assert path.exists(), f"{path} is missing (UPDATE_GOLDEN=1 to write it)"
    assert path.read_text() == rendered.text, f"differs from {path.name} (UPDATE_GOLDEN=1 to accept)"


def test_every_receiver_type_has_a_case() -> None:
    assert set(RECEIVERS) == set(CONVERTERS)
    assert {kind for kind in GATEWAY_TYPES if f"receiver-{kind}-gateway" in CASES} == GATEWAY_TYPES
