"""Robot message formats (render/robots/formats.py): golden requests per robot type and state, mentions,
templates, signing against independently computed vectors, and splitting properties.

To regenerate the goldens after an intended change, then review the diff of tests/unit/golden/robots/:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_robot_formats.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertagent.render.robots.answers import LIMITS
from alertagent.render.robots.formats import (
    PART_BREAK,
    RobotRequest,
    json_cost,
    render_requests,
    sample_payload,
    sign,
    split_text,
    utf8_cost,
)
from alertagent.render.robots.models import GatewayChannel, WebhookPayload

GOLDEN = Path(__file__).resolve().parent / "golden" / "robots"
URLS = {
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=dt-token",
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wc-key",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/fs-hook",
}
NOW = datetime(2024, 5, 1, 10, 0, 0, 123_000, tzinfo=UTC)


def channel(kind: str, **fields: Any) -> GatewayChannel:
    base: dict[str, Any] = {"key": "team-a/oncall", "type": kind, "webhook_url": URLS[kind], "token": "bearer"}
    if kind == "feishu":
        base["message_type"] = "interactive"
    return GatewayChannel.model_validate(base | fields)


def alert(name: str, status: str = "firing", severity: str = "critical", **annotations: str) -> dict[str, Any]:
    resolved = status == "resolved"
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "service": "api"},
        "annotations": annotations,
        "startsAt": "2024-05-01T02:00:00Z",
        "endsAt": "2024-05-01T02:30:00Z" if resolved else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": "c0ffee",
    }


def payload(status: str = "firing", alerts: list[dict[str, Any]] | None = None, **extra: Any) -> WebhookPayload:
    alerts = alerts or [
        alert(
            "HighLatency",
            status,
            summary="p99 latency above 1s",
            description="p99 of api is 2.3s",
            runbook_url="https://runbooks.example.com/high-latency",
        )
    ]
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "status": status,
        "receiver": "team-a/oncall",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency"},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
    return WebhookPayload.model_validate(body | extra)


MENTIONS = {"mobiles": ["13800000000"], "user_ids": ["alice"]}
GROUPED = [
    alert("HighLatency", summary="p99 latency above 1s", runbook_url="https://runbooks.example.com/high-latency"),
    alert("HighLatency", severity="warning", summary="p95 latency above 500ms", dashboard="https://grafana/d/1"),
]
CASES: dict[str, tuple[GatewayChannel, WebhookPayload]] = {
    "dingtalk-firing-en": (channel("dingtalk", mentions=MENTIONS, time_zone="Asia/Shanghai"), payload()),
    "dingtalk-firing-zh": (channel("dingtalk", mentions=MENTIONS, language="zh", time_zone="Asia/Shanghai"), payload()),
    "dingtalk-resolved-en": (channel("dingtalk"), payload("resolved")),
    "dingtalk-resolved-zh": (channel("dingtalk", language="zh"), payload("resolved")),
    "dingtalk-text-grouped-en": (
        channel("dingtalk", message_type="text", mentions={"all": True}),
        payload(alerts=GROUPED, truncatedAlerts=3),
    ),
    "wecom-firing-en": (channel("wecom", mentions=MENTIONS | {"all": True}), payload()),
    "wecom-firing-zh": (channel("wecom", mentions={"user_ids": ["alice"]}, language="zh"), payload()),
    "wecom-resolved-en": (channel("wecom"), payload("resolved")),
    "wecom-text-en": (channel("wecom", message_type="text", mentions=MENTIONS), payload()),
    "feishu-firing-en": (channel("feishu", mentions={"user_ids": ["ou_123"], "all": True}), payload()),
    "feishu-firing-zh": (channel("feishu", language="zh", time_zone="Asia/Shanghai"), payload(alerts=GROUPED)),
    "feishu-resolved-en": (channel("feishu"), payload("resolved")),
    "feishu-text-zh": (channel("feishu", message_type="text", language="zh"), payload("resolved")),
    "feishu-test-en": (channel("feishu"), sample_payload(NOW)),
}


def as_golden(requests: list[RobotRequest]) -> str:
    rows = [{"part": r.part, "parts": r.parts, "body": r.body} for r in requests]
    return json.dumps(rows, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_requests(case: str) -> None:
    chan, data = CASES[case]
    rendered = as_golden(render_requests(chan, data, test=case.endswith("-test-en")))
    path = GOLDEN / f"{case}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing (UPDATE_GOLDEN=1 to write it)"
    assert path.read_text() == rendered, f"differs from {path.name} (UPDATE_GOLDEN=1 to accept)"


def text_of(request: RobotRequest) -> str:
    body = request.body
    if "card" in body:
        return str(body["card"]["elements"][0]["content"])
    if body.get("msg_type") == "text":
        return str(body["content"]["text"])
    inner = body[body["msgtype"]]
    return str(inner.get("text", inner.get("content")))


# ---------------------------------------------------------------------------------------------- content


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu"])
def test_firing_and_resolved_are_styled_apart(kind: str) -> None:
    firing = json.dumps(render_requests(channel(kind), payload())[0].body, ensure_ascii=False)
    resolved = json.dumps(render_requests(channel(kind), payload("resolved"))[0].body, ensure_ascii=False)
    assert "FIRING" in firing and "🔴" in firing and "RESOLVED" not in firing
    assert "RESOLVED" in resolved and "🟢" in resolved and "🔴" not in resolved
    if kind == "feishu":
        assert '"template": "red"' in firing and '"template": "green"' in resolved


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu"])
def test_message_carries_severity_labels_annotations_and_links(kind: str) -> None:
    text = text_of(render_requests(channel(kind), payload())[0])
    for expected in (
        "critical",
        "alertname=HighLatency, service=api, severity=critical",
        "p99 latency above 1s",
        "p99 of api is 2.3s",
        "https://runbooks.example.com/high-latency",
        "http://prometheus:9090/graph?g0.expr=up",
        "http://alertmanager:9093/#/alerts?receiver=team-a%2Foncall",
    ):
        assert expected in text


def test_channel_alertmanager_url_wins_over_the_payloads() -> None:
    text = text_of(render_requests(channel("dingtalk", alertmanager_url="https://am.example.com/"), payload())[0])
    assert "https://am.example.com/#/alerts?receiver=team-a%2Foncall" in text
    assert "http://alertmanager:9093" not in text


def test_start_time_is_shown_in_the_channels_time_zone() -> None:
    assert "2024-05-01 10:00:00 CST" in text_of(
        render_requests(channel("wecom", time_zone="Asia/Shanghai"), payload())[0]
    )
    assert "2024-05-01 02:00:00 UTC" in text_of(render_requests(channel("wecom"), payload())[0])
    resolved = text_of(render_requests(channel("wecom", time_zone="Europe/Paris"), payload("resolved"))[0])
    assert "Started: 2024-05-01 04:00:00 CEST" in resolved and "Resolved: 2024-05-01 04:30:00 CEST" in resolved


def test_grouped_messages_give_the_number_of_alerts_and_truncated_ones() -> None:
    en = text_of(render_requests(channel("dingtalk"), payload(alerts=GROUPED, truncatedAlerts=3))[0])
    assert "5 alerts: 2 firing, 0 resolved (3 more not shown)" in en
    zh = text_of(render_requests(channel("dingtalk", language="zh"), payload(alerts=GROUPED, truncatedAlerts=3))[0])
    assert "共 5 条告警" in zh and "另有 3 条未列出" in zh


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu"])
@pytest.mark.parametrize(("language", "marks"), [("en", ("[TEST]", "TEST MESSAGE")), ("zh", ("[测试]", "测试消息"))])
def test_a_test_message_is_marked_as_such(kind: str, language: str, marks: tuple[str, str]) -> None:
    requests = render_requests(channel(kind, language=language), sample_payload(NOW), test=True)
    everything = json.dumps([r.body for r in requests], ensure_ascii=False)
    assert all(mark in everything for mark in marks)
    plain = json.dumps([r.body for r in render_requests(channel(kind, language=language), sample_payload(NOW))])
    assert not any(mark in plain for mark in marks)


def test_dingtalk_mentions_really_trigger_and_are_written_in_the_text() -> None:
    (request,) = render_requests(channel("dingtalk", mentions=MENTIONS | {"all": True}), payload())
    assert request.body["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["alice"], "isAtAll": True}
    assert text_of(request).endswith("@13800000000 @alice")
    assert "at" not in render_requests(channel("dingtalk"), payload())[0].body


def test_wecom_markdown_mentions_user_ids_inline_and_mobiles_in_a_text_message() -> None:
    markdown, notify = render_requests(channel("wecom", mentions=MENTIONS | {"all": True}), payload())
    assert markdown.body["msgtype"] == "markdown" and text_of(markdown).endswith("<@alice>")
    assert notify.body["msgtype"] == "text"
    assert notify.body["text"]["mentioned_mobile_list"] == ["13800000000"]
    assert notify.body["text"]["mentioned_list"] == ["@all"]
    assert (markdown.part, notify.part, notify.parts) == (1, 2, 2)
    # User ids alone notify through markdown: no extra message.
    assert len(render_requests(channel("wecom", mentions={"user_ids": ["alice"]}), payload())) == 1


def test_feishu_mentions() -> None:
    card = text_of(render_requests(channel("feishu", mentions={"user_ids": ["ou_1"], "all": True}), payload())[0])
    assert card.endswith("<at id=ou_1></at> <at id=all></at>")
    text = text_of(render_requests(channel("feishu", message_type="text", mentions={"all": True}), payload())[0])
    assert text.endswith('<at user_id="all"></at>')


# ---------------------------------------------------------------------------------------------- templates


def test_channel_template_replaces_the_body() -> None:
    template = "{% for a in alerts %}{{ a.name }}/{{ a.severity }}/{{ a.starts_at }}{% endfor %} n={{ count }}"
    (request,) = render_requests(channel("dingtalk", template=template), payload())
    assert request.body["markdown"]["text"] == "HighLatency/critical/2024-05-01 02:00:00 UTC n=1"
    assert request.body["markdown"]["title"] == "[FIRING:1] HighLatency"  # the title stays the default


@pytest.mark.parametrize(
    "template",
    ["{% for a in alerts %}", "{{ 1 / 0 }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ alerts.x.y }}"],
)
def test_template_errors_name_the_channel_and_nothing_secret(template: str) -> None:
    with pytest.raises(ValueError, match="channel team-a/oncall: its message template failed") as error:
        render_requests(channel("dingtalk", template=template), payload())
    assert "dt-token" not in str(error.value) and "access_token" not in str(error.value)


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="channel team-a/oncall: unknown time zone 'Mars/Olympus'"):
        render_requests(channel("feishu", time_zone="Mars/Olympus"), payload())


def test_request_repr_hides_the_robot_url() -> None:
    request = render_requests(channel("dingtalk"), payload())[0]
    assert "dt-token" not in repr(request)


# ---------------------------------------------------------------------------------------------- signing


def independent_hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def test_the_tests_hmac_reproduces_dingtalks_published_sample() -> None:
    # DingTalk's published signature sample (ding-doc.dingtalk.com/doc#/faquestions/hxs5v9, quoted in
    # francistm/dingtalk-sdk spec/dingtalk_spec.rb): HMAC-SHA256, base64, URL-encoded.
    signature = independent_hmac_b64(b"testappSecret", b"1546084445901")
    assert quote_plus(signature) == "HCbG3xNE3vzhO%2Bu7qCUL1jS5hsu2n5r2cFhnTrtyDAE%3D"


def test_dingtalk_signs_the_url_with_millisecond_timestamp() -> None:
    secret = "SEC0123456789abcdef"
    chan = channel("dingtalk", sign_secret=secret)
    signed = sign(chan, render_requests(chan, payload())[0], NOW)
    query = parse_qs(urlsplit(signed.url).query)
    assert query["access_token"] == ["dt-token"]
    assert query["timestamp"] == ["1714557600123"]
    expected = independent_hmac_b64(secret.encode(), f"1714557600123\n{secret}".encode())
    assert query["sign"] == [expected]  # parse_qs decodes the URL-encoding
    assert f"&sign={quote_plus(expected)}" in signed.url
    # Re-signing a queued request later replaces the signature instead of adding a second one.
    later = sign(chan, signed, NOW + timedelta(minutes=5))
    assert parse_qs(urlsplit(later.url).query)["timestamp"] == ["1714557900123"]
    assert later.url.count("sign=") == 1 and later.body == signed.body


def test_feishu_signs_the_body_with_second_timestamp() -> None:
    secret = "feishu-secret"
    chan = channel("feishu", sign_secret=secret)
    unsigned = render_requests(chan, payload())[0]
    signed = sign(chan, unsigned, NOW)
    assert signed.body["timestamp"] == "1714557600"
    assert signed.body["sign"] == independent_hmac_b64(f"1714557600\n{secret}".encode(), b"")
    assert signed.url == unsigned.url and "sign" not in unsigned.body
    assert {k: v for k, v in signed.body.items() if k not in ("timestamp", "sign")} == unsigned.body


@pytest.mark.parametrize("chan", [channel("wecom", sign_secret="x"), channel("dingtalk"), channel("feishu")])
def test_unsigned_channels_are_left_as_they_are(chan: GatewayChannel) -> None:
    request = render_requests(chan, payload())[0]
    assert sign(chan, request, NOW) == request


def test_signing_needs_an_aware_time() -> None:
    chan = channel("dingtalk", sign_secret="s")
    with pytest.raises(ValueError, match="timezone-aware"):
        sign(chan, render_requests(chan, payload())[0], datetime(2024, 5, 1))


# ---------------------------------------------------------------------------------------------- splitting

TEXT = st.text(
    alphabet=st.sampled_from(["a", "b", " ", "\n", PART_BREAK, "é", "告", "警", "🔥", '"', "\\"]), max_size=600
)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, budget=st.integers(min_value=8, max_value=120), cost=st.sampled_from([utf8_cost, json_cost]))
def test_split_parts_fit_lose_nothing_and_keep_order(text: str, budget: int, cost: Any) -> None:
    parts = split_text(text, budget, cost)
    assert parts and all(cost(part) <= budget for part in parts)
    assert "".join(parts) == text.replace(PART_BREAK, "")


@settings(max_examples=200, deadline=None)
@given(segments=st.lists(st.text(alphabet="ab\n告", min_size=1, max_size=30), min_size=1, max_size=20))
def test_split_cuts_at_alert_boundaries_when_alerts_fit(segments: list[str]) -> None:
    budget = max(8, *(utf8_cost(s) for s in segments))
    parts = split_text(PART_BREAK.join(segments), budget)
    boundaries = {sum(len(s) for s in segments[:i]) for i in range(len(segments) + 1)}
    cuts = {sum(len(p) for p in parts[:i]) for i in range(len(parts) + 1)}
    assert cuts <= boundaries


def test_split_prefers_line_ends_inside_a_long_alert() -> None:
    parts = split_text("aaaa\nbbbb\ncccc\n", 11)
    assert parts == ["aaaa\nbbbb\n", "cccc\n"]


def within_limit(kind: str, request: RobotRequest) -> bool:
    limits = LIMITS[kind]
    if limits.measure == "body":
        return len(request.encoded()) <= limits.max_bytes
    inner = request.body[request.body["msgtype"]]
    content = inner.get("text", inner.get("content"))
    limit = limits.text_max_bytes if request.body["msgtype"] == "text" else limits.max_bytes
    return utf8_cost(content) <= limit


MARKER = re.compile(r"^\((\d+)/(\d+)\)\n\n")
SUMMARY = st.text(alphabet=st.sampled_from(["x", "告", "警", "🔥", " ", '"', "\n"]), min_size=1, max_size=3000)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["dingtalk", "wecom", "feishu"]),
    language=st.sampled_from(["en", "zh"]),
    summaries=st.lists(SUMMARY, min_size=1, max_size=30),
)
def test_long_notifications_split_into_numbered_parts_in_order(kind: str, language: str, summaries: list[str]) -> None:
    alerts = [alert(f"Alert{i:03d}", summary=s) for i, s in enumerate(summaries)]
    chan = channel(kind, language=language, sign_secret="s" if kind != "wecom" else None)
    requests = [sign(chan, r, NOW) for r in render_requests(chan, payload(alerts=alerts))]
    assert [(r.part, r.parts) for r in requests] == [(i, len(requests)) for i in range(1, len(requests) + 1)]
    assert all(within_limit(kind, r) for r in requests)
    texts = [text_of(r) for r in requests]
    if len(texts) > 1:
        markers = [m.groups() if (m := MARKER.match(t)) else None for t in texts]
        assert markers == [(str(i), str(len(texts))) for i in range(1, len(texts) + 1)]
    whole = "".join(MARKER.sub("", t, count=1) for t in texts)
    positions = [whole.find(f"**Alert{i:03d}**") for i in range(len(summaries))]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    for s in summaries:  # every summary arrives whole (its own lines may be cut only between parts)
        assert s.replace("\n", "") in whole.replace("\n", "")


def test_many_alerts_split_at_alert_boundaries_for_wecom() -> None:
    alerts = [alert(f"Alert{i:03d}", summary="告警" * 100) for i in range(40)]
    requests = render_requests(channel("wecom"), payload(alerts=alerts))
    assert len(requests) > 3 and all(within_limit("wecom", r) for r in requests)
    for r in requests[1:]:  # each later part starts at an alert
        assert MARKER.sub("", text_of(r), count=1).startswith("🔴")


def test_an_alert_over_the_limit_is_split_by_bytes_never_truncated() -> None:
    description = "告警🔥" * 7000  # one 77,000-byte line
    requests = render_requests(channel("dingtalk"), payload(alerts=[alert("Huge", description=description)]))
    assert len(requests) == 5 and all(within_limit("dingtalk", r) for r in requests)
    assert description in "".join(MARKER.sub("", text_of(r), count=1) for r in requests)
    assert [r.body["markdown"]["title"] for r in requests][-1] == "[FIRING:1] HighLatency (5/5)"
