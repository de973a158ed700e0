"""`alertagent render` builds the service graph from the application manifests it is given, as the
operator's discovery does, and renders the dependency inhibit rules the operator renders (pure)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from alertagent.cli import main
from alertagent.manifests import load_manifests
from alertagent.plans.offline import render_manifests
from alertagent.render.rules import rule_file_name

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# examples/discovery: frontend → api → database in `shop`. Its policy `shop/dependencies` is a tenant's
# (scoped to `shop`); examples/basic's `default/api-maintenance` is in the cluster's namespace and its
# matchers (`service="api"`) keep the api alone on the inhibited side.
EXAMPLE_RULES = [
    {
        "equal": ["namespace"],
        "source_matchers": ['alertname="DatabaseDown"'],
        "target_matchers": ['severity=~"warning|info"'],
    },
    {
        "source_matchers": ['severity="critical"', 'service="database"', 'namespace="shop"'],
        "target_matchers": ['service="api"', 'namespace="shop"'],
    },
    {
        "source_matchers": ['namespace="shop"', 'severity="critical"', 'service="api"'],
        "target_matchers": ['namespace="shop"', 'service="frontend"'],
    },
    {
        "source_matchers": ['namespace="shop"', 'severity="critical"', 'service="database"'],
        "target_matchers": ['namespace="shop"', 'service=~"api|frontend"'],
    },
]
# The one warning: the DingTalk channel's bearer token is the operator's (kept in the cluster's
# channels Secret), which the input files cannot hold.
GATEWAY_TOKEN_WARNING = (
    "default/main: gateway bearer token of shop/oncall-dingtalk (the operator generates it) not in the "
    "input files: a placeholder was written"
)


MAIN = PurePosixPath("default/main/alertmanager.yaml")


def test_the_discovery_example_renders_its_dependency_inhibit_rules() -> None:
    objects = load_manifests([EXAMPLES / "basic", EXAMPLES / "discovery"])
    result = render_manifests(objects)
    assert result.all_valid
    config = yaml.safe_load(result.files[MAIN])
    assert config["inhibit_rules"] == EXAMPLE_RULES
    assert [w for r in result.reports for w in r.warnings] == [GATEWAY_TOKEN_WARNING]


def test_the_cli_renders_them_from_the_files_the_user_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["render", "-f", str(EXAMPLES / "basic"), "-f", str(EXAMPLES / "discovery"), "-o", str(out)])
    assert code == 0
    assert yaml.safe_load((out / "default/main/alertmanager.yaml").read_text())["inhibit_rules"] == EXAMPLE_RULES
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [f"warning: NotificationChannel shop/oncall-dingtalk: {GATEWAY_TOKEN_WARNING}"]


def test_a_dependency_policy_without_application_manifests_is_a_warning() -> None:
    """Without Services nothing can be generated; the report says so instead of rendering silently less
    than the operator would."""
    result = render_manifests(load_manifests([EXAMPLES / "basic"]))
    policy = next(r for r in result.reports if r.kind == "SuppressionPolicy")
    assert result.all_valid
    assert policy.warnings == [
        "default/main: dependencySuppression generated no inhibit rules: the input files hold no Service "
        "(pass the application manifests too)"
    ]


def _cluster_and_policy() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": "default"},
            "spec": {"alertmanager": {"url": "http://am:9093"}},
        },
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "SuppressionPolicy",
            "metadata": {"name": "deps", "namespace": "default"},
            "spec": {"dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}]}},
        },
    ]


def _service(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"selector": {"app": name}},
    }


def test_the_graph_reads_what_the_operator_reads() -> None:
    """AlertAgent's own objects are left out (the operator's discovery skips them); an object whose facts
    cannot be read is skipped with a warning, the rest still counts."""
    config_of = {"app": "web"}  # an unused ConfigMap labelled with a Service's name counts for that Service
    app = [
        _service("web"),
        _service("db"),
        {"kind": "ConfigMap", "metadata": {"name": "web-config", "labels": config_of}, "data": {"DB_HOST": "db"}},
        {"kind": "Deployment", "metadata": {"name": "odd"}, "spec": {"template": {"spec": {"containers": "oops"}}}},
    ]
    ours = {
        "kind": "ConfigMap",
        "metadata": {"name": "shard", "labels": {"app": "db", "app.kubernetes.io/managed-by": "alertagent"}},
        "data": {"UPSTREAM_HOST": "web"},
    }
    for obj in [*app, ours]:
        obj.setdefault("apiVersion", "v1")
        obj["metadata"].setdefault("namespace", "default")
    result = render_manifests([*_cluster_and_policy(), *app, ours])
    config = yaml.safe_load(result.files[MAIN])
    assert config["inhibit_rules"] == [  # db → web only: the managed ConfigMap's web ← db edge is not there
        {
            "source_matchers": ['severity="critical"', 'service="db"', 'namespace="default"'],
            "target_matchers": ['service="web"', 'namespace="default"'],
        }
    ]
    odd = next(r for r in result.reports if r.name == "odd")
    assert (odd.kind, odd.valid) == ("Deployment", True)
    assert odd.warnings and odd.warnings[0].startswith("discovery skipped it:")


def test_manifests_as_kubectl_prints_them_load_and_objects_live_nowhere_are_reported(tmp_path: Path) -> None:
    """`kubectl get -o yaml` prints `matchType: =` bare (YAML 1.1's value tag to PyYAML, a string to
    Kubernetes); a rule whose `targets` names a cluster the input lacks is an error (the operator's
    UnknownTarget), one no cluster selects a warning (NotSelected)."""
    (tmp_path / "objects.yaml").write_text(
        """
