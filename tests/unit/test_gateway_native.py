"""Gateway delivery of Alertmanager's own types (`spec.delivery: Gateway`), pure: the spec's default and
rule, the rendered receivers (golden alertmanager.yaml), the channels-file entries and where the
credentials go (the channels Secret only), refusals with their status message, the message bodies
(golden Slack, Discord and Telegram requests; Alertmanager's payload forwarded as it arrived), the
destinations' answers classified, and the rate windows.

To regenerate the goldens after an intended change, then review the diff of tests/unit/golden/gateway_native/:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_gateway_native.py
"""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertagent.api import AlertmanagerCluster, NotificationChannel
from alertagent.api.common import SecretKeyRef
from alertagent.api.notificationchannel import delivery_of
from alertagent.common.identity import ObjectRef
from alertagent.gateway.delivery import windows_for
from alertagent.gateway.ratelimit import Window
from alertagent.incidents.track import Impact, Incident
from alertagent.plans.alertmanager import IndexedObject, plan_alertmanager_config
from alertagent.plans.gateway import CHANNELS_KEY, plan_gateway
from alertagent.plans.status import Memberships, member_status
from alertagent.render.alertmanager import render_alertmanager
from alertagent.render.robots.answers import LIMITS, classify
from alertagent.render.robots.formats import PART_BREAK, RobotRequest, render_notice, render_requests, sample_payload
from alertagent.render.robots.models import ChannelsFile, GatewayChannel, WebhookPayload
from alertagent.render.robots.native import limit_key

GOLDEN = Path(__file__).resolve().parent / "golden" / "gateway_native"
OWNER = {"name": "main", "namespace": "monitoring", "uid": "uid-1"}
NOW = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
SLACK_URL = "https://hooks.slack.com/services/T0/B0/slack-secret-path"
SECRETS = {
    ("team-a", "slack", "url"): SLACK_URL,
    ("team-a", "slack", "bot"): "xoxb-bot-secret",
    ("team-a", "hook", "token"): "hook-bearer-secret",
    ("team-a", "hook", "password"): "hook-password-secret",
    ("team-a", "hook", "url"): "https://hooks.example.com/in?key=url-secret",
    ("team-a", "discord", "url"): "https://discord.com/api/webhooks/1/discord-secret",
    ("team-a", "telegram", "token"): "123456:telegram-secret",
    ("monitoring", "global", "slack"): "https://hooks.slack.com/services/T0/B0/global",
}
CREDENTIALS = (
    "slack-secret-path",
    "xoxb-bot-secret",
    "hook-bearer-secret",
    "hook-password-secret",
    "url-secret",
    "discord-secret",
    "telegram-secret",
    base64.b64encode(b"alertagent:hook-password-secret").decode(),
)


def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
    return SECRETS.get((namespace, ref.name, ref.key))


def secret(name: str, key: str) -> dict[str, str]:
    return {"name": name, "key": key}


def cluster(gateway: bool = True, version: str = "0.27.0", **spec: Any) -> AlertmanagerCluster:
    body: dict[str, Any] = {"alertmanager": {"url": "http://am:9093", "version": version}, **spec}
    if gateway:
        body["gateway"] = {"url": "http://gw:8083"}
    return AlertmanagerCluster.model_validate({"metadata": {"name": "main", "namespace": "monitoring"}, "spec": body})


def channel(name: str, kind: str, block: dict[str, Any], **spec: Any) -> NotificationChannel:
    body = {"type": kind, kind: block, "route": {}, **spec}
    return NotificationChannel.model_validate({"metadata": {"name": name, "namespace": "team-a"}, "spec": body})


def gateway(name: str, kind: str, block: dict[str, Any], **spec: Any) -> NotificationChannel:
    return channel(name, kind, block, delivery="Gateway", **spec)


SLACK = {"apiUrl": secret("slack", "url"), "channel": "#alerts", "username": "alertagent", "iconEmoji": ":fire:"}
BOT = {"botToken": secret("slack", "bot"), "channel": "C0123456"}
WEBHOOK_BASIC = {
    "url": "https://hooks.example.com/alerts",
    "basicAuth": {"username": "alertagent", "password": secret("hook", "password")},
    "maxAlerts": 10,
}
WEBHOOK_BEARER = {"urlSecret": secret("hook", "url"), "bearerToken": secret("hook", "token")}
DISCORD = {"webhookUrl": secret("discord", "url")}
TELEGRAM = {"botToken": secret("telegram", "token"), "chatId": -1001234, "parseMode": "HTML"}


