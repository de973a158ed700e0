"""`alertagent convert`: prometheus-operator PrometheusRules and AlertmanagerConfigs into AlertAgent
objects, on a realistic set (tests/fixtures/convert/), each case against a golden output and its
report lines exactly; then the mapping rules one by one on small inline objects.

To regenerate the golden outputs after an intended change, then review the diff of
tests/fixtures/convert/golden/:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_convert.py
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertagent.api import AlertmanagerCluster
from alertagent.cli import main
from alertagent.convert import convert_manifests
from alertagent.manifests import load_manifests
from alertagent.plans.offline import render_manifests
from alertagent.render.validation import parse_alert_rule

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "convert"
GOLDEN = FIXTURES / "golden"
TEAM_A = "AlertmanagerConfig team-a/team-a: "
PAYMENTS = "AlertmanagerConfig team-b/payments: "
APPS = "PrometheusRule monitoring/kubernetes-apps: "
SKIPPED = "skipped: neither a PrometheusRule nor an AlertmanagerConfig"

CASES: dict[str, tuple[str, int, list[str]]] = {
    # kube-prometheus style rules: everything maps except Thanos' partial_response_strategy, a field
    # no CRD version has, an empty group, and the rules AlertAgent's validation refuses.
    "kube-prometheus": (
        "prometheusrules",
        1,
        [
            APPS + "spec.groups[0].rules[2].expr: not converted: invalid PromQL: invalid promql query",
            APPS + "spec.groups[0].rules[2].severity: unknown field: not a field of prometheus-operator's Rule",
            APPS + "spec.groups[1]: not converted: none of its rules is valid",
            APPS + "spec.groups[1].rules[0]: not converted: a recording rule cannot have for, keep_firing_for or "
            "annotations",
            APPS + "spec.groups[2]: a group without rules: an AlertRule group needs at least one rule",
            "PrometheusRule monitoring/kubernetes-system-kubelet: spec.groups[0].partial_response_strategy: Thanos "
            "Ruler only (how a rule treats partial query responses): AlertAgent's evaluators are Prometheus and "
            "vmalert, which ignore it",
        ],
    ),
    "node-exporter": ("prometheusrules/node-exporter.yaml", 0, []),
    # Receivers with several integrations, on a child route and below a continuing route: nothing lost.
    "multi-integration": ("multi-integration/receivers.yaml", 0, []),
    "team-a": (
        "alertmanagerconfigs/team-a.yaml",
        1,
        [
            TEAM_A + "spec.receivers[0].slackConfigs[0].actions: no equivalent in AlertAgent's slack channel",
            TEAM_A + "spec.receivers[1].pagerdutyConfigs[0].details: no equivalent in AlertAgent's pagerduty channel",
            TEAM_A + "spec.receivers[2].emailConfigs[0].hello: no equivalent in AlertAgent's email channel",
            TEAM_A + "spec.receivers[4].webhookConfigs[0].httpConfig.tlsConfig: AlertAgent's webhook channel has no "
            "such HTTP client setting",
            TEAM_A + "spec.route.routes: AlertAgent tries these routes' channels in this order (team-a-ci-webhook, "
            "team-a-email, team-a-pagerduty), not as listed (team-a-pagerduty, team-a-email, team-a-ci-webhook): a "
            "route that does not continue takes what it matches from those after it",
        ],
    ),
    "payments": (
        "alertmanagerconfigs/payments.yaml",
        1,
        [
            PAYMENTS + "spec.inhibitRules[1]: not converted: a matcher is invalid",
            PAYMENTS + "spec.inhibitRules[1].sourceMatch[0]: not converted: value: error parsing regexp: missing "
            "closing ): `^(?:Kube(Node|Pod)$`",
            PAYMENTS
            + "spec.receivers[1].opsgenieConfigs[0].responders: no equivalent in AlertAgent's opsgenie channel",
            PAYMENTS + "spec.receivers[2].webhookConfigs[0].httpConfig.basicAuth: the user name is a Secret reference; "
            "AlertAgent's basicAuth takes it as text (spec.webhook.basicAuth.username, the password a secretKeyRef): "
            "not converted",
            PAYMENTS + "spec.receivers[3].victoropsConfigs[0]: VictorOps: AlertAgent has no such channel type",
            PAYMENTS + "spec.route.routes[2]: not converted: no integration of receiver 'victorops' converts",
        ],
    ),
    # Other kinds are skipped (exit 0: nothing that converts was lost); a PrometheusRule of an
    # unknown version is not converted (exit 1).
    "mixed": (
        "mixed",
        1,
        [
            "PrometheusRule monitoring/future: apiVersion: monitoring.coreos.com/v2: not converted (known: "
            "monitoring.coreos.com/v1)",
            "ConfigMap monitoring/grafana-dashboards: kind: " + SKIPPED,
            "ServiceMonitor monitoring/node-exporter: kind: " + SKIPPED,
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_case(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    """stdout is the golden YAML, stderr exactly the report lines, the exit code as documented."""
    source, code, lines = CASES[case]
    assert main(["convert", "-f", str(FIXTURES / source)]) == code
    out, err = capsys.readouterr()
    assert err.splitlines() == lines
    golden = GOLDEN / f"{case}.yaml.golden"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out)
    assert golden.exists(), f"{golden} is missing (UPDATE_GOLDEN=1 to write it)"
    assert out == golden.read_text()


def _all() -> list[dict[str, Any]]:
    return convert_manifests(load_manifests([FIXTURES], warn=lambda _: None)).objects


def test_output_passes_alertagent_validation() -> None:
    """Every converted AlertRule passes the operator's rule validation (schema, PromQL, templates), and the
    operator's offline renderer takes every converted object without a problem."""
    objects = _all()
    assert {o["kind"] for o in objects} == {"AlertRule", "NotificationChannel", "SuppressionPolicy"}
    for obj in objects:
        if obj["kind"] == "AlertRule":
            assert parse_alert_rule(obj)[1] == []
    cluster = AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {
                "alertmanager": {"url": "http://alertmanager:9093", "version": "0.27.0"},
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": "http://prometheus:9090"}],
                "global": {"smtp": {"smarthost": "smtp.example.com:587", "from": "alertmanager@example.com"}},
            },
        }
    ).to_wire()
    result = render_manifests([cluster, *objects])
    assert [(r.kind, r.name, r.errors) for r in result.reports if not r.valid] == []
    config = yaml.safe_load(result.files[Path("monitoring/main/alertmanager.yaml")])
    receivers = {r["name"] for r in config["receivers"]}
    assert {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objects if o["kind"] == "NotificationChannel"
    } <= receivers
    assert {ti["name"] for ti in config["time_intervals"]} == {
        "team-a/team-a/maintenance",
        "team-a/team-a/business-hours",
        "team-b/payments/weekends",
        "team-b/payments/holidays-1",
        "team-b/payments/holidays-2",
    }


