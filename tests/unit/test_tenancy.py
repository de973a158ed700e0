"""Tenant isolation of rule files (render.tenancy): which namespaces a cluster enforces its tenant label
on, the label on every rendered rule (alerting and recording, over what the rule says), and the opt-in
scoping of every selector, checked against promql-parser, a generated corpus and the real promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertagent.api import AlertmanagerCluster, AlertRule
from alertagent.clients.rulecheck import promtool_check
from alertagent.render.rules import render_rule_file
from alertagent.render.tenancy import ScopeError, Tenant, exempt_namespaces, scope_selectors, tenant_of

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
TEAM_A = Tenant("namespace", "team-a")
SCOPED_A = Tenant("namespace", "team-a", scope_selectors=True)


def cluster(**spec: Any) -> AlertmanagerCluster:
    return AlertmanagerCluster.model_validate(
        {
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {"alertmanager": {"url": "http://am:9093"}, **spec},
        }
    )


def alert_rule(*rules: dict[str, Any], namespace: str = "team-a") -> AlertRule:
    return AlertRule.model_validate(
        {
            "kind": "AlertRule",
            "metadata": {"name": "x", "namespace": namespace},
            "spec": {"groups": [{"name": "g", "rules": list(rules)}]},
        }
    )


def rendered_rules(text: str) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def test_tenants_are_every_namespace_but_the_clusters_own_under_on_namespace() -> None:
    amc = cluster()
    assert tenant_of(amc, "team-a") == Tenant("namespace", "team-a", False)
    assert tenant_of(amc, "monitoring") is None  # the platform's own rules watch every namespace
    assert exempt_namespaces(amc) == {"monitoring"}
    assert tenant_of(cluster(namespaceIsolation="None"), "team-a") is None
    assert tenant_of(cluster(namespaceLabel="tenant"), "team-a") == Tenant("tenant", "team-a", False)
    scoped = cluster(tenancy={"scopeSelectors": True})
    assert tenant_of(scoped, "team-a") == Tenant("namespace", "team-a", True)


def test_exempt_namespaces_replace_the_default() -> None:
    amc = cluster(tenancy={"exemptNamespaces": ["platform", "observability"]})
    assert tenant_of(amc, "platform") is None and tenant_of(amc, "observability") is None
    assert tenant_of(amc, "monitoring") == Tenant("namespace", "monitoring", False)  # listed ones only
    assert tenant_of(cluster(tenancy={"exemptNamespaces": []}), "monitoring") is not None


def test_every_rule_carries_the_tenant_label_over_what_it_says() -> None:
    rule = alert_rule(
        {"alert": "ClaimsB", "expr": "vector(1) > 0", "labels": {"namespace": "team-b", "severity": "page"}},
        {"alert": "NoLabels", "expr": "vector(1) > 0"},
        {"record": "team:errors:rate5m", "expr": "sum(rate(errors[5m]))", "labels": {"namespace": "team-b"}},
    )
    claims_b, no_labels, recording = rendered_rules(render_rule_file(rule, TEAM_A))
    # The test-send label is emptied too: no tenant's alert can take another channel's test-send route.
    assert claims_b["labels"] == {"namespace": "team-a", "severity": "page", "alertagent_test_channel": ""}
    assert no_labels["labels"] == {"namespace": "team-a", "alertagent_test_channel": ""}
    assert recording["labels"] == {"namespace": "team-a"}  # recorded series are the tenant's too
    assert [r["expr"] for r in (claims_b, no_labels, recording)] == [
        "vector(1) > 0",
        "vector(1) > 0",
        "sum(rate(errors[5m]))",
    ]  # selectors untouched unless the cluster scopes them
    assert rendered_rules(render_rule_file(rule))[0]["labels"]["namespace"] == "team-b"  # exempt: as written


def test_the_tenant_label_is_the_clusters_namespace_label() -> None:
    rule = alert_rule({"alert": "A", "expr": "up == 0", "labels": {"namespace": "team-b"}})
    (alert,) = rendered_rules(render_rule_file(rule, Tenant("tenant", "team-a")))
    assert alert["labels"] == {"namespace": "team-b", "tenant": "team-a", "alertagent_test_channel": ""}


def test_rendering_for_a_tenant_is_deterministic() -> None:
    rule = alert_rule({"alert": "A", "expr": "sum by (job) (rate(x[5m])) > 1", "labels": {"b": "1", "a": "2"}})
    again = AlertRule.model_validate(rule.to_wire())
    assert render_rule_file(rule, SCOPED_A) == render_rule_file(again, SCOPED_A)


@pytest.mark.parametrize(
    ("expr", "scoped"),
    [
        ("vector(1) > 0", "vector(1) > 0"),
        ("up", 'up{namespace="team-a"}'),
        ('up{namespace="team-b"} == 0', 'up{namespace="team-a"} == 0'),  # a claim on another tenant is replaced
        ('x{namespace=~"team-.*",job!="a"}', 'x{job!="a",namespace="team-a"}'),
        ('x{namespace!="team-a"}', 'x{namespace="team-a"}'),
        ('absent(foo{job="x"})', 'absent(foo{job="x",namespace="team-a"})'),
        ("rate(x[5m] offset 1m)", 'rate(x{namespace="team-a"}[5m] offset 1m)'),
        ("max_over_time((up + 1)[1h:5m])", 'max_over_time((up{namespace="team-a"} + 1)[1h:5m])'),
        ("x @ start()", 'x{namespace="team-a"} @ start()'),
        ('{__name__=~"a|b"}', '{__name__=~"a|b",namespace="team-a"}'),
        ('{__name__="sum"}', '{__name__="sum",namespace="team-a"}'),  # a keyword cannot lead the selector
        ('x{a="q\\"uote\\\\"}', 'x{a="q\\"uote\\\\",namespace="team-a"}'),
        (
            'label_replace(up, "namespace", "b", "", "")',
            'label_replace(up{namespace="team-a"}, "namespace", "b", "", "")',
        ),
    ],
)
def test_scoping_adds_the_tenant_matcher_to_every_selector(expr: str, scoped: str) -> None:
    assert scope_selectors(expr, "namespace", "team-a") == scoped
    assert scope_selectors(scoped, "namespace", "team-a") == scoped  # idempotent


def test_scoping_keeps_everything_but_the_selectors() -> None:
    expr = (
        'sum by (job) (rate(http_requests_total{code=~"5..",namespace="team-b"}[5m])) '
        "/ on (job) group_left (team) sum by (job, team) (rate(http_requests_total[5m])) > bool 0.05"
    )
    scoped = scope_selectors(expr, "namespace", "team-a")
    unscoped_again = scoped.replace(',namespace="team-a"', "").replace('{namespace="team-a"}', "")
    original = expr.replace(',namespace="team-b"', "")
    assert repr(promql_parser.parse(unscoped_again)) == repr(promql_parser.parse(original))


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ('x{a="b" or c="d"}', "`or` between matchers"),
        ("x @ -100", "cannot print the selector x @ 0.000 back faithfully"),  # promql-parser's printer
        ("sum(x) keep_metric_names", "promql-parser cannot parse it"),  # MetricsQL
        ("-" * 2000 + "up", "nested too deeply"),
    ],
)
def test_what_cannot_be_scoped_faithfully_is_refused(expr: str, why: str) -> None:
    with pytest.raises(ScopeError, match=why.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        scope_selectors(expr, "namespace", "team-a")


def test_a_refusal_names_the_rule() -> None:
    rule = alert_rule({"alert": "Ok", "expr": "up == 0"}, {"alert": "Bad", "expr": 'x{a="b" or c="d"}'})
    with pytest.raises(ScopeError, match=r"^spec\.groups\[0\]\.rules\[1\]\.expr: "):
        render_rule_file(rule, SCOPED_A)


# A small PromQL grammar: selectors with odd values and matchers on the tenant label, every operator
# family, modifiers, functions, aggregations and subqueries.
_VALUES = st.sampled_from(["", "a", "team-b", 'q"u', "back\\slash", "new\nline", "é😀", "5..", "{}", ",", "offset 5m"])
_MATCHER = st.tuples(st.sampled_from(["job", "namespace", "code"]), st.sampled_from(["=", "!=", "=~", "!~"]), _VALUES)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@st.composite
def _selector(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["up", "http_requests_total", "a:b:rate5m", ""]))
    matchers = draw(st.lists(_MATCHER, max_size=3))
    if not name and not any(op == "=" and v for _, op, v in matchers):
        matchers.append(("job", "=", "api"))  # a selector needs one matcher that matches no empty value
    text = name + ("{" + ",".join(f"{n}{op}{_quote(v)}" for n, op, v in matchers) + "}" if matchers else "")
    return text + draw(st.sampled_from(["", " offset 5m", " offset -1m30s", " @ start()", " @ 1700000000"]))


def _expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda e: f"rate({e}[5m])", _selector()),
            st.builds(lambda e: f"max_over_time(({e})[10m:1m])", inner),
            st.builds(lambda op, e: f"{op} by (job) ({e})", st.sampled_from(["sum", "max", "count"]), inner),
            st.builds(lambda e: f"topk(3, {e})", inner),
            st.builds(
                lambda a, op, b: f"{a} {op} {b}",
                inner,
                st.sampled_from(
                    ["+", "/ on (job)", "> bool", "and", "unless", "or ignoring (code)", "* on (job) group_left (x)"]
                ),
                inner,
            ),
            st.builds(lambda e: f"-({e})", inner),
            st.builds(lambda e: f"absent({e})", _selector()),
            st.builds(lambda e: f'label_replace({e}, "namespace", "x", "", "")', inner),
        )

    return st.recursive(st.one_of(_selector(), st.just("vector(1)"), st.just("1.5")), extend, max_leaves=6)


def _selectors(ast: Any) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(sorted((m.name, str(m.op)) for m in node.matchers.matchers))

    promql_parser.walk(ast, pre_visit=visit)
    return found


@settings(
    max_examples=int(os.environ.get("ALERTAGENT_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(expr=_expressions())
def test_scoped_expressions_read_back_with_exactly_the_tenant_matcher_on_each_selector(expr: str) -> None:
    try:
        original = promql_parser.parse(expr)
    except ValueError:
        return  # not PromQL (a generated type mismatch): validation reports it, never scoping
    try:
        scoped = scope_selectors(expr, "namespace", "team-a")
    except ScopeError as err:
        assert "@" in expr, err  # only the printer's known `@` fault may refuse a parsed expression
        return
    ast = promql_parser.parse(scoped)
    selectors = _selectors(ast)
    assert len(selectors) == len(_selectors(original))
    seen: list[Any] = []
    promql_parser.walk(ast, pre_visit=lambda n: seen.append(n) if isinstance(n, promql_parser.VectorSelector) else None)
    for node in seen:
        tenant = [m for m in node.matchers.matchers if m.name == "namespace"]
        assert [(m.value, m.op == promql_parser.MatchOp.Equal) for m in tenant] == [("team-a", True)], scoped
    assert scope_selectors(scoped, "namespace", "team-a") == scoped


SCOPED_RULES = [
    {
        "alert": "ErrorsHigh",
        "expr": 'sum by (namespace) (rate(errors_total{job="api"}[5m])) > 0',
        "labels": {"namespace": "team-b"},
    },
    {"alert": "Absent", "expr": 'absent(up{job="api"})'},
    {"record": "team:errors:rate5m", "expr": "sum by (namespace, job) (rate(errors_total[5m]))"},
    {
        "alert": "Ratio",
        "expr": "sum(rate(errors_total[5m])) / on () group_left sum(rate(requests_total[5m] offset 1m)) > 0.1",
    },
    {"alert": "Sub", "expr": "max_over_time((errors_total - 1)[10m:1m]) > 0 unless on (job) up == 0"},
]


@needs_promtool
def test_promtool_accepts_every_scoped_rule_file() -> None:
    text = render_rule_file(alert_rule(*SCOPED_RULES), SCOPED_A)
    assert promtool_check({"team-a_x.yaml": text}) is None


@needs_promtool
def test_promtool_evaluates_a_scoped_rule_on_its_own_namespace_alone(tmp_path: Path) -> None:
    """`promtool test rules` evaluates the rendered file as Prometheus would: a team-a rule that claims
    team-b and reads every namespace fires once, for team-a's series, labelled team-a."""
    rules = tmp_path / "team-a_x.yaml"
    rules.write_text(render_rule_file(alert_rule(SCOPED_RULES[0]), SCOPED_A))
    test = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'errors_total{job="api",namespace="team-a"}', "values": "0+10x10"},
                    {"series": 'errors_total{job="api",namespace="team-b"}', "values": "0+10x10"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "ErrorsHigh",
                        "exp_alerts": [{"exp_labels": {"namespace": "team-a"}}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    argv = [str(PROMTOOL), "test", "rules", "test.yaml"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