def gateway_channels() -> list[NotificationChannel]:
    return [
        gateway("slack", "slack", SLACK, gatewayMessage={"language": "zh", "timeZone": "Asia/Shanghai"}),
        gateway("slack-bot", "slack", BOT),
        gateway("hook-basic", "webhook", WEBHOOK_BASIC, sendResolved=False),
        gateway("hook-bearer", "webhook", WEBHOOK_BEARER),
        gateway("discord", "discord", DISCORD, gatewayMessage={"maxAlerts": 20}),
        gateway("telegram", "telegram", TELEGRAM),
    ]


def native_channels() -> list[NotificationChannel]:
    """The new block fields delivered natively: chat.postMessage and basic auth."""
    return [channel("slack-bot-native", "slack", BOT), channel("hook-basic-native", "webhook", WEBHOOK_BASIC)]


def plan_and_render(channels: list[NotificationChannel], amc: AlertmanagerCluster | None = None) -> tuple[Any, Any]:
    amc = amc or cluster()
    counter = iter(range(1, 100))
    plan = plan_gateway(amc, OWNER, channels, resolve, None, lambda: f"gateway-token-{next(counter)}")
    rendered = render_alertmanager(amc, channels, [], resolve, gateway_tokens=plan.tokens)
    return plan, rendered


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing (UPDATE_GOLDEN=1 to write it)"
    assert path.read_text() == text, f"differs from {path.name} (UPDATE_GOLDEN=1 to accept)"


# ----------------------------------------------------------------------------------------------------
# The spec


def test_delivery_defaults_to_gateway_for_the_robots_and_native_for_alertmanagers_types() -> None:
    assert [delivery_of(t, None) for t in ("dingtalk", "wecom", "feishu")] == ["Gateway"] * 3
    assert [delivery_of(t, None) for t in ("slack", "webhook", "email")] == ["Native"] * 3
    assert delivery_of("slack", "Gateway") == "Gateway" and delivery_of("dingtalk", "Gateway") == "Gateway"
    assert channel("s", "slack", SLACK).spec.delivery_mode() == "Native"
    assert gateway("s", "slack", SLACK).spec.delivery_mode() == "Gateway"
    wire = gateway("s", "slack", SLACK).to_wire()["spec"]
    assert wire["delivery"] == "Gateway" and "delivery" not in channel("s", "slack", SLACK).to_wire()["spec"]


# ----------------------------------------------------------------------------------------------------
# Receivers and the channels file


def test_golden_alertmanager_yaml_routes_gateway_channels_to_the_gateway() -> None:
    channels = [*gateway_channels(), *native_channels()]
    plan, rendered = plan_and_render(channels)
    assert not rendered.problems and not plan.problems
    check_golden("alertmanager.yaml", rendered.text)
    receivers = {r["name"]: r for r in rendered.config["receivers"]}
    for c in gateway_channels():
        key = ObjectRef.of(c).key
        assert list(receivers[key]) == ["name", "webhook_configs"]
        assert receivers[key]["webhook_configs"][0]["url"] == f"http://gw:8083/api/v1/alerts/webhook/{key}"
    assert receivers["team-a/hook-basic"]["webhook_configs"][0]["max_alerts"] == 10
    assert receivers["team-a/discord"]["webhook_configs"][0]["max_alerts"] == 20
    assert receivers["team-a/hook-basic"]["webhook_configs"][0]["send_resolved"] is False
    # Natively, a bot token posts to chat.postMessage and basic auth is http_config basic_auth.
    bot = receivers["team-a/slack-bot-native"]["slack_configs"][0]
    assert bot["api_url"] == "https://slack.com/api/chat.postMessage"
    assert bot["http_config"] == {"authorization": {"type": "Bearer", "credentials": "xoxb-bot-secret"}}
    basic = receivers["team-a/hook-basic-native"]["webhook_configs"][0]["http_config"]
    assert basic == {"basic_auth": {"username": "alertagent", "password": "hook-password-secret"}}