def test_output_is_deterministic_whatever_the_input_order() -> None:
    manifests = load_manifests([FIXTURES], warn=lambda _: None)
    forward = convert_manifests(manifests)
    backward = convert_manifests(reversed(load_manifests([FIXTURES], warn=lambda _: None)))
    assert forward.yaml() == backward.yaml()
    assert forward.report_lines() == backward.report_lines()
    keys = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in forward.objects]
    assert keys == sorted(keys)


def test_output_dir_and_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-o DIR` writes one file per object; `-f -` reads stdin."""
    text = (FIXTURES / "alertmanagerconfigs" / "payments.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["convert", "-f", "-", "-o", str(tmp_path)]) == 1
    assert capsys.readouterr().out == ""
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.yaml")) == [
        "team-b/notificationchannel-payments-opsgenie.yaml",
        "team-b/notificationchannel-payments-payments-hooks-slack.yaml",
        "team-b/notificationchannel-payments-payments-hooks-webhook.yaml",
        "team-b/notificationchannel-payments-teams.yaml",
        "team-b/suppressionpolicy-payments.yaml",
    ]
    policy = yaml.safe_load((tmp_path / "team-b" / "suppressionpolicy-payments.yaml").read_text())
    assert policy["kind"] == "SuppressionPolicy"


def test_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "-f", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing.yaml'}: no such file or directory\n"
    (tmp_path / "broken.yaml").write_text("groups: [\n")
    (tmp_path / "rule.yaml").write_text((FIXTURES / "prometheusrules" / "node-exporter.yaml").read_text())
    assert main(["convert", "-f", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "kind: AlertRule" in out  # what was readable is still converted
    assert err.startswith(f"error: {tmp_path / 'broken.yaml'}: skipped: invalid YAML")


# The mapping rules, one by one.


def _convert(spec: dict[str, Any], version: str = "v1alpha1") -> tuple[list[dict[str, Any]], list[str]]:
    obj = {
        "apiVersion": f"monitoring.coreos.com/{version}",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": "cfg", "namespace": "ns"},
        "spec": spec,
    }
    result = convert_manifests([obj])
    return result.objects, [line.removeprefix("AlertmanagerConfig ns/cfg: ") for line in result.report_lines()]


def _channels(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NotificationChannel"}


SLACK = {"apiURL": {"name": "s", "key": "url"}}
NS = {"name": "namespace", "value": "ns"}


def test_child_routes_are_exclusive_and_the_top_level_route_excludes_continuing_children() -> None:
    """Alertmanager delivers to a route only what none of its children matches: a child that does not
    continue becomes an exclusive channel (tried first); one that continues is excluded from the
    top-level channel by a negated matcher."""
    objects, report = _convert(
        {
            "route": {
                "receiver": "all",
                "routes": [
                    {"receiver": "crit", "matchers": [{"name": "severity", "value": "critical"}]},
                    {"receiver": "info", "matchers": [{"name": "severity", "value": "info"}], "continue": True},
                ],
            },
            "receivers": [{"name": n, "slackConfigs": [SLACK]} for n in ("all", "crit", "info")],
        }
    )
    assert report == []
    channels = _channels(objects)
    assert channels["cfg-all"]["route"] == {
        "matchers": [NS, {"name": "severity", "value": "info", "matchType": "!="}],
        "continue": True,
    }
    assert channels["cfg-crit"]["route"] == {
        "matchers": [NS, {"name": "severity", "value": "critical"}],
        "exclusive": True,
    }
    assert channels["cfg-info"]["route"]["continue"] is True
    assert all(c["sendResolved"] is False for c in channels.values())  # Alertmanager's default for slack


def test_top_level_namespace_matcher_is_replaced_as_prometheus_operator_does() -> None:
    objects, report = _convert(
        {
            "route": {
                "receiver": "r",
                "matchers": [
                    {"name": "namespace", "value": "other"},
                    {"name": "namespace", "value": "x", "matchType": "!="},
                ],
            },
            "receivers": [{"name": "r", "webhookConfigs": [{"url": "http://hook.ns.svc/"}]}],
        }
    )
    assert report == []
    assert _channels(objects)["cfg-r"]["route"]["matchers"] == [
        NS,
        {"name": "namespace", "value": "x", "matchType": "!="},
    ]


def test_a_receiver_with_several_integrations_becomes_one_channel_each_all_but_the_last_continuing() -> None:
    objects, _ = _convert(
        {
            "route": {"receiver": "top", "routes": [{"receiver": "multi", "matchers": [{"name": "a", "value": "b"}]}]},
            "receivers": [
                {"name": "top"},
                {"name": "multi", "slackConfigs": [SLACK, SLACK], "webhookConfigs": [{"url": "http://h.ns.svc/"}]},
            ],
        }
    )
    channels = _channels(objects)
    assert sorted(channels) == ["cfg-multi-slack-1", "cfg-multi-slack-2", "cfg-multi-webhook"]
    assert [channels[n]["route"].get("continue", False) for n in sorted(channels)] == [True, True, False]


def _matcher_text(m: dict[str, Any]) -> str:
    return f"{m['name']}{m.get('matchType', '=~' if m.get('regex') else '=')}{json.dumps(m['value'])}"


def _upstream_route(route: dict[str, Any], namespace: str, top: bool) -> dict[str, Any]:
    """An AlertmanagerConfig route as prometheus-operator renders it (pkg/alertmanager/amcfg.go): receivers
    `<namespace>/<object>/<name>` (here without the object: one per receiver name), the namespace matcher
    and `continue: true` on the top-level route."""
    matchers = [_matcher_text(m) for m in route.get("matchers", [])]
    return {
        "receiver": route["receiver"],
        "matchers": [f'namespace="{namespace}"', *matchers] if top else matchers,
        "continue": True if top else route.get("continue", False),
        "routes": [_upstream_route(r, namespace, False) for r in route.get("routes", [])],
    }


def _amtool_routes(config: dict[str, Any], labels: dict[str, str], tmp_path: Path) -> set[str]:
    """The receivers Alertmanager's own route tree gives an alert (`amtool config routes test`)."""
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={path}", *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name for name in out.strip().split(",") if name}


@pytest.mark.parametrize(
    ("source", "labels", "receivers"),
    [
        ("ops", {"severity": "critical"}, {"critical"}),  # slack + pagerduty
        ("ops", {"severity": "info"}, {"default"}),
        ("pagers", {"severity": "critical", "service": "db"}, {"db-pager"}),  # nested: pagerduty + slack
        ("pagers", {"severity": "critical", "service": "web"}, {"pager"}),
        ("pagers", {"severity": "warning", "env": "dev"}, {"chat"}),
        ("pagers", {"severity": "warning", "env": "prod"}, {"default"}),
        ("pagers", {"alertname": "Watchdog"}, {"null"}),  # no integration: delivered nowhere
    ],
)
def test_an_alert_reaches_every_integration_of_the_receivers_the_original_tree_gives_it(
    source: str, labels: dict[str, str], receivers: set[str], tmp_path: Path
) -> None:
    """amtool on the original tree (as prometheus-operator renders it) and on the Alertmanager config the
    operator's offline renderer makes of the converted objects: an alert the original delivers to N
    receivers reaches every converted channel of those N (one per integration), and no other."""
    objects = load_manifests([FIXTURES / "multi-integration"], warn=lambda _: None)
    original = next(o for o in objects if o["metadata"]["name"] == source)
    ns = original["metadata"]["namespace"]
    alert = {"namespace": ns, "alertname": "Test", **labels}
    upstream = {
        "route": {"receiver": "root", "routes": [_upstream_route(original["spec"]["route"], ns, True)]},
        "receivers": [{"name": "root"}, *({"name": r["name"]} for r in original["spec"]["receivers"])],
    }
    assert _amtool_routes(upstream, alert, tmp_path) == receivers
    result = convert_manifests(objects)
    assert result.report_lines() == []
    cluster = AlertmanagerCluster.model_validate(
        {"metadata": {"name": "main", "namespace": "monitoring"}, "spec": {"alertmanager": {"url": "http://am:9093"}}}
    ).to_wire()
    rendered = render_manifests([cluster, *result.objects])
    assert [(r.kind, r.name, r.errors) for r in rendered.reports if not r.valid] == []
    config = yaml.safe_load(rendered.files[Path("monitoring/main/alertmanager.yaml")])
    channels = {  # each source receiver's integrations, as converted channels (`<object>-<receiver>[-<type>]`)
        r["name"]: {f"{ns}/{source}-{r['name']}" + (f"-{k.removesuffix('Configs')}" if len(ks) > 1 else "") for k in ks}
        for r in original["spec"]["receivers"]
        for ks in [[k for k in r if k.endswith("Configs")]]
    }
    expected = set().union(*(channels[r] for r in receivers))
    assert len(expected) == sum(len(channels[r]) for r in receivers)
    assert _amtool_routes(config, alert, tmp_path) == (expected or {"alertagent/null"})


def test_channels_of_two_alertmanagerconfigs_in_one_namespace_that_starve_each_other_are_reported() -> None:
    """Each AlertmanagerConfig's tree sees every alert in prometheus-operator; in AlertAgent a channel
    that does not continue takes what it matches from the namespace's channels tried after it."""
    objects = load_manifests([FIXTURES / "multi-integration"], warn=lambda _: None)
    for obj in objects:
        obj["metadata"]["namespace"] = "team-c"
    assert convert_manifests(objects).report_lines() == [
        f"AlertmanagerConfig team-c/{source}: (converted NotificationChannel {channel}) spec.route: does not "
        f"continue and is tried before channels of other AlertmanagerConfigs of this namespace ({others}): in "
        "prometheus-operator each AlertmanagerConfig sees every alert, here this channel takes what they both match"
        for source, channel, others in [
            (
                "ops",
                "ops-critical-slack",
                "pagers-chat, pagers-db-pager-pagerduty, pagers-db-pager-slack, pagers-pager, pagers-default",
            ),
            ("pagers", "pagers-chat", "ops-default"),
            ("pagers", "pagers-db-pager-slack", "ops-default"),
        ]
    ]


def test_what_one_level_of_routes_cannot_express_is_reported() -> None:
    """Siblings whose name order differs from their listed order, a nested route that continues, a
    continuing child the parent cannot exclude (two matchers), and a route to a receiver without
    integrations that other routes follow."""
    _, report = _convert(
        {
            "route": {
                "receiver": "top",
                "routes": [
                    {
                        "receiver": "mid",
                        "matchers": [{"name": "team", "value": "x"}],
                        "routes": [{"receiver": "deep", "matchers": [{"name": "a", "value": "b"}], "continue": True}],
                    },
                    {
                        "receiver": "both",
                        "matchers": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
                        "continue": True,
                    },
                    {"receiver": "drop", "matchers": [{"name": "alertname", "value": "Noise"}]},
                    {"receiver": "top", "matchers": [{"name": "z", "value": "z"}]},
                ],
            },
            "receivers": [
                {"name": "drop"},
                *({"name": n, "slackConfigs": [SLACK]} for n in ("top", "mid", "deep", "both")),
            ],
        }
    )
    assert report == [
        "spec.route.routes: AlertAgent tries these routes' channels in this order (cfg-both, cfg-mid, cfg-top-2), "
        "not as listed (cfg-mid, cfg-both, cfg-top-2): a route that does not continue takes what it matches from "
        "those after it",
        "spec.route.routes[0].routes[0]: nested below the first level and flattened into one channel route with the "
        "matchers and grouping of the routes above it; AlertAgent's one level of routes cannot keep the tree's "
        "precedence: it continues, so the channels of the routes above it, tried after it, also deliver what it takes",
        "spec.route.routes[1]: its route above cannot exclude what it matches (more than one matcher, and it "
        "continues or is not converted): that route's channel also gets these alerts",
        "spec.route.routes[2]: receiver 'drop' has no integrations (it discards what it takes): AlertAgent has no "
        "channel without a type, so these alerts reach the routes after it",
    ]


def test_time_intervals_become_windows_only_the_naming_routes_use() -> None:
    objects, report = _convert(
        {
            "route": {
                "receiver": "r",
                "routes": [
                    {
                        "receiver": "r",
                        "matchers": [{"name": "a", "value": "b"}],
                        "muteTimeIntervals": ["Night Shift", "never", "unknown"],
                    }
                ],
            },
            "receivers": [{"name": "r", "slackConfigs": [SLACK]}],
            "timeIntervals": [
                {
                    "name": "Night Shift",
                    "timeIntervals": [
                        {"times": [{"startTime": "00:00", "endTime": "06:00"}], "weekdays": ["monday:friday"]},
                        {"daysOfMonth": [{"start": -1}], "months": ["1:3"], "years": ["2026"]},
                    ],
                },
                {"name": "never", "timeIntervals": []},
            ],
        },
        version="v1beta1",
    )
    assert report == [
        "spec.route.routes[0].muteTimeIntervals[2]: names no time interval of this AlertmanagerConfig: left out",
        "spec.timeIntervals[1]: no time periods (never active): not converted; routes naming it go without",
    ]
    policy = next(o["spec"] for o in objects if o["kind"] == "SuppressionPolicy")
    assert policy["matchers"] == [{"name": "alertname", "matchType": "!~", "value": ".*"}]  # mutes nothing itself
    assert policy["maintenanceWindows"] == [
        {
            "name": "night-shift-1",
            "recurring": {"times": [{"startTime": "00:00", "endTime": "06:00"}], "weekdays": ["monday:friday"]},
        },
        {"name": "night-shift-2", "recurring": {"months": ["1:3"], "years": ["2026"], "daysOfMonth": ["-1"]}},
    ]
    assert _channels(objects)["cfg-r-2"]["route"]["muteTimeIntervals"] == [
        "ns/cfg/night-shift-1",
        "ns/cfg/night-shift-2",
    ]


def test_inhibit_rules_are_scoped_to_the_namespace_on_both_sides() -> None:
    objects, report = _convert(
        {
            "inhibitRules": [
                {
                    "sourceMatch": [{"name": "severity", "value": "critical"}],
                    "targetMatch": [{"name": "alertname", "value": "Kube.*", "regex": True}],
                    "equal": ["service"],
                }
            ]
        }
    )
    assert report == []
    assert objects[0]["spec"] == {
        "inhibitRules": [
            {
                "sourceMatchers": [NS, {"name": "severity", "value": "critical"}],
                "targetMatchers": [NS, {"name": "alertname", "value": "Kube.*", "matchType": "=~"}],
                "equal": ["service"],
            }
        ]
    }


def test_receiver_fields_secrets_and_http_config() -> None:
    """SecretKeySelectors become secretKeyRefs (`optional` has no equivalent); a webhook's Bearer
    authorization becomes bearerToken and another type is reported; webex's bot token is its
    authorization; Alertmanager's defaults are no loss; a field of no CRD is unknown."""
    objects, report = _convert(
        {
            "receivers": [
                {
                    "name": "hook",
                    "webhookConfigs": [
                        {
                            "url": "http://h.ns.svc/",
                            "httpConfig": {
                                "authorization": {"type": "Basic", "credentials": {"name": "a", "key": "b"}},
                                "followRedirects": True,
                            },
                        },
                        {
                            "urlSecret": {"name": "u", "key": "url", "optional": True},
                            "httpConfig": {"authorization": {"credentials": {"name": "t", "key": "token"}}},
                            "sendResolved": False,
                        },
                    ],
                },
                {
                    "name": "webex",
                    "webexConfigs": [
                        {"roomID": "room", "httpConfig": {"authorization": {"credentials": {"name": "w", "key": "t"}}}}
                    ],
                },
                {
                    "name": "tg",
                    "telegramConfigs": [{"botToken": {"name": "tg", "key": "t"}, "chatID": 42, "color": "x"}],
                },
            ]
        },
        version="v1beta1",
    )
    assert report == [
        "spec.receivers[0].webhookConfigs[0].httpConfig.authorization: authorization type Basic: AlertAgent sends "
        "Bearer credentials only",
        "spec.receivers[0].webhookConfigs[1].urlSecret.optional: AlertAgent's secretKeyRef is never optional: a "
        "missing Secret or key keeps the channel out",
        "spec.receivers[2].telegramConfigs[0].color: unknown field: not a field of prometheus-operator's "
        "TelegramConfig",
    ]
    channels = _channels(objects)
    assert channels["cfg-hook-webhook-1"]["webhook"] == {"url": "http://h.ns.svc/"}
    assert channels["cfg-hook-webhook-2"] == {
        "type": "webhook",
        "webhook": {"urlSecret": {"name": "u", "key": "url"}, "bearerToken": {"name": "t", "key": "token"}},
        "sendResolved": False,
    }
    assert channels["cfg-webex"]["webex"] == {"roomId": "room", "botToken": {"name": "w", "key": "t"}}
    assert channels["cfg-tg"]["telegram"] == {"chatId": 42, "botToken": {"name": "tg", "key": "t"}}


def test_a_receiver_alertagent_refuses_is_reported_with_its_message() -> None:
    _, report = _convert(
        {"receivers": [{"name": "r", "emailConfigs": [{"to": "a@example.com", "smarthost": "nohost"}]}]}
    )
    assert report == [
        "spec.receivers[0].emailConfigs[0]: not converted: email.smarthost: String should match pattern "
        "'^(\\[[^\\[\\]]*\\]|[^:\\[\\]]*):[^:\\[\\]]+$'"
    ]


def test_group_labels_merge_into_rule_labels_the_rule_winning() -> None:
    result = convert_manifests(
        [
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {"name": "r", "namespace": "ns"},
                "spec": {
                    "groups": [
                        {
                            "name": "g",
                            "labels": {"team": "a", "severity": "warning", "bad": "{{ $value }}"},
                            "rules": [{"alert": "A", "expr": 1, "labels": {"severity": "critical"}}],
                        }
                    ]
                },
            }
        ]
    )
    assert result.report_lines() == [
        "PrometheusRule ns/r: spec.groups[0].labels.bad: a group label holding `{{`: as a rule label it would be a "
        "template"
    ]
    assert result.objects[0]["spec"]["groups"][0]["rules"] == [
        {"alert": "A", "expr": "1", "labels": {"team": "a", "severity": "critical"}}
    ]


def test_a_field_of_the_other_version_is_unknown() -> None:
    """v1beta1 renamed muteTimeIntervals to timeIntervals: the old name there is no field at all."""
    _, report = _convert({"muteTimeIntervals": [{"name": "x"}]}, version="v1beta1")
    assert report == [
        "spec.muteTimeIntervals: unknown field: not a field of prometheus-operator's AlertmanagerConfigSpec"
    ]
