"""A value refused by one of the shared patterns is named with what it should have been (a user who
wrote `for: 5x` was told "String should match pattern '^(0|(([0-9]+)y)?...'"); other schema errors keep
pydantic's message."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from alertagent.api import AlertmanagerCluster
from alertagent.render.validation import parse_alert_rule, schema_issues


def _rule(**fields: Any) -> dict[str, Any]:
    rule = {"alert": "HighErrors", "expr": "up == 0", **fields}
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertRule",
        "metadata": {"name": "typo", "namespace": "default"},
        "spec": {"groups": [{"name": "g", "rules": [rule]}]},
    }


@pytest.mark.parametrize(
    ("fields", "path", "value"),
    [({"for": "5x"}, "for", '"5x"'), ({"keep_firing_for": "1m1h"}, "keep_firing_for", '"1m1h"')],
)
def test_a_bad_duration_names_the_value_and_the_syntax(fields: dict[str, Any], path: str, value: str) -> None:
    rule, issues = parse_alert_rule(_rule(**fields))
    assert rule is None
    assert [(i.field, i.message) for i in issues] == [
        (
            f"spec.groups[0].rules[0].{path}",
            f"{value} is not a duration: whole numbers, each with its unit (y, w, d, h, m, s, ms) once, largest first "
            '("30s", "1h30m", "0")',
        )
    ]


def _cluster_issues(spec: dict[str, Any]) -> dict[str, str]:
    body = {"apiVersion": "alertagent.io/v1alpha1", "kind": "AlertmanagerCluster", "metadata": {"name": "main"}}
    with pytest.raises(ValidationError) as err:
        AlertmanagerCluster.model_validate({**body, "spec": {"alertmanager": {"url": "http://am:9093"}, **spec}})
    return {i.field: i.message for i in schema_issues(err.value)}


def test_a_bad_label_name_and_kubernetes_name_say_what_they_should_be() -> None:
    evaluator = {"name": "prom", "type": "prometheus", "url": "http://p:9090", "configMapPrefix": "Rules_A"}
    issues = _cluster_issues({"ruleEvaluators": [evaluator], "incidents": {"serviceLabel": "2service"}})
    assert issues == {
        "spec.ruleEvaluators[0].configMapPrefix": '"Rules_A" is not a Kubernetes name: lowercase letters, digits, "-" '
        'and ".", beginning and ending with a letter or digit',
        "spec.incidents.serviceLabel": '"2service" is not a label name: letters, digits and "_", '
        "not beginning with a digit",
    }


def test_other_pattern_errors_keep_pydantics_message() -> None:
    issues = _cluster_issues({"ruleEvaluators": [{"name": "Prom", "type": "prometheus", "url": "http://p:9090"}]})
    assert issues["spec.ruleEvaluators[0].name"].startswith("String should match pattern")


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"for": 0}, "for", 'expected a string, got the number 0: quote it ("0")'),
        ({"labels": {"page": True}}, "labels.page", "expected a string, got the boolean true (YAML reads unquoted "),
        ({"labels": {"tier": 1.5}}, "labels.tier", 'expected a string, got the number 1.5: quote it ("1.5")'),
    ],
)
def test_an_unquoted_number_or_boolean_says_to_quote_it(fields: dict[str, Any], path: str, message: str) -> None:
    # `for: 0` or a label value `yes` in YAML is a number or a boolean: pydantic says "Input should be a
    # valid string", which does not say what to change.
    rule, issues = parse_alert_rule(_rule(**fields))
    assert rule is None
    assert [i.field for i in issues] == [f"spec.groups[0].rules[0].{path}"]
    assert issues[0].message.startswith(message)
