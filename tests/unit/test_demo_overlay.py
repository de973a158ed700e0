"""`alertagent demo` applies examples/ as they are, with the URLs of a real cluster replaced by its local
stack's (`local_overlay`, a pure function, as a kustomize overlay would); each gateway channel gets a
local robot checking the example's own signing secret (`robot_channels`), whose accepted messages the
demo prints as the group would see them (`robot_view`, `ShowingRobot`). There is no kubelet: the demo
writes the database pod's state as a kubelet would (`running_status`, `crash_loop_status`,
`backoff_event`), which the built-in analysis must read as a kubelet's."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import yaml

from alertagent.analysis.facts import parse_event, parse_pod
from alertagent.devstack.demo import (
    LocalUrls,
    RobotChannel,
    ShowingRobot,
    backoff_event,
    crash_loop_status,
    duration_text,
    local_overlay,
    receiver_path,
    robot_channels,
    robot_view,
    running_status,
)
from alertagent.manifests import load_manifests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
URLS = LocalUrls(
    alertmanager="http://127.0.0.1:1001",
    evaluators={"prometheus": "http://127.0.0.1:1002", "vmalert": "http://127.0.0.1:1003"},
    receiver="http://127.0.0.1:1004",
    gateway="http://127.0.0.1:1005",
    robots={"shop/oncall-dingtalk": "http://127.0.0.1:1006/robot/send?access_token=local"},
)
DINGTALK_EXAMPLE = EXAMPLES / "discovery" / "dingtalk.yaml"


def _example_secret() -> dict[str, str]:
    """The DingTalk example's Secret, read here independently of the code under test."""
    docs = [d for d in yaml.safe_load_all(DINGTALK_EXAMPLE.read_text()) if d]
    return next(d for d in docs if d["kind"] == "Secret")["stringData"]


def _find(docs: list[dict], kind: str, namespace: str, name: str) -> dict:
    return next(
        d
        for d in docs
        if d["kind"] == kind and (d["metadata"].get("namespace"), d["metadata"]["name"]) == (namespace, name)
    )


def test_the_examples_get_the_local_urls_and_keep_everything_else() -> None:
    objects = load_manifests([EXAMPLES])
    before = copy.deepcopy(objects)
    docs = local_overlay(objects, URLS)

    assert objects == before  # the input is untouched
    cluster = _find(docs, "AlertmanagerCluster", "default", "main")["spec"]
    assert cluster["alertmanager"]["url"] == URLS.alertmanager
    assert cluster["gateway"]["url"] == URLS.gateway
    assert {e["name"]: e["url"] for e in cluster["ruleEvaluators"]} == {
        "prometheus": "http://127.0.0.1:1002",
        "vmalert": "http://127.0.0.1:1003",
    }
    # The Slack channel's URL is a Secret key: the Secret gets the local receiver's Slack path.
    secret = _find(docs, "Secret", "default", "team-a-slack")
    assert secret["stringData"] == {"webhook-url": "http://127.0.0.1:1004/slack/default/team-a-critical"}
    assert _find(docs, "NotificationChannel", "shop", "oncall")["spec"]["webhook"]["url"] == (
        "http://127.0.0.1:1004" + receiver_path("webhook", "shop", "oncall")
    )
    # The DingTalk channel's robot URL is a Secret key: it becomes the local robot's; the signing
    # secret stays the example's (the local robot checks that one).
    ding = _find(docs, "Secret", "shop", "shop-dingtalk")
    assert ding["stringData"] == {
        "webhook-url": URLS.robots["shop/oncall-dingtalk"],
        "sign-secret": _example_secret()["sign-secret"],
    }
    assert _find(docs, "NotificationChannel", "shop", "oncall-dingtalk") == _find(
        before, "NotificationChannel", "shop", "oncall-dingtalk"
    )
    # A Namespace is cluster-scoped: the namespace load_manifests defaulted is dropped.
    assert "namespace" not in _find(docs, "Namespace", None, "shop")["metadata"]  # type: ignore[arg-type]
    # Nothing else changes: the rules, the policies, the application manifests.
    unchanged = [
        d for d in docs if d["kind"] not in {"AlertmanagerCluster", "Secret", "NotificationChannel", "Namespace"}
    ]
    assert unchanged == [
        d for d in before if d["kind"] not in {"AlertmanagerCluster", "Secret", "NotificationChannel", "Namespace"}
    ]


