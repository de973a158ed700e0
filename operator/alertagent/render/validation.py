"""Validation of AlertRules beyond the schema: PromQL, label names, templates.

Pure: takes models, returns issues. Every issue names the group, the rule, the field path and the
message of the parser or check that failed, so `status.validationErrors`, the Warning Event, the
admission webhook and `alertagent render` all show the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import promql_parser
from pydantic import ValidationError

from ..api.alertrule import AlertRule, Rule, ValidationIssue
from ..api.common import LABEL_NAME_PATTERN
from .gotemplate import TemplateSyntaxError, check_template

_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)


def field_path(loc: Sequence[int | str]) -> str:
    """`("spec", "groups", 0, "rules", 1, "expr")` → `spec.groups[0].rules[1].expr`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def schema_issues(err: ValidationError) -> list[ValidationIssue]:
    """Pydantic's errors for an object, as issues with API-style field paths."""
    issues = []
    for e in err.errors(include_url=False):
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message = e["msg"].removeprefix("Value error, ")
        issues.append(ValidationIssue(field=field_path(loc) or "(object)", message=message))
    return issues


def _rule_name(rule: Rule, index: int) -> str:
    return rule.alert or rule.record or f"#{index}"


def _check_labels(labels: dict[str, str] | None, where: str, templated: bool) -> Iterable[tuple[str, str]]:
    for key in sorted(labels or {}):
        if not _LABEL_NAME.match(key):
            yield f"{where}.{key}", f"invalid label name {key!r}: must match {LABEL_NAME_PATTERN}"
        if templated:
            try:
                check_template((labels or {})[key])
            except TemplateSyntaxError as err:
                yield f"{where}.{key}", f"template: {err}"


def _rule_issues(rule: Rule) -> Iterable[tuple[str, str]]:
    try:
        promql_parser.parse(rule.expr)
    except ValueError as err:
        yield "expr", f"invalid PromQL: {err}"
    if rule.record is not None and rule.labels and "__name__" in rule.labels:
        yield "labels.__name__", "a recording rule cannot set __name__"
    yield from _check_labels(rule.labels, "labels", templated=rule.alert is not None)
    yield from _check_labels(rule.annotations, "annotations", templated=True)


def validate_alert_rule(rule: AlertRule) -> list[ValidationIssue]:
    """Issues with an AlertRule that passed the schema; empty when it is valid."""
    issues = []
    for g, group in enumerate(rule.spec.groups):
        for r, item in enumerate(group.rules):
            for field, message in _rule_issues(item):
                issues.append(
                    ValidationIssue(
                        group=group.name,
                        rule=_rule_name(item, r),
                        field=f"spec.groups[{g}].rules[{r}].{field}",
                        message=message,
                    )
                )
    return issues


def parse_alert_rule(obj: dict[str, Any]) -> tuple[AlertRule | None, list[ValidationIssue]]:
    """Parse and validate an AlertRule manifest: the model (None when the schema fails) and issues."""
    try:
        rule = AlertRule.model_validate(obj)
    except ValidationError as err:
        return None, schema_issues(err)
    return rule, validate_alert_rule(rule)


def describe(issue: ValidationIssue) -> str:
    """One line for CLI output and Events: `group "g" rule "A": spec...expr: message`."""
    where = ""
    if issue.group is not None:
        where = f'group "{issue.group}" rule "{issue.rule}": '
    return f"{where}{issue.field}: {issue.message}"