def test_channels_file_entries_hold_each_destination_and_its_credentials() -> None:
    plan, _ = plan_and_render(gateway_channels())
    entries = plan.file.channels
    assert sorted(entries) == sorted(ObjectRef.of(c).key for c in gateway_channels())
    slack = entries["team-a/slack"]
    assert (slack.type, slack.webhook_url, slack.authorization) == ("slack", SLACK_URL, None)
    assert slack.slack is not None and (slack.slack.channel, slack.slack.username, slack.slack.icon_emoji) == (
        "#alerts",
        "alertagent",
        ":fire:",
    )
    assert (slack.language, slack.time_zone, slack.token) == ("zh", "Asia/Shanghai", plan.tokens["team-a/slack"])
    bot = entries["team-a/slack-bot"]
    assert (bot.webhook_url, bot.authorization) == ("https://slack.com/api/chat.postMessage", "Bearer xoxb-bot-secret")
    basic = entries["team-a/hook-basic"]
    pair = base64.b64encode(b"alertagent:hook-password-secret").decode()
    assert (basic.webhook_url, basic.authorization) == ("https://hooks.example.com/alerts", f"Basic {pair}")
    bearer = entries["team-a/hook-bearer"]
    assert (bearer.webhook_url, bearer.authorization) == (
        SECRETS[("team-a", "hook", "url")],
        "Bearer hook-bearer-secret",
    )
    assert entries["team-a/discord"].webhook_url == SECRETS[("team-a", "discord", "url")]
    telegram = entries["team-a/telegram"]
    assert telegram.webhook_url == "https://api.telegram.org/bot123456:telegram-secret/sendMessage"
    assert telegram.telegram is not None and (telegram.telegram.chat_id, telegram.telegram.parse_mode) == (
        -1001234,
        "HTML",
    )
    assert "telegram-secret" not in json.dumps(telegram.redacted())


def test_credentials_go_to_the_channels_secret_only(caplog: pytest.LogCaptureFixture) -> None:
    """The Slack URL, bot token, webhook bearer token, basic password, Discord URL and Telegram token
    are in the gateway's channels Secret, never in alertmanager.yaml (Alertmanager posts to the
    gateway), a status, a problem message or a log line."""
    caplog.set_level(logging.DEBUG)
    channels = gateway_channels()
    plan, rendered = plan_and_render(channels)
    assert plan.secret is not None
    data = base64.b64decode(plan.secret["data"][CHANNELS_KEY]).decode()
    plain = [c for c in CREDENTIALS if c != "hook-password-secret" and c != CREDENTIALS[-1]]
    assert all(credential in data for credential in plain)
    assert f"Basic {CREDENTIALS[-1]}" in data  # the basic password inside its header value
    assert ChannelsFile.model_validate_json(data) == plan.file
    assert not [c for c in CREDENTIALS if c in rendered.text]
    config = plan_alertmanager_config(cluster(), OWNER, channels, [], rendered, None, None)
    memberships = Memberships()
    memberships.record("monitoring/main", config.members, {})
    statuses = [member_status(IndexedObject(ObjectRef.of(c), c, ()), c.to_wire(), memberships, NOW) for c in channels]
    assert all(s["delivery"] == "Gateway" and s["conditions"][0]["status"] == "True" for s in statuses)
    assert not [c for c in CREDENTIALS if c in json.dumps(statuses)]
    assert not [c for c in CREDENTIALS if c in caplog.text]


def test_a_secret_url_alertmanager_would_refuse_is_refused_without_quoting_it() -> None:
    SECRETS[("team-a", "broken", "url")] = "hooks.slack.com/services/no-scheme-secret"
    try:
        plan, rendered = plan_and_render([gateway("bad", "slack", {"apiUrl": secret("broken", "url")})])
    finally:
        del SECRETS[("team-a", "broken", "url")]
    ref = ObjectRef("NotificationChannel", "team-a", "bad")
    (problem,) = rendered.problems[ref]
    assert problem.startswith("slack.apiUrl from its Secret:") and "no-scheme-secret" not in problem
    assert "no-scheme-secret" not in plan.problems[ref] and plan.file.channels == {}