def test_a_webhook_url_in_a_secret_and_base64_data_are_replaced() -> None:
    channel = {
        "kind": "NotificationChannel",
        "metadata": {"name": "hook", "namespace": "team"},
        "spec": {"type": "webhook", "webhook": {"urlSecret": {"name": "hook-url", "key": "url"}}},
    }
    secret = {
        "kind": "Secret",
        "metadata": {"name": "hook-url", "namespace": "team"},
        "data": {"url": "aHR0cA==", "x": "eA=="},
    }
    other = {"kind": "Secret", "metadata": {"name": "hook-url", "namespace": "elsewhere"}, "data": {"url": "aHR0cA=="}}
    docs = local_overlay([channel, secret, other], URLS)
    assert docs[0] == channel
    assert docs[1]["data"] == {"x": "eA=="}
    assert docs[1]["stringData"] == {"url": "http://127.0.0.1:1004/webhook/team/hook"}
    assert docs[2] == other


def test_an_evaluator_type_the_demo_does_not_run_is_an_error() -> None:
    cluster = {
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": "default"},
        "spec": {
            "alertmanager": {"url": "http://am"},
            "ruleEvaluators": [{"name": "t", "type": "thanos", "url": "http://t"}],
        },
    }
    with pytest.raises(ValueError, match="runs no thanos"):
        local_overlay([cluster], URLS)


def test_a_cluster_without_a_gateway_gets_none() -> None:
    cluster = {
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": "default"},
        "spec": {"alertmanager": {"url": "http://am"}},
    }
    assert "gateway" not in local_overlay([cluster], URLS)[0]["spec"]


def test_each_gateway_channel_gets_a_robot_with_its_own_signing_secret() -> None:
    assert robot_channels(load_manifests([EXAMPLES])) == [
        RobotChannel("shop/oncall-dingtalk", "dingtalk", _example_secret()["sign-secret"])
    ]
    ref = {"name": "s", "key": "k"}
    objects = [
        {
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "a"},
            "data": {"k": base64.b64encode(b"SEC1").decode()},
        },
        {
            "kind": "NotificationChannel",
            "metadata": {"name": "f", "namespace": "a"},
            "spec": {"type": "feishu", "feishu": {"webhookUrl": ref, "signSecret": ref}},
        },
        {
            "kind": "NotificationChannel",
            "metadata": {"name": "w", "namespace": "a"},
            "spec": {"type": "wecom", "wecom": {"webhookUrl": ref}},
        },
        {
            "kind": "NotificationChannel",
            "metadata": {"name": "d", "namespace": "b"},
            "spec": {"type": "dingtalk", "dingtalk": {"webhookUrl": ref, "signSecret": ref}},
        },
        {
            "kind": "NotificationChannel",
            "metadata": {"name": "h", "namespace": "a"},
            "spec": {"type": "webhook", "webhook": {"url": "http://x"}},
        },
    ]
    assert robot_channels(objects) == [
        RobotChannel("a/f", "feishu", "SEC1"),
        RobotChannel("a/w", "wecom", None),
        RobotChannel("b/d", "dingtalk", None),  # its Secret is not among the objects
    ]


DINGTALK_BODY: dict[str, Any] = {
    "msgtype": "markdown",
    "markdown": {
        "title": "[FIRING:1] DatabaseDown",
        "text": "### 🔥 [FIRING:1] DatabaseDown\n\n🔴 **DatabaseDown** · critical · FIRING\n\n"
        "- Summary: the shop's database does not answer its scrape\n"
        "- [Source](http://prometheus:9090/graph)\n\n\n[Open in Alertmanager](http://am:9093/#/alerts)\n\n@13800000000",
    },
    "at": {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": False},
}


def test_a_dingtalk_message_is_shown_as_the_group_sees_it() -> None:
    assert robot_view("dingtalk", DINGTALK_BODY).splitlines() == [
        "┌" + "─" * 72,
        "│ [FIRING:1] DatabaseDown",
        "├" + "─" * 72,
        "│ 🔥 [FIRING:1] DatabaseDown",
        "│",
        "│ 🔴 DatabaseDown · critical · FIRING",
        "│",
        "│ • Summary: the shop's database does not answer its scrape",
        "│ • Source <http://prometheus:9090/graph>",
        "│",
        "│ Open in Alertmanager <http://am:9093/#/alerts>",
        "│",
        "│ @13800000000",
        "└" + "─" * 72,
        "  mentions (notified): @13800000000",
    ]


def test_the_incident_tree_keeps_its_levels_as_the_group_sees_it() -> None:
    nbsp = "\u00a0" * 3  # the incident section indents each level with no-break spaces
    text = f"- shop/database (root)\n- └ shop/api · 1 alert\n- {nbsp}└ shop/frontend · 1 alert"
    body = {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}
    assert robot_view("dingtalk", body).splitlines()[3:6] == [
        "│ • shop/database (root)",
        "│ • └ shop/api · 1 alert",
        f"│ • {nbsp}└ shop/frontend · 1 alert",
    ]


def test_wecom_text_mentions_are_shown() -> None:
    body = {"msgtype": "text", "text": {"content": "DatabaseDown", "mentioned_mobile_list": ["13800000000"]}}
    view = robot_view("wecom", body)
    assert "│ DatabaseDown" in view
    assert view.endswith("mentions (notified): @13800000000")


def test_the_showing_robot_shows_only_what_it_accepted_with_its_signature() -> None:
    shown: list[tuple[str, dict[str, Any]]] = []
    robot = ShowingRobot(
        type="dingtalk", secret="SECdemo", channel="shop/d", on_message=lambda r, b: shown.append((r.channel, b))
    )
    robot.start()
    try:
        timestamp = int(time.time() * 1000)
        digest = hmac.new(b"SECdemo", f"{timestamp}\nSECdemo".encode(), hashlib.sha256).digest()
        sign = quote_plus(base64.b64encode(digest).decode())
        ok = httpx.post(f"{robot.url}&timestamp={timestamp}&sign={sign}", json=DINGTALK_BODY).json()
        bad = httpx.post(f"{robot.url}&timestamp={timestamp}&sign=bm90aGVyZQ%3D%3D", json=DINGTALK_BODY).json()
    finally:
        robot.stop()
    assert (ok["errcode"], bad["errcode"]) == (0, 310000)
    assert shown == [("shop/d", json.loads(json.dumps(DINGTALK_BODY)))]
    assert robot.signatures == [{"timestamp": str(timestamp), "sign": sign}]


POD = {
    "metadata": {"name": "database-0", "namespace": "shop", "uid": "0b5e-uid"},
    "spec": {"containers": [{"name": "postgres", "image": "postgres:17"}, {"name": "exporter", "image": "pg-exp:1"}]},
}
NOW = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)


