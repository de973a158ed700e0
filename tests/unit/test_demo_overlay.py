"""`alertagent demo` applies examples/ as they are, with the URLs of a real cluster replaced by its local
stack's (`local_overlay`, a pure function, as a kustomize overlay would); each gateway channel gets a
local robot checking the example's own signing secret (`robot_channels`), whose accepted messages the
demo prints as the group would see them (`robot_view`, `ShowingRobot`)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import yaml

from alertagent.devstack.demo import (
    LocalUrls,
    RobotChannel,
    ShowingRobot,
    local_overlay,
    receiver_path,
    robot_channels,
    robot_view,
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