@pytest.mark.parametrize(
    ("kind", "block", "fragment"),
    [
        ("email", {"to": "oncall@example.com", "smarthost": "smtp:25", "from": "am@example.com"}, "type email"),
        ("pagerduty", {"routingKey": secret("hook", "token")}, "type pagerduty"),
        ("msteams", {"webhookUrl": secret("hook", "url")}, "type msteams"),
    ],
)
def test_a_type_the_gateway_does_not_deliver_is_refused_naming_spec_delivery_and_the_type(
    kind: str, block: dict[str, Any], fragment: str
) -> None:
    unsupported = gateway("unsupported", kind, block)
    plan, rendered = plan_and_render([unsupported, gateway("slack", "slack", SLACK)])
    ref = ObjectRef.of(unsupported)
    (problem,) = rendered.problems[ref]
    assert problem.startswith(f"spec.delivery: Gateway is not supported for {fragment} yet") and "Native" in problem
    assert "team-a/unsupported" not in {r["name"] for r in rendered.config["receivers"]}
    assert "team-a/unsupported" not in plan.file.channels and "team-a/slack" in plan.file.channels
    # The channel's status says why (never silently dropped).
    config = plan_alertmanager_config(cluster(), OWNER, [unsupported], [], rendered, None, None)
    memberships = Memberships()
    memberships.record("monitoring/main", config.members, {})
    status = member_status(IndexedObject(ref, unsupported, ()), unsupported.to_wire(), memberships, NOW)
    ready = status["conditions"][0]
    assert ready["status"] == "False" and "spec.delivery: Gateway is not supported for" in ready["message"]
    assert status["delivery"] == "Gateway"


@pytest.mark.parametrize(
    ("kind", "block", "spec", "fragment"),
    [
        ("slack", {**SLACK, "title": "{{ .Status }}", "color": "danger"}, {}, "slack.title, slack.color: Go templates"),
        ("slack", {"channel": "#alerts"}, {}, "slack.apiUrl: with spec.delivery Gateway set the channel's own"),
        ("discord", {**DISCORD, "message": "{{ .Status }}"}, {}, "discord.message: Go templates"),
        ("telegram", {**TELEGRAM, "parseMode": "Markdown"}, {}, "telegram.parseMode: the gateway sends HTML"),
        ("webhook", WEBHOOK_BASIC, {"gatewayMessage": {"template": "x"}}, "gatewayMessage.template: a webhook"),
    ],
)
def test_settings_the_gateway_cannot_honour_are_refused_not_ignored(
    kind: str, block: dict[str, Any], spec: dict[str, Any], fragment: str
) -> None:
    # The global slackApiUrl is Alertmanager's: a gateway-delivered channel needs its own.
    amc = cluster(**{"global": {"slackApiUrl": secret("global", "slack")}})
    refused = gateway("refused", kind, block, **spec)
    plan, rendered = plan_and_render([refused], amc)
    (problem,) = rendered.problems[ObjectRef.of(refused)]
    assert problem.startswith(fragment), problem
    assert plan.file.channels == {} and fragment in plan.problems[ObjectRef.of(refused)]


def test_without_a_gateway_or_with_an_old_alertmanager_the_channel_is_refused_alone() -> None:
    _, rendered = plan_and_render([gateway("slack", "slack", SLACK), channel("native", "slack", SLACK)], cluster(False))
    problems = {str(ref): why for ref, why in rendered.problems.items()}
    assert problems == {
        "NotificationChannel team-a/slack": [
            "spec.delivery Gateway: this channel is delivered by the AlertAgent gateway, which this cluster has "
            "none of (set spec.gateway.url of the AlertmanagerCluster)"
        ]
    }
    _, old = plan_and_render([gateway("hook", "webhook", WEBHOOK_BASIC)], cluster(version="0.20.0"))
    assert old.problems[ObjectRef("NotificationChannel", "team-a", "hook")] == [
        "webhook.maxAlerts: Alertmanager 0.20 has no webhook max_alerts"
    ]


def test_robot_entries_keep_their_shape() -> None:
    ding = channel("ding", "dingtalk", {"webhookUrl": secret("slack", "url")})
    plan, rendered = plan_and_render([ding])
    entry = plan.file.channels["team-a/ding"]
    assert (entry.type, entry.authorization, entry.slack, entry.telegram) == ("dingtalk", None, None, None)
    assert not rendered.problems


# ----------------------------------------------------------------------------------------------------
# Message bodies


def entry(kind: str, **fields: Any) -> GatewayChannel:
    urls = {
        "slack": SLACK_URL,
        "webhook": "https://hooks.example.com/alerts",
        "discord": "https://discord.com/api/webhooks/1/x",
        "telegram": "https://api.telegram.org/bot1:x/sendMessage",
    }
    base: dict[str, Any] = {"key": "team-a/oncall", "type": kind, "webhook_url": urls[kind], "token": "t"}
    return GatewayChannel.model_validate(base | fields)


