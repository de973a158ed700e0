"""alertmanager.yaml rendering (pure), with a golden file (checked by the real amtool in the
integration suite)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from alertagent.api import AlertmanagerCluster, NotificationChannel, SuppressionPolicy
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
        "group_by": ["alertagent_test_channel", "alertagent_test_send"],
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
    tests = [r for r in routes if r.get("matchers", [""])[0].startswith("alertagent_test_channel=")]
    return tests, routes[len(tests) :]


def _cluster(version: str | None = None, **spec: object) -> AlertmanagerCluster:
    alertmanager = {"url": "http://am:9093", **({"version": version} if version else {})}
    return AlertmanagerCluster.model_validate(
        {"metadata": {"name": "c", "namespace": "m"}, "spec": {"alertmanager": alertmanager, **spec}}
    )


def _channel(name: str, spec: dict, namespace: str = "a") -> NotificationChannel:
    return NotificationChannel.model_validate({"metadata": {"name": name, "namespace": namespace}, "spec": spec})


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
            "type dingtalk is delivered by the AlertAgent gateway, which this cluster has none of "
            "(set spec.gateway.url of the AlertmanagerCluster)"
        ],
        "NotificationChannel a/nokey": ["secret a/absent key k not found"],
        "NotificationChannel a/teams": ["Alertmanager 0.25 has no msteams receiver (needs >= 0.26)"],
    }
    assert [r["name"] for r in result.config["receivers"]] == ["a/fine", "alertagent/null"]
    assert result.counts == {"receivers": 2, "routes": 2, "inhibitRules": 0}  # the route and its test route
    gateway = {"gateway": {"url": "http://gw:8083"}}
    tokens = {"a/ding": "t0ken"}
    with_gateway = render_alertmanager(_cluster("0.27.0", **gateway), [teams, ding], [], resolve, gateway_tokens=tokens)
    assert with_gateway.problems == {}
    ding_receiver = next(r for r in with_gateway.config["receivers"] if r["name"] == "a/ding")
    assert ding_receiver["webhook_configs"][0]["url"] == "http://gw:8083/api/v1/alerts/webhook/a/ding"


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


# Routing precedence. `_deliveries` walks the rendered tree as Alertmanager's dispatch/route.go
# `Route.Match` does, so these tests assert who gets an alert, not only the order of the routes.
_MATCHER = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"(.*)"$')


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    name, op, value = _MATCHER.fullmatch(matcher).groups()  # type: ignore[union-attr]
    actual = labels.get(name, "")
    hit = re.fullmatch(value, actual) is not None if "~" in op else actual == value
    return hit if op in ("=", "=~") else not hit


def _match(route: dict, labels: dict[str, str], inherited: str) -> list[tuple[str, tuple[str, ...]]]:
    """(receiver, mute intervals) of the routes an alert ends in: `Route.Match` (children in order, stop
    after a match whose route does not continue; the route itself when no child matched)."""
    if not all(_matches(m, labels) for m in route.get("matchers", [])):
        return []
    receiver = route.get("receiver", inherited)
    found: list[tuple[str, tuple[str, ...]]] = []
    for child in route.get("routes", []):
        matched = _match(child, labels, receiver)
        found += matched
        if matched and not child.get("continue", False):
            break
    return found or [(receiver, tuple(route.get("mute_time_intervals", [])))]


def _deliveries(config: dict, **labels: str) -> list[str]:
    """Receivers an alert with these labels is delivered to (muted routes included), in route order."""
    return [receiver for receiver, _ in _match(config["route"], labels, "")]


def _webhook(namespace: str, name: str, **route: object) -> NotificationChannel:
    return _channel(name, {"type": "webhook", "webhook": {"url": f"http://{name}"}, "route": route}, namespace)


def _critical(namespace: str, name: str, **route: object) -> NotificationChannel:
    return _webhook(namespace, name, matchers=[{"name": "severity", "value": "critical"}], **route)


def _config(
    channels: list[NotificationChannel], isolation: str = "OnNamespace", policies: tuple[SuppressionPolicy, ...] = ()
) -> dict:
    result = render_alertmanager(_cluster(namespaceIsolation=isolation), channels, policies, lambda ns, ref: None)
    assert not result.problems
    return result.config


@pytest.mark.parametrize("tenant", ["a-shop", "z-shop"])  # sorts before / after the cluster's namespace "m"
def test_a_tenant_channel_gets_its_alerts_and_a_cluster_wide_channel_a_copy(tenant: str) -> None:
    """Issue 12 item 2: a cluster-namespace channel matching severity="critical" (its `continue` left
    false) no longer swallows a tenant's critical alerts, whichever way the namespace names sort."""
    config = _config([_critical("m", "oncall"), _critical(tenant, "pager")])
    assert _deliveries(config, namespace=tenant, severity="critical") == ["m/oncall", f"{tenant}/pager"]
    assert _deliveries(config, namespace="m", severity="critical") == ["m/oncall"]  # no tenant's alert
    assert _deliveries(config, namespace=tenant, severity="warning") == ["alertagent/null"]
    oncall = _split_test_routes(config["route"]["routes"])[1][0]
    assert oncall["receiver"] == "m/oncall" and oncall["continue"] is True  # forced: a copy