apiVersion: alertagent.io/v1alpha1
kind: AlertmanagerCluster
metadata: {name: main, namespace: monitoring}
spec:
  alertmanager: {url: "http://am:9093"}
  selectors: {alertRules: {namespaces: [shop]}}
---
apiVersion: alertagent.io/v1alpha1
kind: NotificationChannel
metadata: {name: pager, namespace: shop}
spec:
  type: webhook
  webhook: {url: "http://hook"}
  route:
    matchers:
    - name: severity
      value: critical
      matchType: =
---
apiVersion: alertagent.io/v1alpha1
kind: AlertRule
metadata: {name: typo, namespace: shop}
spec:
  targets: [monitoring/mian]
  groups: [{name: g, rules: [{alert: A, expr: "vector(1)"}]}]
---
apiVersion: alertagent.io/v1alpha1
kind: AlertRule
metadata: {name: orphan, namespace: other}
spec:
  groups: [{name: g, rules: [{alert: B, expr: "vector(1)"}]}]
"""
    )
    result = render_manifests(load_manifests([tmp_path]))
    reports = {r.name: r for r in result.reports}
    assert reports["pager"].valid and not reports["pager"].warnings
    assert not reports["typo"].valid and "monitoring/mian" in reports["typo"].errors[0]
    assert reports["orphan"].valid and reports["orphan"].warnings[0].startswith("NotSelected")


def _broken_rule(expr: str) -> dict[str, Any]:
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertRule",
        "metadata": {"name": "bad", "namespace": "shop"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]},
    }


@pytest.mark.parametrize("expr", ["rate(foo[5m]", "sum(foo) by ("])
def test_invalid_promql_with_no_evaluator_to_judge_it_is_an_error(expr: str) -> None:
    # promql-parser's refusal is deferred to a vmalert evaluator's dry run (MetricsQL); with no cluster in
    # the input nothing judged the rule, and a CI job running `alertagent render` must not pass it.
    result = render_manifests([_broken_rule(expr)])
    assert not result.all_valid
    (report,) = result.reports
    assert report.errors and "invalid PromQL" in report.errors[0]
    assert "no vmalert evaluator in the input judged it" in report.errors[0]


def test_invalid_promql_judged_by_an_evaluator_is_reported_once_by_it() -> None:
    cluster = next(o for o in load_manifests([EXAMPLES / "basic"]) if o["kind"] == "AlertmanagerCluster")
    rule = _broken_rule("rate(foo[5m]")
    rule["metadata"]["namespace"] = cluster["metadata"]["namespace"]
    rule["metadata"]["labels"] = {"alertagent.io/cluster": "main"}  # the cluster's rule selector
    result = render_manifests([cluster, rule])
    report = next(r for r in result.reports if r.kind == "AlertRule")
    assert not report.valid
    assert not any("no vmalert evaluator" in e for e in report.errors), report.errors
    assert any(e.startswith("default/main/") and "invalid PromQL" in e for e in report.errors), report.errors


def test_a_misspelt_kind_of_ours_is_an_error_and_a_prometheus_rule_a_warning() -> None:
    # A CI gate must not pass what the API server refuses (`AlertRules`) or what renders nothing unsaid.
    typo = {"apiVersion": "alertagent.io/v1alpha1", "kind": "AlertRules", "metadata": {"name": "x"}, "spec": {}}
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "pr"}}
    result = render_manifests([typo, rule])
    assert not result.all_valid
    by_kind = {r.kind: r for r in result.reports}
    assert by_kind["AlertRules"].errors[0].startswith("no kind AlertRules in alertagent.io (kinds: AlertRule,")
    assert by_kind["PrometheusRule"].valid and "alertagent convert -f" in by_kind["PrometheusRule"].warnings[0]


def test_the_cli_fails_on_a_file_that_does_not_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for example in (EXAMPLES / "basic").glob("*.yaml"):
        (tmp_path / example.name).write_text(example.read_text())
    (tmp_path / "broken.yaml").write_text("a: [\n")
    (tmp_path / "values.yaml").write_text("replicas: 2\n")  # no object: skipped, not an error
    assert main(["render", "-f", str(tmp_path), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'broken.yaml'}: skipped: invalid YAML" in err
    assert f"warning: {tmp_path / 'values.yaml'}: skipped" in err
    (tmp_path / "broken.yaml").unlink()
    assert main(["render", "-f", str(tmp_path), "-o", str(tmp_path / "out")]) == 0


def _selected_rule(namespace: str, name: str, alert: str) -> dict[str, Any]:
    rule = _broken_rule("up == 0")
    rule["metadata"] = {"name": name, "namespace": namespace, "labels": {"alertagent.io/cluster": "main"}}
    rule["spec"]["groups"][0]["rules"][0]["alert"] = alert
    return rule


@pytest.mark.parametrize(
    ("namespace", "name", "field", "message"),
    [
        ("team", "a_x", "metadata.name", '"a_x" is not a Kubernetes name'),
        ("team_a", "x", "metadata.namespace", '"team_a" is not a namespace name'),
        ("default", "Upper", "metadata.name", '"Upper" is not a Kubernetes name'),
        ("default", "a..b", "metadata.name", '"a..b" is not a Kubernetes name'),
        ("team.a", "x", "metadata.namespace", '"team.a" is not a namespace name'),
        ("default", "x" * 254, "metadata.name", "at most 253 characters"),
        ("n" * 64, "x", "metadata.namespace", "at most 63 characters"),
        ("default", "", "metadata.name", "required"),
    ],
)
def test_a_name_the_api_server_refuses_is_an_error_and_renders_nothing(
    namespace: str, name: str, field: str, message: str
) -> None:
    # `team/a_x` and `team_a/x` would both be `team_a_x.yaml`: one rule silently lost, exit 0.
    cluster = next(o for o in load_manifests([EXAMPLES / "basic"]) if o["kind"] == "AlertmanagerCluster")
    result = render_manifests([cluster, _selected_rule(namespace, name, "Bad"), _selected_rule("default", "ok", "Ok")])
    bad = next(r for r in result.reports if r.kind == "AlertRule" and r.name == name)
    assert not bad.valid and not result.all_valid
    assert any(e.startswith(f"{field}: ") and message in e for e in bad.errors), bad.errors
    rule_files = {path.name: text for path, text in result.files.items() if path.name != "alertmanager.yaml"}
    assert set(rule_files) == {"default_ok.yaml"}
    assert "Bad" not in rule_files["default_ok.yaml"]


def test_two_rules_whose_names_once_collided_both_render_when_valid() -> None:
    cluster = next(o for o in load_manifests([EXAMPLES / "basic"]) if o["kind"] == "AlertmanagerCluster")
    result = render_manifests([cluster, _selected_rule("team", "a-x", "One"), _selected_rule("team-a", "x", "Two")])
    assert result.all_valid, [r.errors for r in result.reports]
    names = {path.name for path in result.files if path.name != "alertmanager.yaml"}
    assert names == {"team-a_x.yaml", "team_a-x.yaml"}


def test_an_object_twice_in_the_input_is_an_error_once_and_neither_copy_is_rendered() -> None:
    cluster = next(o for o in load_manifests([EXAMPLES / "basic"]) if o["kind"] == "AlertmanagerCluster")
    copies = [_selected_rule("default", "x", "One"), _selected_rule("default", "x", "Two")]
    result = render_manifests([cluster, *copies, _selected_rule("default", "y", "Other")])
    reports = [r for r in result.reports if r.kind == "AlertRule"]
    assert [(r.name, r.valid) for r in reports] == [("x", False), ("y", True)]
    assert reports[0].errors == [
        "AlertRule default/x is in the input 2 times (kubectl apply would keep only the last): none is rendered"
    ]
    assert {path.name for path in result.files if path.name != "alertmanager.yaml"} == {"default_y.yaml"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (123, "metadata.name: expected a string, got 123: quote it"),
        (["a"], 'metadata.name: expected a string, got ["a"]: quote it'),
        (True, "metadata.name: expected a string, got true: quote it"),
    ],
)
def test_a_name_yaml_made_something_else_is_an_error_not_a_crash(name: Any, message: str) -> None:
    rule = _selected_rule("default", "x", "A")
    rule["metadata"]["name"] = name
    (report,) = render_manifests([rule]).reports
    assert not report.valid and report.errors == [message]


def test_the_longest_valid_names_render_into_distinct_files_a_config_map_can_hold() -> None:
    # `<63-char namespace>_<253-char name>.yaml` is longer than a ConfigMap key (253) and a file name
    # (255 bytes) may be: it crashed `alertagent render` (File name too long).
    cluster = next(o for o in load_manifests([EXAMPLES / "basic"]) if o["kind"] == "AlertmanagerCluster")
    cluster["spec"].pop("ruleNamespaceSelector", None)
    namespace, long_a, long_b = "n" * 63, "a" * 252 + "b", "a" * 252 + "c"
    rules = [_selected_rule(namespace, long_a, "One"), _selected_rule(namespace, long_b, "Two")]
    names = {rule_file_name(namespace, long_a), rule_file_name(namespace, long_b)}
    assert len(names) == 2 and all(len(n) <= 253 and n.startswith(f"{namespace}_aaa") for n in names)
    result = render_manifests([cluster, *rules])
    assert [r.errors for r in result.reports if r.kind == "AlertRule"] == [[], []]
    assert names <= {path.name for path in result.files}