def am_alert(name: str, status: str = "firing", severity: str = "critical", **annotations: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "service": "api"},
        "annotations": annotations,
        "startsAt": "2024-05-01T02:00:00.123456Z",
        "endsAt": "2024-05-01T02:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
        "fingerprint": "c0ffee",
    }


def am_payload(status: str = "firing", alerts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Alertmanager's webhook body exactly as notify/webhook marshals it."""
    alerts = alerts or [
        am_alert(
            "HighLatency",
            status,
            summary="p99 latency above 1s",
            runbook_url="https://runbooks.example.com/high-latency",
        )
    ]
    return {
        "receiver": "team-a/oncall",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "service": "api"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}/{team="a"}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
    }


def payload(status: str = "firing", alerts: list[dict[str, Any]] | None = None) -> WebhookPayload:
    return WebhookPayload.model_validate(am_payload(status, alerts))


SLACK_TARGET = {"channel": "#alerts", "username": "alertagent", "icon_emoji": ":fire:"}
GROUPED = [
    am_alert("HighLatency", summary="p99 latency above 1s"),
    am_alert("HighLatency", severity="warning", summary="p95 <b>above</b> 500ms & rising", dashboard="https://g/d/1"),
]
CASES: dict[str, tuple[GatewayChannel, WebhookPayload, bool]] = {
    "slack-firing-en": (entry("slack", slack=SLACK_TARGET), payload(alerts=GROUPED), False),
    "slack-resolved-zh": (entry("slack", language="zh", time_zone="Asia/Shanghai"), payload("resolved"), False),
    "slack-test-en": (entry("slack", slack={"channel": "C0123456"}), sample_payload(NOW), True),
    "discord-firing-en": (entry("discord"), payload(alerts=GROUPED), False),
    "telegram-plain-en": (entry("telegram", telegram={"chat_id": -100}), payload(), False),
    "telegram-html-en": (
        entry("telegram", telegram={"chat_id": 42, "parse_mode": "HTML"}),
        payload(alerts=GROUPED),
        False,
    ),
    "telegram-markdownv2-en": (
        entry("telegram", telegram={"chat_id": 42, "parse_mode": "MarkdownV2"}),
        payload(alerts=GROUPED),
        False,
    ),
}


