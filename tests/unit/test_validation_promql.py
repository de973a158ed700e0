"""PromQL checks of an AlertRule: label matcher regexes with Go's RE2 semantics, and expressions too
deep for the parser refused instead of crashing the process."""

from __future__ import annotations

from alertagent.api import AlertRule
from alertagent.render.validation import validate_alert_rule


def rule(expr: str) -> AlertRule:
    return AlertRule.model_validate(
        {
            "kind": "AlertRule",
            "metadata": {"name": "r", "namespace": "team-a"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]},
        }
    )


def messages(expr: str) -> list[str]:
    return [f"{i.field}: {i.message}" for i in validate_alert_rule(rule(expr))]


def test_a_label_matcher_regex_go_refuses_is_refused() -> None:
    (message,) = messages('up{job=~"^(?!Watchdog).*"}')  # Perl lookahead: Go's RE2 has none
    assert message.startswith("spec.groups[0].rules[0].expr: invalid PromQL: ")


def test_valid_regexes_pass() -> None:
    assert messages('up{job=~"api|web", instance!~".*:9090"}') == []


def test_an_expression_too_deep_for_the_parser_is_refused_not_crashed() -> None:
    (message,) = messages("up" + " + up" * 5000)
    assert "nests deeper than 1000 levels" in message