@pytest.mark.parametrize("tenant", ["a-shop", "z-shop"])
def test_an_exclusive_cluster_wide_channel_takes_what_it_matches_from_tenants(tenant: str) -> None:
    config = _config([_critical("m", "oncall", exclusive=True), _critical(tenant, "pager")])
    assert _deliveries(config, namespace=tenant, severity="critical") == ["m/oncall"]


def test_precedence_exclusive_then_cluster_wide_copies_then_each_tenant() -> None:
    """Test-send routes, exclusive cluster-wide channels (by name, their own `continue`), cluster-wide
    copies (by name), then one group per namespace (exclusive ones first, then by name)."""
    channels = [
        _webhook("z-team", "chat", **{"continue": True}),
        _webhook("z-team", "pager", exclusive=True),
        _webhook("a-team", "chat"),
        _webhook("m", "zz-first", exclusive=True, **{"continue": True}),
        _webhook("m", "audit"),
        _webhook("m", "security", exclusive=True),
    ]
    tests, routes = _split_test_routes(_config(channels)["route"]["routes"])
    assert [r["receiver"] for r in tests] == sorted(str(ObjectRef.of(c).key) for c in channels)
    assert [(r["receiver"], r.get("continue", False)) for r in routes] == [
        ("m/security", False),
        ("m/zz-first", True),
        ("m/audit", True),
        ("a-team/chat", False),
        ("z-team/pager", False),
        ("z-team/chat", True),
    ]


def test_within_a_tenant_continue_decides_and_exclusive_only_goes_first_there() -> None:
    """A tenant's `exclusive` channel goes first among that tenant's channels and stops what it takes
    there alone; after it, the tenant's channels keep their own `continue` in name order."""
    channels = [
        _critical("shop", "a-chat", **{"continue": True}),
        _critical("shop", "b-mail"),
        _critical("shop", "c-never"),
        _webhook("shop", "z-pager", exclusive=True, matchers=[{"name": "page", "value": "yes"}]),
        _critical("blog", "z-chat"),
    ]
    config = _config(channels)
    assert _deliveries(config, namespace="shop", severity="critical") == ["shop/a-chat", "shop/b-mail"]
    assert _deliveries(config, namespace="shop", severity="critical", page="yes") == ["shop/z-pager"]
    assert _deliveries(config, namespace="blog", severity="critical", page="yes") == ["blog/z-chat"]


def test_without_namespace_isolation_cluster_channels_still_copy_and_others_keep_name_order() -> None:
    """`namespaceIsolation: None`: no tenants, so a channel that does not continue stops what it matches
    for every later channel in (namespace, name) order; the cluster namespace's channels still come
    first, exclusive ones taking, the others copying."""
    channels = [_critical("z-team", "pager"), _critical("a-team", "chat"), _critical("m", "oncall")]
    config = _config(channels, "None")
    assert _deliveries(config, namespace="z-team", severity="critical") == ["m/oncall", "a-team/chat"]
    channels[2] = _critical("m", "oncall", exclusive=True)
    assert _deliveries(_config(channels, "None"), namespace="z-team", severity="critical") == ["m/oncall"]


def test_a_window_still_mutes_a_cluster_wide_copy_and_the_tenant_still_gets_the_alert() -> None:
    """The per-policy window children of a cluster-wide route that continues only by force: the policy's
    alerts are muted on the cluster channel in the window and still reach the tenant's own channel."""
    policy = SuppressionPolicy.model_validate(
        {
            "metadata": {"name": "upgrade", "namespace": "z-shop"},
            "spec": {
                "matchers": [{"name": "service", "value": "api"}],
                "maintenanceWindows": [{"name": "w", "recurring": {"weekdays": ["sunday"]}}],
            },
        }
    )
    config = _config([_critical("m", "oncall"), _critical("z-shop", "pager")], policies=(policy,))
    labels = {"namespace": "z-shop", "severity": "critical", "service": "api"}
    assert _match(config["route"], labels, "") == [
        ("m/oncall", ("z-shop/upgrade/w",)),
        ("z-shop/pager", ("z-shop/upgrade/w",)),
    ]
    assert _match(config["route"], {**labels, "service": "web"}, "") == [("m/oncall", ()), ("z-shop/pager", ())]


def test_an_exempt_namespace_keeps_rule_labels_but_its_channels_stay_a_tenants() -> None:
    """`spec.tenancy.exemptNamespaces` is about rule labels: a channel of an exempt namespace other than
    the cluster's sees only its own namespace's alerts, so it can neither copy nor starve a tenant's
    (even with `exclusive: true`); the cluster's own namespace stays cluster-wide."""
    cluster = _cluster(tenancy={"exemptNamespaces": ["m", "platform"]})
    channels = [_critical("platform", "sre", exclusive=True), _critical("m", "oncall"), _critical("shop", "pager")]
    config = render_alertmanager(cluster, channels, [], lambda ns, ref: None).config
    assert _deliveries(config, namespace="shop", severity="critical") == ["m/oncall", "shop/pager"]
    assert _deliveries(config, namespace="platform", severity="critical") == ["m/oncall", "platform/sre"]
    routes = {r["receiver"]: r for r in _split_test_routes(config["route"]["routes"])[1]}
    assert routes["platform/sre"]["matchers"][0] == 'namespace="platform"'