def as_golden(requests: list[RobotRequest]) -> str:
    rows = [{"part": r.part, "parts": r.parts, "body": r.body} for r in requests]
    return json.dumps(rows, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_requests(case: str) -> None:
    chan, data, test = CASES[case]
    check_golden(f"{case}.json", as_golden(render_requests(chan, data, test=test)))


def test_slack_message_shape_colors_and_escaping() -> None:
    (firing,) = render_requests(entry("slack", slack=SLACK_TARGET), payload(alerts=GROUPED))
    body = firing.body
    assert {k: body[k] for k in ("channel", "username", "icon_emoji")} == SLACK_TARGET
    (attachment,) = body["attachments"]
    assert attachment["color"] == "danger" and attachment["mrkdwn_in"] == ["text"]
    assert attachment["title"] == attachment["fallback"] == "[FIRING:2] HighLatency"
    assert attachment["title_link"] == "http://alertmanager:9093/#/alerts?receiver=team-a%2Foncall"
    text = attachment["text"]
    assert "*HighLatency*" in text and "**" not in text and "###" not in text
    assert "p95 &lt;b&gt;above&lt;/b&gt; 500ms &amp; rising" in text  # Slack's control characters escaped
    assert "<http://prometheus:9090/graph?g0.expr=up&amp;g0.tab=1|Source>" in text
    (resolved,) = render_requests(entry("slack"), payload("resolved"))
    assert resolved.body["attachments"][0]["color"] == "good" and "channel" not in resolved.body
    warning = [am_alert("DiskFilling", severity="warning")]
    assert render_requests(entry("slack"), payload(alerts=warning))[0].body["attachments"][0]["color"] == "warning"
    (test,) = render_requests(entry("slack"), sample_payload(NOW), test=True)
    assert test.body["attachments"][0]["color"] == "#439FE0"


def test_telegram_and_discord_never_let_alert_text_inject_markup() -> None:
    evil = [am_alert("X", summary="*bold* _it_ [a](http://evil) <i>html</i> @everyone")]
    (html,) = render_requests(entry("telegram", telegram={"chat_id": 1, "parse_mode": "HTML"}), payload(alerts=evil))
    assert "&lt;i&gt;html&lt;/i&gt;" in html.body["text"] and "<b>X</b>" in html.body["text"]
    (md,) = render_requests(
        entry("telegram", telegram={"chat_id": 1, "parse_mode": "MarkdownV2"}), payload(alerts=evil)
    )
    assert r"\*bold\* \_it\_ \[a\]\(http://evil\)" in md.body["text"] and "*X*" in md.body["text"]
    (plain,) = render_requests(entry("telegram", telegram={"chat_id": 1}), payload(alerts=evil))
    assert "parse_mode" not in plain.body and "*bold* _it_" in plain.body["text"]
    (discord,) = render_requests(entry("discord"), payload(alerts=evil))
    assert discord.body["allowed_mentions"] == {"parse": []}  # @everyone in alert text pings nobody


def test_webhook_forwards_alertmanagers_payload_as_it_arrived() -> None:
    for status in ("firing", "resolved"):
        sent = am_payload(status, [*GROUPED, am_alert("Gone", "resolved")] if status == "resolved" else None)
        (request,) = render_requests(entry("webhook"), WebhookPayload.model_validate(sent))
        assert request.body == sent and (request.part, request.parts) == (1, 1)
        assert json.loads(request.encoded()) == sent
    # Go's nanoseconds: Python keeps microseconds.
    nanos = am_payload()
    nanos["alerts"][0]["startsAt"] = "2024-05-01T02:00:00.123456789Z"
    (request,) = render_requests(entry("webhook"), WebhookPayload.model_validate(nanos))
    assert request.body["alerts"][0]["startsAt"] == "2024-05-01T02:00:00.123456Z"


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.sampled_from(["slack", "discord", "telegram"]))
def test_long_messages_are_split_into_numbered_parts_within_the_limit(count: int, kind: str) -> None:
    alerts = [am_alert(f"Alert{i:03d}", summary="x" * 400) for i in range(count)]
    fields: dict[str, Any] = {"telegram": {"chat_id": 1}} if kind == "telegram" else {}
    requests = render_requests(entry(kind, **fields), payload(alerts=alerts))
    texts = [
        r.body["attachments"][0]["text"]
        if kind == "slack"
        else r.body["embeds"][0]["description"]
        if kind == "discord"
        else r.body["text"]
        for r in requests
    ]
    assert all(len(t) <= LIMITS[kind].max_bytes for t in texts)
    assert [(r.part, r.parts) for r in requests] == [(i, len(requests)) for i in range(1, len(requests) + 1)]
    joined = "".join(texts)
    assert all(f"Alert{i:03d}" in joined for i in range(count)) and PART_BREAK not in joined
    if len(requests) > 1:
        assert texts[0].startswith(f"(1/{len(requests)})")


def test_incidents_reach_slack_and_discord_and_a_webhook_gets_only_alertmanagers_payloads() -> None:
    cascade = Incident(
        name="postgres-1a2b3c4d",
        root="data/postgres",
        root_alerts=("DatabaseDown",),
        root_fingerprints=frozenset({"c0ffee"}),
        impacted=(Impact("shop/api", 1, 2, 2, "data/postgres"), Impact("shop/web", 2, 1, 1, "shop/api")),
        alerts=4,
        suppressed=3,
        fingerprints=frozenset({"c0ffee"}),
        severity="critical",
        state="Firing",
        started=NOW.timestamp(),
    )
    (root,) = render_requests(entry("slack"), payload(), incidents=[cascade])
    text = root.body["attachments"][0]["text"]
    assert "*data/postgres*" in text and "shop/web" in text and text.index("postgres") < text.index("HighLatency")
    (update,) = render_notice(entry("slack"), "update", cascade, previous=2)
    assert update.body["attachments"][0]["color"] == "danger" and "shop/web" in update.body["attachments"][0]["text"]
    (discord,) = render_notice(entry("discord"), "update", cascade, previous=2)
    assert (
        discord.body["embeds"][0]["color"] == 0xE74C3C
        and "**data/postgres**" in discord.body["embeds"][0]["description"]
    )
    # A webhook channel gets Alertmanager's payloads, unchanged, and none of the gateway's own messages.
    (forwarded,) = render_requests(entry("webhook"), payload(), incidents=[cascade])
    assert forwarded.body == am_payload()
    assert render_notice(entry("webhook"), "update", cascade) == []


# ----------------------------------------------------------------------------------------------------
# Answers and rates


