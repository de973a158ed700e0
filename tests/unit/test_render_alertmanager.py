"""alertmanager.yaml rendering (pure), with a golden file (checked by the real amtool in the
integration suite)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from alertagent.api import AlertmanagerCluster, NotificationChannel
from alertagent.api.common import SecretKeyRef
from alertagent.common.identity import ObjectRef
from alertagent.manifests import load_manifests
from alertagent.plans.offline import render_manifests
from alertagent.render.alertmanager import render_alertmanager

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager" / "stack.yaml"
GOLDEN = Path(__file__).resolve().parent / "golden" / "alertmanager" / "monitoring-main.yaml"


def _rendered() -> tuple[dict, list]:
    result = render_manifests(load_manifests([FIXTURE]))
    return {str(k): v for k, v in result.files.items()}, result.reports


def test_golden_alertmanager_yaml() -> None:
    files, _ = _rendered()
    text = files["monitoring/main/alertmanager.yaml"]
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, "differs from the golden file (UPDATE_GOLDEN=1 to accept)"


def test_receivers_routes_isolation_and_windows() -> None:
    files, _ = _rendered()
    config = yaml.safe_load(files["monitoring/main/alertmanager.yaml"])
    assert [r["name"] for r in config["receivers"]] == [
        "monitoring/oncall",
        "team-a/alerts",
        "team-b/archive",
        "team-b/hooks",
        "team-b/unresolved",
    ]
    assert config["route"]["receiver"] == "monitoring/oncall"
    tests, routes = _split_test_routes(config["route"]["routes"])
    # First, one test-send route per channel: its label reaches that channel and nothing else.
    assert [r["receiver"] for r in tests] == [r["name"] for r in config["receivers"] if r["name"] != "alertagent/null"]
    assert tests[0] == {
        "receiver": "monitoring/oncall",
        "matchers": ['alertagent_test_channel="monitoring/oncall"'],
        "group_by": ["alertagent_test_channel"],
        "group_wait": "0s",
    }
    # The cluster namespace's channel sees every namespace, so team-a's window mutes its team-a alerts too:
    # a child route takes the policy's alerts (muted in the window), R itself delivers the rest, and R's
    # `continue` still passes everything on to later routes.
    assert routes[0] == {
        "receiver": "monitoring/oncall",
        "matchers": ['severity="critical"'],
        "continue": True,
        "routes": [
            {"matchers": ['namespace="team-a"', 'service="api"'], "mute_time_intervals": ["team-a/maintenance/weekly"]}
        ],
    }
    # Others see only their own namespace.
    team_a = routes[1]
    assert team_a["matchers"] == ['namespace="team-a"', 'severity=~"warning|critical"']
    assert team_a["receiver"] == "team-a/alerts" and "mute_time_intervals" not in team_a
    assert team_a["routes"] == [{"matchers": ['service="api"'], "mute_time_intervals": ["team-a/maintenance/weekly"]}]
    assert routes[2] == {"receiver": "team-b/hooks", "matchers": ['namespace="team-b"']}
    assert "team-b/archive" not in {r["receiver"] for r in routes}  # no route, receiver still rendered
    [interval] = config["time_intervals"]
    assert interval == {
        "name": "team-a/maintenance/weekly",
        "time_intervals": [
            {
                "times": [{"start_time": "02:00", "end_time": "04:00"}],
                "weekdays": ["saturday", "sunday"],
                "location": "Asia/Shanghai",
            }
        ],
    }
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['namespace="team-a"', 'alertname="DatabaseDown"'],
            "target_matchers": ['namespace="team-a"', 'severity="warning"'],
            "equal": ["cluster"],
        }
    ]
    assert config["receivers"][0]["pagerduty_configs"][0]["routing_key"] == "routing-key"  # from base64 data


def test_missing_secret_offline_is_a_marked_placeholder_and_a_warning() -> None:
    files, reports = _rendered()
    config = yaml.safe_load(files["monitoring/main/alertmanager.yaml"])
    unresolved = next(r for r in config["receivers"] if r["name"] == "team-b/unresolved")
    url = unresolved["slack_configs"][0]["api_url"]
    assert url == "https://missing-secret.alertagent.invalid/team-b/not-in-input/url"
    report = next(r for r in reports if r.name == "unresolved")
    assert report.valid and report.warnings and "placeholder" in report.warnings[0]


def _split_test_routes(routes: list[dict]) -> tuple[list[dict], list[dict]]:
    tests = [r for r in routes if r["matchers"][0].startswith("alertagent_test_channel=")]
    return tests, routes[len(tests) :]


def _cluster(version: str | None = None, **spec: object) -> AlertmanagerCluster:
    alertmanager = {"url": "http://am:9093", **({"version": version} if version else {})}
    return AlertmanagerCluster.model_validate(
        {"metadata": {"name": "c", "namespace": "m"}, "spec": {"alertmanager": alertmanager, **spec}}
    )


def _channel(name: str, spec: dict) -> NotificationChannel:
    return NotificationChannel.model_validate({"metadata": {"name": name, "namespace": "a"}, "spec": spec})


def test_invalid_channels_are_left_out_alone_with_the_reason() -> None:
    teams = _channel("teams", {"type": "msteams", "msteams": {"webhookUrl": {"name": "s", "key": "k"}}})
    ding = _channel("ding", {"type": "dingtalk", "dingtalk": {"webhookUrl": {"name": "s", "key": "k"}}})
    nokey = _channel("nokey", {"type": "slack", "slack": {"apiUrl": {"name": "absent", "key": "k"}}})
    fine = _channel("fine", {"type": "webhook", "webhook": {"url": "http://x"}, "route": {}})

    def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
        return "https://example.com/hook" if ref.name == "s" else None

    result = render_alertmanager(_cluster("0.25.0"), [teams, ding, nokey, fine], [], resolve)
    assert {str(ref): reasons for ref, reasons in result.problems.items()} == {
        "NotificationChannel a/ding": [
            "type dingtalk is delivered by the AlertAgent gateway, which this cluster has none of"
        ],
        "NotificationChannel a/nokey": ["secret a/absent key k not found"],
        "NotificationChannel a/teams": ["Alertmanager 0.25 has no msteams receiver (needs >= 0.26)"],
    }
    assert [r["name"] for r in result.config["receivers"]] == ["a/fine", "alertagent/null"]
    assert result.counts == {"receivers": 2, "routes": 2, "inhibitRules": 0}  # the route and its test route
    with_gateway = render_alertmanager(_cluster("0.27.0"), [teams, ding], [], resolve, gateway_url="http://gw:8080")
    assert with_gateway.problems == {}
    ding_receiver = next(r for r in with_gateway.config["receivers"] if r["name"] == "a/ding")
    assert ding_receiver["webhook_configs"][0]["url"] == "http://gw:8080/api/v1/webhooks/a/ding"


def test_namespace_isolation_none_adds_no_matchers() -> None:
    fine = _channel(
        "fine",
        {"type": "webhook", "webhook": {"url": "http://x"}, "route": {"matchers": [{"name": "a", "value": "b"}]}},
    )
    result = render_alertmanager(_cluster(namespaceIsolation="None"), [fine], [], lambda ns, ref: None)
    assert _split_test_routes(result.config["route"]["routes"])[1] == [{"receiver": "a/fine", "matchers": ['a="b"']}]


def test_channel_naming_an_unknown_time_interval_is_left_out_alone() -> None:
    route = {"muteTimeIntervals": ["team/none/such"]}
    lost = _channel("lost", {"type": "webhook", "webhook": {"url": "http://x"}, "route": route})
    result = render_alertmanager(_cluster(), [lost], [], lambda ns, ref: None)
    assert "team/none/such" in result.problems[ObjectRef("NotificationChannel", "a", "lost")][0]
    assert [r["name"] for r in result.config["receivers"]] == ["alertagent/null"]
