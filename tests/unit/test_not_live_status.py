"""No silent loss, in the pure core: a channel whose Secret vanished keeps its last delivered receiver
and says so (and its cluster is Degraded); an object no cluster includes, or whose `targets` names no
cluster, is Ready=False with a Warning; a rule shard no sidecar reports on is named with the command
that would report on it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import yaml

from alertagent.api import AlertmanagerCluster, NotificationChannel
from alertagent.common.identity import ObjectRef
from alertagent.common.labels import CLUSTER_LABEL
from alertagent.plans.alertmanager import deployed_config, index_object
from alertagent.plans.placement import World
from alertagent.plans.status import Memberships, member_status, plan_member_status, plan_rule_status
from alertagent.render.alertmanager import render_alertmanager
from alertagent.status import Placement, ShardReport, alert_rule_status, cluster_status

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _cluster(name: str = "main", namespace: str = "monitoring", **spec: Any) -> AlertmanagerCluster:
    return AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"alertmanager": {"url": "http://am:9093"}, **spec},
        }
    )


SLACK = {
    "metadata": {"name": "pager", "namespace": "shop", "generation": 1},
    "spec": {
        "type": "slack",
        "slack": {"apiUrl": {"name": "slack", "key": "url"}, "channel": "#shop"},
        "route": {"matchers": [{"name": "severity", "value": "critical"}]},
    },
}
PAGER = ObjectRef("NotificationChannel", "shop", "pager")


def _resolver(values: dict[tuple[str, str, str], str]) -> Any:
    return lambda namespace, ref: values.get((namespace, ref.name, ref.key))


def _channel() -> NotificationChannel:
    return NotificationChannel.model_validate(SLACK)


def test_a_vanished_secret_keeps_the_receiver_live_in_alertmanager() -> None:
    cluster = _cluster()
    live = render_alertmanager(cluster, [_channel()], [], _resolver({("shop", "slack", "url"): "https://hooks/x"}))
    assert not live.problems and not live.last_known_good

    after = render_alertmanager(cluster, [_channel()], [], _resolver({}), deployed=live.config)
    receiver = next(r for r in after.config["receivers"] if r["name"] == "shop/pager")
    assert receiver["slack_configs"][0]["api_url"] == "https://hooks/x"
    assert "secret shop/slack key url not found" in after.last_known_good[PAGER]
    assert not after.problems
    # Its route stays too: the alerts it took still reach it.
    assert any(
        r.get("receiver") == "shop/pager" and 'severity="critical"' in r["matchers"][-1]
        for r in after.config["route"]["routes"]
    )


def test_without_a_deployed_receiver_the_channel_is_left_out_with_the_reason() -> None:
    rendered = render_alertmanager(_cluster(), [_channel()], [], _resolver({}), deployed={"receivers": []})
    assert rendered.problems[PAGER] == ["secret shop/slack key url not found"]
    assert "shop/pager" not in {r["name"] for r in rendered.config["receivers"]}


def test_a_vanished_global_secret_keeps_the_global_block() -> None:
    cluster = _cluster(**{"global": {"slackApiUrl": {"name": "global", "key": "url"}}})
    live = render_alertmanager(cluster, [], [], _resolver({("monitoring", "global", "url"): "https://hooks/g"}))
    after = render_alertmanager(cluster, [], [], _resolver({}), deployed=live.config)
    assert after.config["global"]["slack_api_url"] == "https://hooks/g"
    assert ObjectRef.of(cluster) in after.last_known_good and ObjectRef.of(cluster) not in after.problems


def test_the_deployed_config_is_read_only_from_the_clusters_own_secret() -> None:
    cluster = _cluster()
    text = yaml.safe_dump({"receivers": [{"name": "shop/pager"}]})
    secret = {
        "metadata": {"labels": {CLUSTER_LABEL: "main"}},
        "data": {"alertmanager.yaml": base64.b64encode(text.encode()).decode()},
    }
    assert deployed_config(cluster, secret) == {"receivers": [{"name": "shop/pager"}]}
    assert deployed_config(cluster, {**secret, "metadata": {"labels": {CLUSTER_LABEL: "other"}}}) is None
    assert deployed_config(cluster, None) is None
    garbage = {**secret, "data": {"alertmanager.yaml": base64.b64encode(b"{: [").decode()}}
    assert deployed_config(cluster, garbage) is None


def test_a_channel_on_its_last_known_good_receiver_is_not_ready_and_warns_once() -> None:
    members = Memberships()
    why = "secret shop/slack key url not found: its last delivered receiver stays live"
    assert members.record("monitoring/main", {PAGER: None}, {}, {PAGER: why}) == {PAGER}
    entry = index_object(NotificationChannel, SLACK)
    patch = plan_member_status(entry, SLACK, members, NOW)
    assert patch is not None
    condition = patch.status["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "LastKnownGood")
    assert condition["message"] == f"monitoring/main: {why}"
    assert patch.warning == ("LastKnownGood", condition["message"])
    assert patch.status["clusters"] == ["monitoring/main"]  # still rendered there
    # Written once, the same status posts no second Event.
    assert plan_member_status(entry, {**SLACK, "status": patch.status}, members, NOW) is None
    # The Secret is back: Ready again, and the change is reported.
    assert members.record("monitoring/main", {PAGER: None}, {}, {}) == {PAGER}
    assert member_status(entry, SLACK, members, NOW)["conditions"][0]["status"] == "True"


def test_a_cluster_with_objects_on_last_known_good_is_degraded_and_counts_them() -> None:
    body = {"metadata": {"name": "main", "namespace": "monitoring", "generation": 2}}
    status = cluster_status(body, [], {}, None, last_known_good={"NotificationChannel shop/pager": "gone"})
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "LastKnownGood")
    assert "NotificationChannel shop/pager: gone" in degraded["message"]
    assert status["counts"]["lastKnownGood"] == 1
    fine = cluster_status(body, [], {}, None)
    assert next(c for c in fine["conditions"] if c["type"] == "Degraded")["status"] == "False"
    assert fine["counts"]["lastKnownGood"] == 0


def test_placement_names_the_clusters_that_include_an_object_and_targets_that_do_not_exist() -> None:
    world = World(
        {
            "monitoring/main": _cluster(),
            "monitoring/teams": _cluster("teams", selectors={"alertRules": {"namespaces": ["team-a"]}}),
            "monitoring/broken": None,
        },
        {},
    )
    assert world.place("AlertRule", "shop", {}, None) == Placement(("monitoring/main",), ())
    assert world.place("AlertRule", "team-a", {}, None).selecting == ("monitoring/main", "monitoring/teams")
    targeted = world.place("AlertRule", "shop", {}, ["monitoring/mian", "monitoring/main"])
    assert targeted == Placement(("monitoring/main",), ("monitoring/mian",))
    # A bare name is in the object's own namespace; a cluster whose spec is invalid still exists.
    assert world.place("NotificationChannel", "shop", {}, ["main"]).unknown_targets == ("shop/main",)
    assert world.place("SuppressionPolicy", "x", {}, ["monitoring/broken"]) == Placement((), ())


RULE = {
    "metadata": {"name": "db", "namespace": "shop", "generation": 1},
    "spec": {"groups": [{"name": "g", "rules": [{"alert": "DatabaseDown", "expr": "up == 0"}]}]},
}


def _ready(status: dict[str, Any]) -> tuple[str, str, str]:
    condition = status["conditions"][0]
    return condition["status"], condition["reason"], condition["message"]


def test_a_rule_no_cluster_selects_is_not_ready() -> None:
    status, reason, message = _ready(alert_rule_status(RULE, [], [], placement=Placement()))
    assert (status, reason) == ("False", "NotSelected") and "no AlertmanagerCluster selects" in message


def test_a_rule_naming_a_cluster_that_does_not_exist_is_not_ready_and_names_it() -> None:
    placement = Placement((), ("default/mian",))
    patch = plan_rule_status(RULE, [], [], None, False, placement)
    assert patch is not None
    status, reason, message = _ready(patch.status)
    assert (status, reason) == ("False", "UnknownTarget") and "default/mian" in message
    assert patch.warning is not None and patch.warning[0] == "UnknownTarget" and "default/mian" in patch.warning[1]
    # A restart that computes the same status posts nothing again.
    assert plan_rule_status({**RULE, "status": patch.status}, [], [], None, False, placement) is None


def test_a_rule_selected_but_not_written_yet_is_pending_without_a_warning() -> None:
    patch = plan_rule_status(RULE, [], [], None, False, Placement(("monitoring/main",), ()))
    assert patch is not None and patch.warning is None
    assert _ready(patch.status)[:2] == ("False", "Pending")
    assert "monitoring/main" in _ready(patch.status)[2]


def _report(loaded: str | None) -> ShardReport:
    return ShardReport(
        cluster="monitoring/main",
        evaluator="prometheus",
        file_hash="f",
        shard_hash="s2",
        loaded_hash=loaded,
        loaded_time=None,
        error=None,
        shard="monitoring/main-prometheus-rules-0",
    )


def test_a_shard_no_sidecar_reports_on_is_named_with_the_command_that_would() -> None:
    target = _report(None).target_status(stalled_after=150)
    assert target.state == "Stalled"
    assert "ConfigMap monitoring/main-prometheus-rules-0 has had no report from a sidecar" in (target.message or "")
    assert "--selector alertagent.io/cluster=main,alertagent.io/evaluator=prometheus" in (target.message or "")
    assert "--namespace monitoring" in (target.message or "")
    patch = plan_rule_status(RULE, [], [target], None, False, Placement(("monitoring/main",), ()))
    assert patch is not None and "has had no report from a sidecar" in _ready(patch.status)[2]
    assert _ready(patch.status)[1] == "Stalled" and patch.warning is not None and patch.warning[0] == "Stalled"
    # A sidecar that reported an older version is named differently; before the bound, no hint.
    assert "still reports an older version" in (_report("s1").target_status(stalled_after=150).message or "")
    assert "waiting for the sidecar of evaluator" in (_report(None).target_status().message or "")


def test_offline_render_has_no_deployed_config_so_a_missing_secret_is_a_placeholder() -> None:
    rendered = render_alertmanager(_cluster(), [_channel()], [], _resolver({}), placeholders=True)
    assert not rendered.last_known_good and PAGER in rendered.placeholders