@pytest.mark.parametrize(
    ("kind", "status", "body", "expected"),
    [
        ("slack", 200, "ok", "ok"),
        ("slack", 200, '{"ok": true, "channel": "C1", "ts": "1.2"}', "ok"),
        ("slack", 200, '{"ok": false, "error": "channel_not_found"}', "config_error"),
        ("slack", 200, '{"ok": false, "error": "invalid_auth"}', "config_error"),
        ("slack", 200, '{"ok": false, "error": "msg_too_long"}', "rejected"),
        ("slack", 429, '{"ok": false, "error": "ratelimited"}', "rate_limited"),
        ("slack", 400, "invalid_payload", "rejected"),
        ("slack", 400, "no_text", "rejected"),
        ("slack", 400, "user_not_found", "config_error"),
        ("slack", 403, "action_prohibited", "config_error"),
        ("slack", 403, "invalid_token", "config_error"),
        ("slack", 404, "no_service", "config_error"),
        ("slack", 404, "channel_not_found", "config_error"),
        ("slack", 410, "channel_is_archived", "config_error"),
        ("slack", 429, "rate_limited", "rate_limited"),
        ("slack", 500, "rollup_error", "retry"),
        ("slack", 0, "", "retry"),
        ("webhook", 200, "", "ok"),
        ("webhook", 204, "", "ok"),
        ("webhook", 400, "bad payload", "rejected"),
        ("webhook", 401, "unauthorized", "config_error"),
        ("webhook", 404, "", "config_error"),
        ("webhook", 429, "", "rate_limited"),
        ("webhook", 503, "", "retry"),
        ("discord", 204, "", "ok"),
        ("discord", 400, '{"code": 50006, "message": "Cannot send an empty message"}', "rejected"),
        ("discord", 404, '{"code": 10015, "message": "Unknown Webhook"}', "config_error"),
        ("discord", 429, '{"retry_after": 1.5, "global": false}', "rate_limited"),
        ("telegram", 200, '{"ok": true, "result": {}}', "ok"),
        (
            "telegram",
            400,
            '{"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}',
            "config_error",
        ),
        (
            "telegram",
            400,
            '{"ok": false, "error_code": 400, "description": "Bad Request: can\'t parse entities: x"}',
            "rejected",
        ),
        ("telegram", 401, '{"ok": false, "error_code": 401, "description": "Unauthorized"}', "config_error"),
        ("telegram", 429, '{"ok": false, "error_code": 429, "parameters": {"retry_after": 3}}', "rate_limited"),
        ("telegram", 502, "<html>bad gateway</html>", "retry"),
    ],
)
def test_answers_are_classified_as_each_destination_documents_them(
    kind: str, status: int, body: str, expected: str
) -> None:
    answer = classify(kind, status, body)
    assert answer.kind == expected, answer
    if expected != "ok" and status:
        assert answer.message.startswith(f"HTTP {status}"), answer.message  # what the status reports


def test_answer_messages_never_quote_urls_or_tokens() -> None:
    answer = classify("webhook", 400, "bad request to https://hooks.example.com/in?key=url-secret token=abc")
    assert "url-secret" not in answer.message and "abc" not in answer.message


def test_slack_and_telegram_limits_are_per_channel_or_chat_the_robots_per_url() -> None:
    bot = "https://slack.com/api/chat.postMessage"
    keys = {
        limit_key(entry("slack", webhook_url=bot, slack={"channel": "C1"})),
        limit_key(entry("slack", webhook_url=bot, slack={"channel": "C2"})),
        limit_key(entry("telegram", telegram={"chat_id": 1})),
        limit_key(entry("telegram", telegram={"chat_id": 2})),
    }
    assert len(keys) == 4
    assert limit_key(entry("webhook")) == "https://hooks.example.com/alerts"
    ding = GatewayChannel(key="a/b", type="dingtalk", webhook_url="https://oapi.dingtalk.com/robot/send?x", token="t")
    assert limit_key(ding) == ding.webhook_url


def test_rate_windows_per_type() -> None:
    assert windows_for("slack") == (Window(60, 60.0), Window(1, 1.0))  # ~1 message a second per channel
    assert windows_for("webhook") == ()  # no limit: retries only
    assert windows_for("discord") == (Window(30, 60.0), Window(2, 1.0))
    assert windows_for("telegram") == (Window(20, 60.0), Window(1, 1.0))
