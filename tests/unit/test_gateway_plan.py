"""The gateway's channels file (plans/gateway.py), the gateway receivers, test-send answers and the
robot's configuration errors on a channel's status: pure, no I/O."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from alertagent.api import AlertmanagerCluster, NotificationChannel
from alertagent.api.common import SecretKeyRef
from alertagent.api.notificationchannel import ConfigMapKeyRef
from alertagent.clients.probe import config_errors
from alertagent.common.identity import ObjectRef
from alertagent.common.labels import CLUSTER_LABEL, CONTENT_HASH_ANNOTATION
from alertagent.plans.alertmanager import IndexedObject
from alertagent.plans.gateway import CHANNELS_KEY, channels_secret_name, deployed_channels, plan_gateway
from alertagent.plans.status import Memberships, member_status
from alertagent.plans.testsend import gateway_test_answer, gateway_test_url, last_test
from alertagent.render.alertmanager import render_alertmanager
from alertagent.render.robots.models import ChannelsFile

OWNER = {"name": "main", "namespace": "monitoring", "uid": "uid-1"}
ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=abc"
SECRETS = {("team-a", "robot", "url"): ROBOT, ("team-a", "robot", "sign"): "SECxyz"}


def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
    return SECRETS.get((namespace, ref.name, ref.key))


def cluster(gateway: bool = True) -> AlertmanagerCluster:
    spec: dict[str, Any] = {"alertmanager": {"url": "http://am:9093", "version": "0.27.0"}}
    if gateway:
        spec["gateway"] = {"url": "http://gw:8083"}
    return AlertmanagerCluster.model_validate({"metadata": {"name": "main", "namespace": "monitoring"}, "spec": spec})


def ding(name: str = "ding", secret_name: str = "robot", **block: Any) -> NotificationChannel:
    dingtalk = {"webhookUrl": {"name": secret_name, "key": "url"}, "signSecret": {"name": secret_name, "key": "sign"}}
    spec = {"type": "dingtalk", "dingtalk": {**dingtalk, **block}, "route": {}}
    return NotificationChannel.model_validate({"metadata": {"name": name, "namespace": "team-a"}, "spec": spec})


def tokens() -> Any:
    counter = itertools.count(1)
    return lambda: f"token-{next(counter)}"


def as_current(secret: dict[str, Any]) -> dict[str, Any]:
    return secret  # what the API server would return: the body written, data still base64


def test_new_channels_get_a_token_and_the_file_holds_their_resolved_robot() -> None:
    channel = ding(atMobiles=["138"], atUserIds=["u1"], language="zh", timeZone="Asia/Shanghai")
    plan = plan_gateway(cluster(), OWNER, [channel], resolve, None, tokens())
    assert plan.tokens == {"team-a/ding": "token-1"}
    entry = plan.file.channels["team-a/ding"]
    assert (entry.webhook_url, entry.sign_secret, entry.token) == (ROBOT, "SECxyz", "token-1")
    assert (entry.mentions.mobiles, entry.mentions.user_ids, entry.language, entry.time_zone) == (
        ["138"],
        ["u1"],
        "zh",
        "Asia/Shanghai",
    )
    secret = plan.secret
    assert secret is not None and not plan.secret_exists
    assert secret["metadata"]["name"] == channels_secret_name(cluster()) == "main-gateway-channels"
    assert secret["metadata"]["labels"][CLUSTER_LABEL] == "main"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    parsed = ChannelsFile.model_validate_json(base64.b64decode(secret["data"][CHANNELS_KEY]))
    assert parsed == plan.file and parsed.cluster == "monitoring/main"


def test_tokens_are_kept_and_an_unchanged_file_is_not_written_again() -> None:
    first = plan_gateway(cluster(), OWNER, [ding()], resolve, None, tokens())
    assert first.secret is not None
    again = plan_gateway(cluster(), OWNER, [ding(), ding("other")], resolve, as_current(first.secret), tokens())
    assert again.tokens == {"team-a/ding": "token-1", "team-a/other": "token-1"}  # a fresh generator: token-1 again
    assert again.secret is not None  # a new channel changes the file
    same = plan_gateway(cluster(), OWNER, [ding(), ding("other")], resolve, as_current(again.secret), tokens())
    assert same.tokens == again.tokens and same.secret is None


def test_the_file_and_its_hash_are_deterministic_whatever_the_order() -> None:
    a = plan_gateway(cluster(), OWNER, [ding("b"), ding("a")], resolve, None, tokens())
    b = plan_gateway(cluster(), OWNER, [ding("a"), ding("b")], resolve, None, tokens())
    assert a.secret is not None and b.secret is not None
    assert a.secret["data"] == b.secret["data"]
    assert (
        a.secret["metadata"]["annotations"][CONTENT_HASH_ANNOTATION]
        == b.secret["metadata"]["annotations"][CONTENT_HASH_ANNOTATION]
    )
    assert list(json.loads(base64.b64decode(a.secret["data"][CHANNELS_KEY]))["channels"]) == ["team-a/a", "team-a/b"]


def test_a_missing_secret_keeps_the_deployed_entry_or_leaves_the_channel_out() -> None:
    live = plan_gateway(cluster(), OWNER, [ding()], resolve, None, tokens())
    assert live.secret is not None
    gone = plan_gateway(cluster(), OWNER, [ding(secret_name="gone")], resolve, as_current(live.secret), tokens())
    ref = ObjectRef("NotificationChannel", "team-a", "ding")
    assert gone.file.channels["team-a/ding"] == live.file.channels["team-a/ding"]  # last known good
    assert "secret team-a/gone" in gone.last_known_good[ref] and not gone.problems
    assert gone.secret is None  # nothing changed in the file
    never = plan_gateway(cluster(), OWNER, [ding(secret_name="gone")], resolve, None, tokens())
    assert never.file.channels == {} and "secret team-a/gone" in never.problems[ref]


CONFIG_MAPS = {("team-a", "templates", "ding.j2"): "{{ alerts | length }} firing"}


def resolve_config_map(namespace: str, ref: ConfigMapKeyRef) -> str | None:
    return CONFIG_MAPS.get((namespace, ref.name, ref.key))


def test_the_template_is_taken_from_the_config_map_in_the_channels_namespace() -> None:
    channel = ding(templateConfigMap={"name": "templates", "key": "ding.j2"})
    plan = plan_gateway(cluster(), OWNER, [channel], resolve, None, tokens(), resolve_config_map)
    assert plan.file.channels["team-a/ding"].template == "{{ alerts | length }} firing" and not plan.problems


def test_a_missing_template_config_map_or_key_leaves_the_channel_out_or_keeps_its_deployed_entry() -> None:
    ref = ObjectRef("NotificationChannel", "team-a", "ding")
    for name, key in (("gone", "ding.j2"), ("templates", "other.j2")):
        channel = ding(templateConfigMap={"name": name, "key": key})
        never = plan_gateway(cluster(), OWNER, [channel], resolve, None, tokens(), resolve_config_map)
        assert never.file.channels == {} and f"configmap team-a/{name} key {key} not found" in never.problems[ref]
    live = plan_gateway(cluster(), OWNER, [ding(template="inline")], resolve, None, tokens())
    assert live.secret is not None
    channel = ding(templateConfigMap={"name": "gone", "key": "ding.j2"})
    gone = plan_gateway(cluster(), OWNER, [channel], resolve, as_current(live.secret), tokens(), resolve_config_map)
    assert (
        gone.file.channels["team-a/ding"].template == "inline" and "configmap team-a/gone" in gone.last_known_good[ref]
    )


def test_template_and_template_config_map_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="at most one of template or templateConfigMap"):
        ding(template="x", templateConfigMap={"name": "templates", "key": "ding.j2"})


def test_a_secret_of_another_owner_is_never_overwritten() -> None:
    foreign = {"metadata": {"name": "main-gateway-channels", "labels": {}}, "data": {}}
    plan = plan_gateway(cluster(), OWNER, [ding()], resolve, foreign, tokens())
    assert plan.secret is None and plan.tokens == {} and plan.error and "not AlertAgent's" in plan.error


def test_deployed_channels_ignores_a_file_that_does_not_parse() -> None:
    bad = {"metadata": {"labels": {CLUSTER_LABEL: "main"}}, "data": {CHANNELS_KEY: base64.b64encode(b"{").decode()}}
    assert deployed_channels(cluster(), bad) is None
    assert deployed_channels(cluster(), None) is None


def test_the_rendered_receiver_carries_the_planned_token_and_webhook_path() -> None:
    plan = plan_gateway(cluster(), OWNER, [ding(maxAlerts=5)], resolve, None, tokens())
    rendered = render_alertmanager(cluster(), [ding(maxAlerts=5)], [], resolve, gateway_tokens=plan.tokens)
    (entry,) = next(r for r in rendered.config["receivers"] if r["name"] == "team-a/ding")["webhook_configs"]
    assert entry == {
        "url": "http://gw:8083/api/v1/alerts/webhook/team-a/ding",
        "send_resolved": True,
        "max_alerts": 5,
        "http_config": {"authorization": {"type": "Bearer", "credentials": "token-1"}},
    }


def test_a_gateway_channel_with_a_bad_robot_url_or_no_token_is_left_out_alone() -> None:
    SECRETS[("team-a", "broken", "url")] = "oapi.dingtalk.com/robot"
    SECRETS[("team-a", "broken", "sign")] = "x"
    try:
        rendered = render_alertmanager(cluster(), [ding("bad", "broken"), ding()], [], resolve, gateway_tokens={})
    finally:
        del SECRETS[("team-a", "broken", "url")], SECRETS[("team-a", "broken", "sign")]
    problems = {str(ref): why for ref, why in rendered.problems.items()}
    assert "dingtalk.webhookUrl from its Secret" in problems["NotificationChannel team-a/bad"][0]
    assert "oapi.dingtalk.com" not in problems["NotificationChannel team-a/bad"][0]  # never the URL itself
    assert problems["NotificationChannel team-a/ding"] == ["no gateway bearer token for this channel yet"]


def test_offline_render_marks_the_token_as_a_placeholder() -> None:
    rendered = render_alertmanager(cluster(), [ding()], [], resolve, placeholders=True)
    assert not rendered.problems
    assert rendered.placeholders[ObjectRef("NotificationChannel", "team-a", "ding")] == [
        "gateway bearer token of team-a/ding (the operator generates it)"
    ]


def test_the_new_channel_fields_are_validated() -> None:
    with pytest.raises(ValidationError, match="unknown time zone Mars/Olympus"):
        ding(timeZone="Mars/Olympus")
    with pytest.raises(ValidationError):
        ding(language="fr")
    with pytest.raises(ValidationError):
        ding(maxAlerts=-1)
    assert ding().spec.dingtalk is not None and ding().spec.dingtalk.time_zone == "UTC"


def test_test_send_relays_the_robots_own_answer() -> None:
    ref = ObjectRef("NotificationChannel", "team-a", "ding")
    assert gateway_test_url("http://gw:8083/", ref) == "http://gw:8083/api/v1/test/team-a/ding"
    ok = gateway_test_answer(200, json.dumps({"ok": True, "code": 0, "message": "ok"}))
    assert (ok.ok, ok.code, ok.message) == (True, 0, "the robot answered 0: ok")
    refused = gateway_test_answer(200, json.dumps({"ok": False, "code": 310000, "message": "sign not match"}))
    assert (refused.ok, refused.code) == (False, 310000) and "sign not match" in refused.message
    unauthorized = gateway_test_answer(401, "bad token\n")
    assert (unauthorized.ok, unauthorized.code, unauthorized.message) == (
        False,
        None,
        "the gateway answered HTTP 401: bad token",
    )
    status = last_test("v1", refused.ok, refused.message, datetime(2026, 1, 1, tzinfo=UTC), refused.code)
    assert (status["result"], status["code"]) == ("Failed", 310000)


def test_config_errors_reported_by_the_gateway_reach_the_channels_status() -> None:
    body = {
        "team-a/ding": {
            "queued": 0,
            "delivered": 3,
            "lastError": "310000 sign not match",
            "lastErrorKind": "config_error",
        },
        "team-a/fine": {"queued": 1, "delivered": 3, "lastError": "HTTP 502", "lastErrorKind": "retry"},
        "junk": "not an entry",
    }
    refused = config_errors(body)
    ref = ObjectRef("NotificationChannel", "team-a", "ding")
    assert refused == {ref: "310000 sign not match"}
    memberships = Memberships()
    memberships.record("monitoring/main", {ref: None}, {})
    assert memberships.record_refusals("monitoring/main", refused) == {ref}
    assert memberships.record_refusals("monitoring/main", refused) == set()  # unchanged: no rewrite
    manifest = {"metadata": {"name": "ding", "namespace": "team-a", "generation": 1}, "spec": {"type": "dingtalk"}}
    entry = IndexedObject(ref, ding(), ())
    status = member_status(entry, manifest, memberships, datetime(2026, 1, 1, tzinfo=UTC))
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"], status["delivery"]) == ("False", "RobotRefused", "Gateway")
    assert ready["message"] == "monitoring/main: the robot refuses this channel's configuration: 310000 sign not match"
    assert memberships.record_refusals("monitoring/main", {}) == {ref}  # fixed: Ready again
    status = member_status(entry, manifest, memberships, datetime(2026, 1, 1, tzinfo=UTC))
    assert status["conditions"][0]["reason"] == "Rendered"
