"""The incident section of robot messages and the gateway's own incident messages (render/robots:
incidents.py, formats.render_requests(incidents=...), formats.render_notice): golden requests per robot
and kind, the tree by dependency, the cap, channel templates, and the robots' size limits.

To regenerate the goldens after an intended change, then review the diff of tests/unit/golden/robots/:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_incident_messages.py
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from alertagent.incidents.track import RESOLVED, Impact, Incident
from alertagent.render.robots.formats import render_notice, render_requests, sign
from alertagent.render.robots.incidents import TREE_LINES, duration, tree

from .test_robot_formats import NOW, alert, as_golden, channel, payload, text_of, within_limit

GOLDEN = Path(__file__).resolve().parent / "golden" / "robots"
T0 = 1714528800.0  # 2024-05-01 02:00:00 UTC


def incident(impacted: int | None = None, **fields: object) -> Incident:
    """data/postgres with a small tree (api and cart above it, web above api, backup beside it), or
    `impacted` services directly above it."""
    services = (
        (
            Impact("shop/api", 1, 2, 2, "data/postgres"),
            Impact("shop/cart", 1, 1, 1, "data/postgres"),
            Impact("shop/web", 2, 1, 1, "shop/api"),
            Impact("data/backup", 0, 1, 0, None),
        )
        if impacted is None
        else tuple(Impact(f"shop/svc-{i:03d}", 1, 1, 1, "data/postgres") for i in range(impacted))
    )
    base = Incident(
        name="postgres-1a2b3c4d",
        root="data/postgres",
        root_alerts=("DatabaseDown",),
        root_fingerprints=frozenset({"c0ffee"}),
        impacted=services,
        alerts=1 + sum(s.alerts for s in services),
        suppressed=sum(s.suppressed for s in services),
        fingerprints=frozenset({"c0ffee"}),
        severity="critical",
        state="Firing",
        started=T0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


RESOLVED_INCIDENT = incident(state=RESOLVED, resolved=T0 + 725, root_alerts=())
ROOT_CASES = {
    "incident-dingtalk-root-en": (channel("dingtalk", time_zone="Asia/Shanghai"), incident()),
    "incident-wecom-root-zh": (channel("wecom", language="zh"), incident()),
    "incident-feishu-root-en": (channel("feishu"), incident(20)),
}
NOTICE_CASES = {
    "incident-dingtalk-update-zh": (channel("dingtalk", language="zh"), "update", incident(), 2, 5),
    "incident-wecom-update-en": (
        channel("wecom", alertmanager_url="https://am.example.com"),
        "update",
        incident(),
        3,
        5,
    ),
    "incident-feishu-update-zh": (channel("feishu", language="zh"), "update", incident(20), 6, 21),
    "incident-dingtalk-resolve-en": (channel("dingtalk"), "resolve", RESOLVED_INCIDENT, 5, 21),
    "incident-wecom-resolve-zh": (channel("wecom", language="zh"), "resolve", RESOLVED_INCIDENT, 5, 21),
    "incident-feishu-resolve-en": (channel("feishu", time_zone="Europe/Paris"), "resolve", RESOLVED_INCIDENT, 5, 9),
}


def check_golden(name: str, rendered: str) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing (UPDATE_GOLDEN=1 to write it)"
    assert path.read_text() == rendered, f"differs from {path.name} (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("case", sorted(ROOT_CASES))
def test_golden_root_alert_messages(case: str) -> None:
    chan, inc = ROOT_CASES[case]
    check_golden(case, as_golden(render_requests(chan, payload(), incidents=[inc])))


@pytest.mark.parametrize("case", sorted(NOTICE_CASES))
def test_golden_update_and_resolve_messages(case: str) -> None:
    chan, kind, inc, previous, peak = NOTICE_CASES[case]
    check_golden(case, as_golden(render_notice(chan, kind, inc, previous, peak)))


# ---------------------------------------------------------------------------------------------- content


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu"])
def test_a_root_alerts_message_names_the_root_the_impacted_and_the_suppressed_and_keeps_its_alerts(
    kind: str,
) -> None:
    alerts = [alert("DatabaseDown", summary="postgres is down"), alert("DiskFull", severity="warning")]
    text = text_of(render_requests(channel(kind), payload(alerts=alerts), incidents=[incident()])[0])
    for expected in ("Incident postgres-1a2b3c4d", "data/postgres", "DatabaseDown", "4 services impacted"):
        assert expected in text
    assert "4 of 6 alerts suppressed" in text
    for service in ("shop/api", "shop/cart", "shop/web", "data/backup"):
        assert service in text
    assert "postgres is down" in text and "DiskFull" in text  # every alert of the payload is still there
    assert text.index("Incident postgres-1a2b3c4d") < text.index("DiskFull")
    zh = text_of(render_requests(channel(kind, language="zh"), payload(), incidents=[incident()])[0])
    assert "根因" in zh and "影响 4 个服务" in zh and "6 条告警中 4 条已被抑制" in zh


def test_without_an_incident_the_message_is_unchanged() -> None:
    plain = render_requests(channel("dingtalk"), payload())
    assert render_requests(channel("dingtalk"), payload(), incidents=[]) == plain
    assert "Incident" not in text_of(plain[0])


def test_impacted_services_form_a_tree_by_dependency() -> None:
    lines, more = tree(incident())
    shape = [(line["service"], line["level"], line["detached"]) for line in lines]
    assert shape == [
        ("data/postgres", 0, False),
        ("shop/api", 1, False),
        ("shop/web", 2, False),  # under the service it depends on
        ("shop/cart", 1, False),
        ("data/backup", 1, True),  # alerting too, not above the root: last
    ]
    assert more == 0
    text = text_of(render_requests(channel("wecom"), payload(), incidents=[incident()])[0])
    api, web, cart = text.index("└ shop/api"), text.index("└ shop/web"), text.index("└ shop/cart")
    assert api < web < cart
    assert "\u00a0\u00a0\u00a0└ shop/web" in text  # indented one level deeper, kept by markdown


@pytest.mark.parametrize(("language", "more"), [("en", "… and 15 more"), ("zh", "另有 15 个服务")])
def test_the_tree_is_capped_with_a_count_of_the_rest(language: str, more: str) -> None:
    text = text_of(render_requests(channel("dingtalk", language=language), payload(), incidents=[incident(40)])[0])
    assert more in text
    assert sum(f"shop/svc-{i:03d}" in text for i in range(40)) == TREE_LINES


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_messages_stay_within_the_robots_limits(kind: str, language: str) -> None:
    chan = channel(kind, language=language, sign_secret="s" if kind != "wecom" else None)
    alerts = [alert(f"Alert{i:03d}", summary="告警" * 300) for i in range(20)]
    big = replace(incident(500), root_alerts=tuple(f"RootAlert{i}" for i in range(50)))
    for requests in (
        render_requests(chan, payload(alerts=alerts), incidents=[big]),
        render_notice(chan, "update", big, 3, 501),
        render_notice(chan, "resolve", replace(big, state=RESOLVED, resolved=T0 + 60), 3, 501),
    ):
        assert all(within_limit(kind, sign(chan, r, NOW)) for r in requests)
    joined = "".join(text_of(r) for r in render_requests(chan, payload(alerts=alerts), incidents=[big]))
    assert all(f"Alert{i:03d}" in joined for i in range(20))


def test_update_and_resolve_say_how_it_changed() -> None:
    update = text_of(render_notice(channel("dingtalk"), "update", incident(), previous=2, peak=5)[0])
    assert "Incident grew: now 5 services" in update and "the last message showed 2" in update
    assert "shop/web" in update
    resolve = text_of(render_notice(channel("dingtalk"), "resolve", RESOLVED_INCIDENT, previous=5, peak=21)[0])
    assert "Incident resolved after 12m 5s" in resolve and "21 services were impacted" in resolve
    zh = text_of(render_notice(channel("dingtalk", language="zh"), "resolve", RESOLVED_INCIDENT, 5, 21)[0])
    assert "故障已恢复，持续 12 分钟 5 秒" in zh and "共影响 21 个服务" in zh  # noqa: RUF001 (Chinese punctuation)
    card = render_notice(channel("feishu"), "resolve", RESOLVED_INCIDENT, 5, 21)[0].body["card"]["header"]
    assert card == {"title": {"tag": "plain_text", "content": "[RESOLVED] Incident data/postgres"}, "template": "green"}


def test_a_channel_template_gets_the_section_first_unless_it_shows_it() -> None:
    own = "{% for a in alerts %}{{ a.name }}{% endfor %}"
    text = text_of(render_requests(channel("wecom", template=own), payload(), incidents=[incident()])[0])
    assert text.startswith("**🧩 Incident postgres-1a2b3c4d**") and text.endswith("HighLatency")
    placed = "{{ alerts[0].name }} / root {{ incident.root }} / {{ incident.services }} services"
    text = text_of(render_requests(channel("wecom", template=placed), payload(), incidents=[incident()])[0])
    assert text == "HighLatency / root data/postgres / 5 services"


def test_durations_read_naturally() -> None:
    assert [duration(s, "en") for s in (0, 45, 720, 725, 3900, 90000)] == [
        "0s",
        "45s",
        "12m",
        "12m 5s",
        "1h 5m",
        "1d 1h",
    ]
    assert duration(3900, "zh") == "1 小时 5 分钟"


def test_goldens_are_json() -> None:
    for name in [*ROOT_CASES, *NOTICE_CASES]:
        assert json.loads((GOLDEN / f"{name}.json").read_text())