def _with(patch: dict[str, Any]) -> dict[str, Any]:
    return {**POD, "status": patch["status"]}


def test_a_running_pod_is_written_running_and_ready_with_each_containers_image() -> None:
    patch = running_status(POD, NOW)
    parsed = parse_pod(_with(patch))
    assert (parsed.phase, parsed.ready, parsed.restarts, parsed.reasons) == ("Running", True, 0, ())
    assert parsed.healthy
    statuses = patch["status"]["containerStatuses"]
    assert [(c["name"], c["image"], c["ready"]) for c in statuses] == [
        ("postgres", "postgres:17", True),
        ("exporter", "pg-exp:1", True),
    ]
    assert patch["status"]["startTime"] == "2026-03-01T10:00:30Z"


def test_a_crash_looping_container_reads_as_the_kubelet_writes_it() -> None:
    patch = crash_loop_status(POD, "postgres", NOW, 3)
    parsed = parse_pod(_with(patch))
    assert (parsed.phase, parsed.ready, parsed.restarts) == ("Running", False, 3)
    assert parsed.reasons == ("CrashLoopBackOff", "OOMKilled")
    crashing, other = patch["status"]["containerStatuses"]
    assert crashing["state"]["waiting"]["message"] == (
        "back-off 40s restarting failed container=postgres pod=database-0_shop(0b5e-uid)"
    )
    assert crashing["lastState"]["terminated"]["exitCode"] == 137
    assert (other["name"], other["ready"]) == ("exporter", True)
    ready = next(c for c in patch["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ContainersNotReady",
        "containers with unready status: [postgres]",
    )
    # The back-off doubles from 10 s per restart, up to the kubelet's 5 minutes.
    for restarts, backoff in ((1, "10s"), (4, "1m20s"), (12, "5m0s")):
        [waiting, _] = crash_loop_status(POD, "postgres", NOW, restarts)["status"]["containerStatuses"]
        assert waiting["state"]["waiting"]["message"].startswith(f"back-off {backoff} "), restarts


def test_the_backoff_event_is_a_kubelet_warning_about_the_pod() -> None:
    event = backoff_event(POD, "postgres", NOW, 3)
    parsed = parse_event(event)
    assert (parsed.type, parsed.reason, parsed.kind, parsed.object, parsed.count) == (
        "Warning",
        "BackOff",
        "Pod",
        "database-0",
        3,
    )
    assert parsed.time == NOW and parsed.namespace == "shop"
    assert event["metadata"]["name"] == f"database-0.{int(NOW.timestamp() * 1e9):x}"
    assert event["involvedObject"]["uid"] == "0b5e-uid" and event["source"] == {"component": "kubelet"}
    assert event["message"] == "Back-off restarting failed container postgres in pod database-0_shop(0b5e-uid)"


def test_durations_are_printed_as_go_prints_them() -> None:
    assert [duration_text(s) for s in (10, 40, 60, 300)] == ["10s", "40s", "1m0s", "5m0s"]
