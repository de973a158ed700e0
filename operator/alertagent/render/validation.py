"""Validation of AlertRules beyond the schema: PromQL, label names, templates.

Pure: takes models, returns issues. Every issue names the group, the rule, the field path and the
message of the parser or check that failed, so `status.validationErrors`, the Warning Event, the
admission webhook and `alertagent render` all show the same text.

Templates follow the evaluator's own load-time check (see `gotemplate` for the upstream files and
versions): Prometheus `model/rulefmt/rulefmt.go` `testTemplateParsing` checks the labels and
annotations of alerting rules only, parsed as `__alert_<alert>`; vmalert `app/vmalert/config/config.go`
`Group.Validate` checks the labels and annotations of every rule, recording rules included, parsed as
`""`. The message is Go's (`template: __alert_X:1: undefined variable "$label"`); the field names the
label or annotation. `validate_alert_rule` keeps what both dialects refuse (vmalert parsing every text,
as before 1.108), so a template no evaluator can load makes the AlertRule invalid; `template_issues`
checks one rule against any evaluator's dialect and version.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import promql_parser
from pydantic import ValidationError

from ..api.alertrule import AlertRule, Rule, ValidationIssue
from ..api.common import LABEL_NAME_PATTERN, PATTERN_MEANINGS, pattern_mismatch
from .gotemplate import TemplateDialect, TemplateSyntaxError, check_template, template_dialect
from .regex import MAX_PARSE_DEPTH, promql_depth_bound, promql_regex_issues

_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)


def field_path(loc: Sequence[int | str]) -> str:
    """`("spec", "groups", 0, "rules", 1, "expr")` → `spec.groups[0].rules[1].expr`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def schema_issues(err: ValidationError) -> list[ValidationIssue]:
    """Pydantic's errors for an object, as issues with API-style field paths. A value refused by one of
    the shared patterns (`api.common.PATTERN_MEANINGS`: durations, label names, Kubernetes names) is
    named with what it should have been instead of the regular expression."""
    issues = []
    for e in err.errors(include_url=False):
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message = e["msg"].removeprefix("Value error, ")
        pattern = str((e.get("ctx") or {}).get("pattern", ""))
        if e["type"] == "string_pattern_mismatch" and pattern in PATTERN_MEANINGS:
            message = pattern_mismatch(e["input"], pattern)
        elif e["type"] == "string_type" and isinstance(e["input"], bool | int | float):
            message = _unquoted(e["input"])
        issues.append(ValidationIssue(field=field_path(loc) or "(object)", message=message))
    return issues


def _unquoted(value: bool | int | float) -> str:
    """What to say of a YAML scalar that became a number or a boolean where a string belongs
    (`for: 0`, a label value `yes`): the API server refuses it too ("must be of type string")."""
    if isinstance(value, bool):
        return (
            f"expected a string, got the boolean {json.dumps(value)} (YAML reads unquoted yes, no, on, off, "
            "true and false as booleans): quote it"
        )
    return f'expected a string, got the number {value!r}: quote it ("{value!r}")'


def _rule_name(rule: Rule, index: int) -> str:
    return rule.alert or rule.record or f"#{index}"


def _template_message(text: str, dialect: TemplateDialect, name: str) -> str | None:
    try:
        check_template(text, dialect, name=name)
    except TemplateSyntaxError as err:
        return str(err)
    return None


def _checks_templates(rule: Rule, dialect: TemplateDialect) -> bool:
    """Prometheus templates alerting rules only; vmalert checks every rule's labels and annotations."""
    return rule.alert is not None or dialect.name == "vmalert"


def _rule_template_issues(rule: Rule, dialect: TemplateDialect) -> Iterable[tuple[str, str]]:
    if not _checks_templates(rule, dialect):
        return
    name = dialect.template_name(rule.alert)
    for where, values in (("labels", rule.labels), ("annotations", rule.annotations)):
        for key in sorted(values or {}):
            message = _template_message((values or {})[key], dialect, name)
            if message is not None:
                yield f"{where}.{key}", message


@functools.cache
def _vmalert_parsing_every_text() -> TemplateDialect:
    """The newest vmalert's dialect without `skip_untemplated` (vmalert before 1.108 parses every text)."""
    return dataclasses.replace(template_dialect("vmalert"), skip_untemplated=False)


def _rule_issues(rule: Rule) -> Iterable[tuple[str, str]]:
    if promql_depth_bound(rule.expr) > MAX_PARSE_DEPTH:  # promql-parser would crash the process on it
        yield "expr", f"expression nests deeper than {MAX_PARSE_DEPTH} levels: split it (recording rules)"
    else:
        try:
            promql_parser.parse(rule.expr)
        except ValueError as err:
            yield "expr", f"invalid PromQL: {err}"
        else:  # promql-parser compiles regexes with Rust's engine; the targets use Go's (RE2)
            for issue in promql_regex_issues(rule.expr):
                yield "expr", f"invalid PromQL: {issue}"
    if rule.record is not None and rule.labels and "__name__" in rule.labels:
        yield "labels.__name__", "a recording rule cannot set __name__"
    for key in sorted(rule.labels or {}):
        if not _LABEL_NAME.match(key):
            yield f"labels.{key}", pattern_mismatch(key, LABEL_NAME_PATTERN)
    # A template is invalid for the AlertRule only when every target dialect refuses it; one only a
    # dialect refuses (vmalert's `$expr` in Prometheus, a function of a newer release) is refused by the
    # evaluators of that dialect alone (`template_issues`, checked per evaluator when rules are planned).
    # vmalert is asked as a parser of every text: its >= 1.108 shortcut of not parsing a text without
    # both `{{` and `}}` is no wider grammar, so an unclosed `{{ $labels.job ` is invalid here (status,
    # webhook and `alertagent render` alike), not only on the Prometheus evaluators.
    refused_by_vmalert = dict(_rule_template_issues(rule, _vmalert_parsing_every_text()))
    for where, message in _rule_template_issues(rule, template_dialect("prometheus")):
        if where in refused_by_vmalert or not _checks_templates(rule, template_dialect("vmalert")):
            yield where, message


def _issues(rule: AlertRule, check: Callable[[Rule], Iterable[tuple[str, str]]]) -> list[ValidationIssue]:
    issues = []
    for g, group in enumerate(rule.spec.groups):
        for r, item in enumerate(group.rules):
            for field, message in check(item):
                issues.append(
                    ValidationIssue(
                        group=group.name,
                        rule=_rule_name(item, r),
                        field=f"spec.groups[{g}].rules[{r}].{field}",
                        message=message,
                    )
                )
    return issues


def template_issues(
    rule: AlertRule,
    dialect: str | TemplateDialect,
    *,
    version: str | None = None,
    go_version: str | None = None,
) -> list[ValidationIssue]:
    """Label and annotation templates of `rule` that an evaluator of `dialect` would refuse.

    `dialect` is "prometheus" or "vmalert" (or a `template_dialect(...)`); `version` and `go_version`
    (from the evaluator's build info) narrow it to what that build knows. Empty when all are accepted.
    """
    d = dialect if isinstance(dialect, TemplateDialect) else template_dialect(dialect, version, go_version)
    return _issues(rule, lambda item: _rule_template_issues(item, d))


def validate_alert_rule(rule: AlertRule) -> list[ValidationIssue]:
    """Issues with an AlertRule that passed the schema (templates as Prometheus checks them); empty when valid."""
    return _issues(rule, _rule_issues)


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
