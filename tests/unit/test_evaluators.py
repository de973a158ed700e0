"""Rule-file fields per evaluator type and version (render.evaluators), and how versions are found."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from alertagent.api import AlertmanagerCluster, AlertRule
from alertagent.api.alertmanagercluster import RuleEvaluator
from alertagent.clients.probe import vmalert_version
from alertagent.render.evaluators import (
    TABLES,
    FieldUse,
    Version,
    evaluator_issues,
    evaluator_version,
    field_issues,
    fields_used,
    keys_used,
    loads,
    metricsql_deferrable,
    minimum_versions,
    parse_version,
)
from alertagent.render.rules import render_rule_file
from alertagent.render.validation import parse_alert_rule


def alert_rule(group: dict[str, Any] | None = None, rule: dict[str, Any] | None = None) -> AlertRule:
    return AlertRule.model_validate(
        {
            "metadata": {"name": "x", "namespace": "team-a"},
            "spec": {
                "groups": [{"name": "g", **(group or {}), "rules": [{"alert": "A", "expr": "up", **(rule or {})}]}]
            },
        }
    )


QUERY_OFFSET = alert_rule(group={"query_offset": "1m"})
KEEP_FIRING_FOR = alert_rule(rule={"keep_firing_for": "5m"})
LIMIT = alert_rule(group={"limit": 10})
PLAIN = alert_rule(group={"interval": "1m"}, rule={"for": "5m", "labels": {"a": "b"}, "annotations": {"s": "x"}})

CASES: list[tuple[str, AlertRule, str, Version | None, list[str]]] = [
    # query_offset: Prometheus >= 2.53 only
    (
        "query_offset on vmalert 1.79.5",
        QUERY_OFFSET,
        "vmalert",
        (1, 79, 5),
        ["spec.groups[0].query_offset: vmalert 1.79.5 has no query_offset (Prometheus >= 2.53.0 only)"],
    ),
    (
        "query_offset on the newest vmalert",
        QUERY_OFFSET,
        "vmalert",
        None,
        ["spec.groups[0].query_offset: vmalert has no query_offset (Prometheus >= 2.53.0 only)"],
    ),
    (
        "query_offset on Prometheus 2.42",
        QUERY_OFFSET,
        "prometheus",
        (2, 42, 0),
        ["spec.groups[0].query_offset: Prometheus 2.42.0 has no query_offset yet (Prometheus >= 2.53.0 only)"],
    ),
    ("query_offset on Prometheus 2.53", QUERY_OFFSET, "prometheus", (2, 53, 0), []),
    ("query_offset on Prometheus 3.5", QUERY_OFFSET, "prometheus", (3, 5, 0), []),
    ("query_offset on the newest Prometheus", QUERY_OFFSET, "prometheus", None, []),
    # keep_firing_for: Prometheus >= 2.42, vmalert >= 1.92
    (
        "keep_firing_for on Prometheus 2.41",
        KEEP_FIRING_FOR,
        "prometheus",
        (2, 41, 0),
        [
            "spec.groups[0].rules[0].keep_firing_for: Prometheus 2.41.0 has no keep_firing_for yet "
            "(Prometheus >= 2.42.0 and vmalert >= 1.92.0)"
        ],
    ),
    ("keep_firing_for on Prometheus 2.42", KEEP_FIRING_FOR, "prometheus", (2, 42, 0), []),
    (
        "keep_firing_for on vmalert 1.79.5",
        KEEP_FIRING_FOR,
        "vmalert",
        (1, 79, 5),
        [
            "spec.groups[0].rules[0].keep_firing_for: vmalert 1.79.5 has no keep_firing_for yet "
            "(Prometheus >= 2.42.0 and vmalert >= 1.92.0)"
        ],
    ),
    ("keep_firing_for on vmalert 1.91.3", KEEP_FIRING_FOR, "vmalert", (1, 91, 3), ["..."]),
    ("keep_firing_for on vmalert 1.92.0", KEEP_FIRING_FOR, "vmalert", (1, 92, 0), []),
    ("keep_firing_for on the newest vmalert", KEEP_FIRING_FOR, "vmalert", None, []),
    # limit: Prometheus >= 2.31, vmalert >= 1.78
    (
        "limit on Prometheus 2.30",
        LIMIT,
        "prometheus",
        (2, 30, 0),
        ["spec.groups[0].limit: Prometheus 2.30.0 has no limit yet (Prometheus >= 2.31.0 and vmalert >= 1.78.0)"],
    ),
    ("limit on Prometheus 2.31", LIMIT, "prometheus", (2, 31), []),
    ("limit on vmalert 1.77.2", LIMIT, "vmalert", (1, 77, 2), ["..."]),
    ("limit on vmalert 1.78.0", LIMIT, "vmalert", (1, 78, 0), []),
    ("limit on vmalert 1.79.5", LIMIT, "vmalert", (1, 79, 5), []),
    # the fields every version has
    ("plain rule on Prometheus 2.0", PLAIN, "prometheus", (2, 0, 0), []),
    ("plain rule on vmalert 1.50", PLAIN, "vmalert", (1, 50, 0), []),
]


@pytest.mark.parametrize(
    ("rule", "evaluator_type", "version", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_fields_an_evaluator_version_lacks_are_named_with_who_has_them(
    rule: AlertRule, evaluator_type: str, version: Version | None, expected: list[str]
) -> None:
    issues = evaluator_issues(rule, evaluator_type, version)
    if expected == ["..."]:
        assert len(issues) == 1 and "yet" in issues[0]
    else:
        assert issues == expected


def test_every_field_a_rule_file_can_hold_is_in_the_table() -> None:
    """By construction: a model field AlertAgent renders but the table does not know is refused
    everywhere, so a new field cannot reach a target unchecked (this test asks for its row)."""
    full = alert_rule(
        group={"interval": "1m", "limit": 5, "query_offset": "30s"}, rule={"for": "1m", "keep_firing_for": "1m"}
    )
    full.spec.groups[0].rules[0].labels = {"a": "b"}
    full.spec.groups[0].rules[0].annotations = {"s": "x"}
    recording = AlertRule.model_validate(
        {"metadata": {"name": "r"}, "spec": {"groups": [{"name": "g", "rules": [{"record": "a:b", "expr": "up"}]}]}}
    )
    for rule in (full, recording):
        doc = yaml.safe_load(render_rule_file(rule))
        rendered = {("group", k) for g in doc["groups"] for k in g} | {
            ("rule", k) for g in doc["groups"] for r in g["rules"] for k in r
        }
        assert {(u.kind, u.key) for u in fields_used(rule)} == rendered
        assert all(key in TABLES[kind] for kind, key in rendered)


def test_an_unknown_key_is_refused_by_every_evaluator() -> None:
    use = FieldUse("group", "partial_response_strategy", "spec.groups[0].partial_response_strategy")
    for evaluator_type in ("prometheus", "vmalert"):
        (issue,) = field_issues([use], evaluator_type, None)
        assert "has no partial_response_strategy (no evaluator)" in issue


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("2.42.0+ds", (2, 42, 0)),  # Debian's Prometheus buildinfo
        ("3.5.0", (3, 5, 0)),
        ("v1.79.5", (1, 79, 5)),  # vmalert short_version
        ("vmalert-20240425-073713-tags-v1.101.0-0-g1fc8e2b3e", (1, 101, 0)),  # the tag, not the date
        ("v1.102.0-enterprise-cluster", (1, 102, 0)),
        ("2.53", (2, 53, 0)),
        ("", None),  # Debian's vmalert reports an empty version
        (None, None),
        ("vmalert-20240425-heads-master-0-gabc", None),
    ],
)
def test_versions_are_read_from_what_targets_report(text: str | None, version: Version | None) -> None:
    assert parse_version(text) == version


def test_the_evaluator_version_overrides_the_probed_one() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {
                "alertmanager": {"url": "http://am:9093"},
                "ruleEvaluators": [
                    {"name": "p", "type": "prometheus", "url": "http://p:9090", "version": "2.53.1"},
                    {"name": "v", "type": "vmalert", "url": "http://v:8880"},
                ],
            },
        }
    )
    pinned, probed = cluster.spec.rule_evaluators or []
    assert evaluator_version(pinned, "2.42.0+ds") == (2, 53, 1)
    assert evaluator_version(probed, "v1.79.5") == (1, 79, 5)
    assert evaluator_version(probed, None) is None
    with pytest.raises(ValueError, match="version"):
        RuleEvaluator.model_validate({"name": "v", "type": "vmalert", "url": "http://v", "version": "latest"})


@pytest.mark.parametrize(
    ("metrics", "version"),
    [
        (
            'go_info{version="go1.22"} 1\nvm_app_version{version="vmalert-20240425-tags-v1.101.0-0-g1", '
            'short_version="v1.101.0"} 1\n',
            "v1.101.0",
        ),
        ('vm_app_version{version="vmalert-20240425-tags-v1.101.0-0-g1"} 1\n', "vmalert-20240425-tags-v1.101.0-0-g1"),
        ('vm_app_version{version="", short_version=""} 1\n', None),  # Debian's vmalert 1.79.5, as served
        ("process_cpu_seconds_total 1\n", None),
    ],
)
def test_vmalert_reports_its_version_in_its_metrics(metrics: str, version: str | None) -> None:
    assert vmalert_version(metrics) == version


@pytest.mark.parametrize(
    ("rule", "deferrable"),
    [
        ({"alert": "A", "expr": "rate(http_requests_total)"}, True),  # MetricsQL: rate without a window
        ({"alert": "A", "expr": "sum(x) default 0"}, True),
        ({"alert": "A", "expr": "up", "labels": {"bad-name": "x"}}, False),
        ({"alert": "A", "expr": "rate(x)", "labels": {"bad-name": "x"}}, False),  # another issue stands
    ],
)
def test_only_promql_parse_errors_are_left_to_vmalerts_dry_run(rule: dict[str, Any], deferrable: bool) -> None:
    body = {"kind": "AlertRule", "metadata": {"name": "x"}, "spec": {"groups": [{"name": "g", "rules": [rule]}]}}
    model, issues = parse_alert_rule(body)
    assert model is not None and issues
    assert metricsql_deferrable(issues) is deferrable


@pytest.mark.parametrize(
    ("rule", "evaluator_type", "version", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_precomputed_minimum_version_agrees_with_the_field_checks(
    rule: AlertRule, evaluator_type: str, version: Version | None, expected: list[str]
) -> None:
    minimums = dict(minimum_versions(keys_used(rule)))
    assert keys_used(rule) == {(u.kind, u.key) for u in fields_used(rule)}
    assert loads(minimums[evaluator_type], version) is (not expected)
