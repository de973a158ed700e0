"""Go text/template checks per evaluator dialect (render.gotemplate) and their use in rule validation.

Expected messages are Go's, as printed by promtool 2.42 / vmalert 1.79.5 (go1.19.8) and by a Go 1.26
parse of the same header + text; the cases were checked against those tools when the module was written.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from alertagent.api import AlertRule
from alertagent.render.gotemplate import (
    TemplateSyntaxError,
    _parse,
    _simple_actions_only,
    check_template,
    template_dialect,
)
from alertagent.render.validation import parse_alert_rule, template_issues, validate_alert_rule

NAME = "__alert_A"

BAD_LABEL_NAME = '"bad-name" is not a label name: letters, digits and "_", not beginning with a digit'


def _error(text: str, dialect: str = "prometheus", **kwargs: Any) -> str | None:
    try:
        check_template(text, dialect, name=NAME if dialect == "prometheus" else "", **kwargs)
    except TemplateSyntaxError as err:
        return str(err)
    return None


ACCEPTED = [
    # issue 11 item 8: `}}` outside an action is text
    'https://grafana.example.com/explore?left={"datasource":{"uid":"prom"}}',
    "a }} b",
    "}}",
    "{{ $labels.job }} }} {{ $value }}",
    "{ {",
    "plain",
    "",
    # the header's variables and the data's fields
    "{{ $labels.instance }} is down",
    "{{ $value }} {{ $externalLabels.cluster }} {{ $externalURL }} {{ $ }}",
    "{{ .Labels.job }} {{ .Value }} {{ .ExternalLabels }} {{ .ExternalURL }} {{ . }}",
    "{{ .Foo }}",  # an unknown field fails when expanded, not when loaded
    # functions and builtins
    "{{ $labels.job }} error rate {{ $value | humanizePercentage }}",
    '{{ printf "%.2f" $value }}% of the {{ $labels.job }} targets are down.',
    '{{ with query "up" }}{{ . | first | label "job" }}{{ end }}',
    '{{ range query "up" }}{{ .Labels.instance }} {{ .Value }}{{ end }}',
    '{{ with printf "up{instance=%q}" .Labels.instance | query }}{{ . | first | value | humanize1024 }}{{ end }}',
    "{{ $labels.instance | stripPort }} {{ stripDomain $labels.instance }} {{ toTime 1 }} {{ parseDuration `1m` }}",
    "{{ humanize 1 }}{{ humanizeDuration 1 }}{{ humanizeTimestamp 1 }}{{ title `a` }}{{ toUpper `a` }}",
    '{{ reReplaceAll "a" "b" "c" }}{{ match "a" "b" }}{{ safeHtml "x" }}{{ graphLink "up" }}{{ tableLink "up" }}',
    '{{ sortByLabel "job" (query "up") }}{{ args 1 2 }}{{ pathPrefix }}{{ externalURL }}{{ strvalue . }}',
    "{{ toDuration 1 }}{{ now }}{{ urlQueryEscape `a b` }}",
    '{{ and 1 2 }}{{ or 1 2 }}{{ not 1 }}{{ len "a" }}{{ index $labels "job" }}{{ slice "abc" 1 }}',
    "{{ print 1 }}{{ println }}{{ html `<` }}{{ js `a` }}{{ urlquery `a` }}{{ call .F }}",
    "{{ eq 1 1 }}{{ ne 1 2 }}{{ lt 1 2 }}{{ le 1 2 }}{{ gt 1 2 }}{{ ge 1 2 }}",
    # declarations and scope
    "{{ $x := 1 }}{{ $x }}",
    "{{ $x := $x }}",  # the variable is declared before its value is parsed
    "{{ $x = 1 }}",  # Go's parser does not check assignments
    "{{ if true }}{{ $y := 1 }}{{ $y }}{{ end }}",
    "{{ if $y := 1 }}{{ $y }}{{ else }}{{ $y }}{{ end }}",
    "{{ with $z := $labels }}{{ $z.job }}{{ end }}",
    "{{ range $i, $e := $labels }}{{ $i }}={{ $e }}{{ end }}",
    "{{ range $e := $labels }}{{ $e }}{{ end }}",
    "{{ $labels := 3 }}{{ $labels }}",
    # control structures
    "{{ if gt $value 1.0 }}a{{ else if eq $value 0.0 }}b{{ else }}c{{ end }}",
    "{{ if 1 }}{{ else if 2 }}{{ else if 3 }}{{ else }}{{ end }}",
    "{{ with 1 }}{{ else with 2 }}{{ end }}",  # Go 1.23
    "{{ range . }}{{ else }}{{ end }}",
    "{{ range . }}{{ break }}{{ end }}",
    "{{ range . }}{{ if 1 }}{{ continue }}{{ end }}{{ end }}",
    '{{ define "x" }}a{{ end }}{{ template "x" . }}',
    '{{ define "x" }} {{ end }}{{ define "x" }}b{{ end }}',  # an empty body may be redefined
    '{{ block "b" . }}{{ . }}{{ end }}',
    '{{ template "missing" }}',  # resolved when expanded
    # strings, constants, parentheses, pipelines
    '{{ "}}" }}',
    '{{ "{{" }}',
    "{{ `raw }} {{ string` }}",
    "{{ `multi\nline` }}",
    '{{ "\\x41\\u00e9\\U0001F600\\101" }}',
    "{{ 'a' }}{{ '\\n' }}{{ '\\'' }}{{ 'é' }}",
    "{{ 1 }}{{ -1 }}{{ 1.5 }}{{ 1e3 }}{{ 0x1F }}{{ 0o17 }}{{ 0b101 }}{{ 017 }}{{ 1_000 }}",
    "{{ 0x1p-2 }}{{ 1i }}{{ 1+2i }}",
    "{{ -9223372036854775808 }}{{ 18446744073709551615 }}{{ 09.5 }}",
    '{{ (printf "%d" 1) }}{{ ((1)) }}{{ (.Labels).job }}',
    '{{ $value | printf "%.2f" | print }}',
    "{{ printf | }}",  # a trailing pipe is accepted
    # comments and trim markers
    "{{/* a comment with }} */}}",
    "a  {{- /* c */ -}}  b",
    "a \n {{- $value -}} \n b",
    "{{- 3 -}}",
    "{{-3}}",  # no space: the minus sign of -3
    "{{ $value  -}}",
    # multi-line actions
    "{{\n$value\n}}",
    "{{ print\n1 }}",
]


@pytest.mark.parametrize("template", ACCEPTED)
def test_accepted(template: str) -> None:
    assert _error(template) is None


REFUSED = [
    # issue 11 item 2
    ("{{ $label.instance }} is down", 'undefined variable "$label"'),
    ("{{ $Labels }}", 'undefined variable "$Labels"'),
    ("{{ $expr }}", 'undefined variable "$expr"'),  # vmalert only
    ("{{ foo }}", 'function "foo" not defined'),
    ("{{ jsonEscape `a` }}", 'function "jsonEscape" not defined'),  # vmalert only
    ("{{ urlUnescape `a` }}", 'function "urlUnescape" not defined'),
    ("{{ tmpl `x` . }}", 'function "tmpl" not defined'),  # console templates only
    # variables out of scope after `end`
    ("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", 'undefined variable "$y"'),
    ("{{ if $y := 1 }}{{ end }}{{ $y }}", 'undefined variable "$y"'),
    ("{{ with $z := $labels }}{{ end }}{{ $z }}", 'undefined variable "$z"'),
    ("{{ range $i, $e := $labels }}{{ end }}{{ $e }}", 'undefined variable "$e"'),
    ("{{- range $i, $x := . -}}{{ $x }}{{ end }}{{ $x }}", 'undefined variable "$x"'),
    ('{{ define "x" }}{{ $labels }}{{ end }}', 'undefined variable "$labels"'),  # a define starts with $ only
    ('{{ block "b" . }}{{ $labels }}{{ end }}', 'undefined variable "$labels"'),
    # declarations
    ("{{ range $i, $e, $f := $labels }}{{ end }}", "too many declarations in range"),
    ("{{ range $i, 1 }}{{ end }}", "range can only initialize variables"),
    ("{{ with $a, $b := 1 }}{{ end }}", "too many declarations in with"),
    ("{{ $labels: 1 }}", "expected :="),
    # unclosed / unexpected
    ("{{ $labels.job ", "unclosed action"),
    ("{{", "unclosed action"),
    ("{{ if $labels.job }}down", "unexpected EOF"),
    ("{{ if 1 }}{{ else }}", "unexpected EOF"),
    ("{{ end }}", "unexpected {{end}}"),
    ("{{ else }}", "unexpected {{else}}"),
    ("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "expected end; found {{else}}"),
    ("{{ if 1 }}{{ end 1 }}", 'unexpected "1" in end'),
    ("{{ if 1 }}{{ else 1 }}{{ end }}", 'unexpected "1" in else'),
    ("{{ with 1 }}{{ else if 2 }}{{ end }}", "unexpected <if> in input"),
    ("{{ range . }}{{ else if 2 }}{{ end }}", "unexpected <if> in input"),
    ("{{ if 1 }}{{ else with 2 }}{{ end }}", "unexpected <with> in input"),
    ("{{ if }}{{ end }}", "missing value for if"),
    ("{{ }}", "missing value for command"),
    ("{{ {{ x }} }}", 'unexpected "{" in command'),
    ("{{ print 1 , 2 }}", 'unexpected "," in operand'),
    ("{{ := }}", 'unexpected ":=" in command'),
    ("{{ break }}", "{{break}} outside {{range}}"),
    ("{{ continue }}", "{{continue}} outside {{range}}"),
    ("{{ range . }}{{ else }}{{ break }}{{ end }}", "{{break}} outside {{range}}"),
    ("{{ range . }}{{ break 1 }}{{ end }}", 'unexpected "1" in {{break}}'),
    ('{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}', 'template: multiple definition of template "x"'),
    ('{{ define "__alert_A" }}x{{ end }}', 'template: multiple definition of template "__alert_A"'),
    ("{{ define x }}a{{ end }}", 'unexpected "x" in define clause'),
    ('{{ define "x" }}a{{ else }}{{ end }}', "unexpected {{else}} in define clause"),
    ('{{ if 1 }}{{ define "x" }}{{ end }}{{ end }}', "unexpected <define> in command"),
    ("{{ template x }}", 'unexpected "x" in template clause'),
    ('{{ block "b" }}{{ end }}', "missing value for block clause"),
    # pipelines and terms
    ("{{ 1 | 2 }}", "non executable command in pipeline stage 2"),
    ("{{ | printf }}", 'unexpected "|" in command'),
    ('{{ "a".b }}', 'unexpected . after term "\\"a\\""'),
    ("{{ ..x }}", 'unexpected . after term "."'),
    ("{{ (1 }}", "unclosed left paren"),
    ("{{ ) }}", "unexpected right paren"),
    ("{{ printf(1) }}", 'unexpected "(" in operand'),
    ("{{ $labels-x }}", "bad character U+002D '-'"),
    ("{{ # }}", 'unexpected "#" in command'),
    ("{{ \x01 }}", "unrecognized character in action: U+0001"),
    ('{{ 1}} {{ printf"a" }}', "bad character U+0022 '\"'"),
    # strings and constants
    ('{{ "abc }}', "unterminated quoted string"),
    ('{{ "a\nb" }}', "unterminated quoted string"),
    ("{{ `unterminated }}", "unterminated raw quoted string"),
    ("{{ 'a }}", "unterminated character constant"),
    ('{{ "a\\qb" }}', "invalid syntax"),
    ('{{ "a\\\'b" }}', "invalid syntax"),
    ("{{ 'ab' }}", "malformed character constant: 'ab'"),
    ("{{ '' }}", "invalid syntax"),
    ("{{ 3x }}", 'bad number syntax: "3x"'),
    ("{{ 1.2.3 }}", 'unexpected ".3" in operand'),
    ("{{ 089 }}", 'integer overflow: "089"'),
    ("{{ 99999999999999999999 }}", 'integer overflow: "99999999999999999999"'),
    ("{{ 1e400 }}", 'illegal number syntax: "1e400"'),
    ("{{ 1__0 }}", 'illegal number syntax: "1__0"'),
    ("{{ 0x1.8 }}", 'illegal number syntax: "0x1.8"'),
    ("{{ 0x1+2i }}", 'strconv.ParseFloat: parsing "0x1": invalid syntax'),
    # comments
    ("{{/* unclosed }}", "unclosed comment"),
    ("{{/* c */x}}", "comment ends before closing delimiter"),
    ("{{ /* c */ }}", 'unexpected "/" in command'),
]


@pytest.mark.parametrize(("template", "reason"), REFUSED)
def test_refused_with_go_message(template: str, reason: str) -> None:
    assert _error(template) == f"template: {NAME}:1: {reason}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("line1\nline2 {{ $label }}", 'template: __alert_A:2: undefined variable "$label"'),
        ("a\n{{ if\n$x }}", 'template: __alert_A:3: undefined variable "$x"'),
        ("a\n{{ if 1 }}\nb\n", "template: __alert_A:4: unexpected EOF"),
        ("{{ if 1 }}\n{{ $labels.job\n", "template: __alert_A:3: unclosed action started at __alert_A:2"),
        ("{{ print\n'a }}", "template: __alert_A:2: unterminated character constant in action started at __alert_A:1"),
    ],
)
def test_messages_name_the_line(template: str, message: str) -> None:
    assert _error(template) == message


def test_error_is_a_value_error_with_parts() -> None:
    with pytest.raises(ValueError, match=r'undefined variable "\$label"') as info:
        check_template("x\n{{ $label }}", name="__alert_Down")
    err = info.value
    assert isinstance(err, TemplateSyntaxError)
    assert (err.name, err.line, err.reason) == ("__alert_Down", 2, 'undefined variable "$label"')
    assert str(err) == 'template: __alert_Down:2: undefined variable "$label"'


# (template, Prometheus main, vmalert main): the dialects differ in header variables and functions.
DIALECT_DIFFERENCES = [
    ("{{ $expr }}", 'undefined variable "$expr"', None),
    ("{{ $alertID }}{{ $groupID }}{{ $activeAt }}{{ $for }}", 'undefined variable "$alertID"', None),
    ("{{ $type }}{{ $isPartial }}{{ $interval }}", 'undefined variable "$type"', None),
    ("{{ jsonEscape `a` }}", 'function "jsonEscape" not defined', None),
    ("{{ quotesEscape `a` }}{{ htmlEscape `a` }}{{ crlfEscape `a` }}", 'function "quotesEscape" not defined', None),
    ("{{ pathEscape `a` }}{{ queryEscape `a` }}", 'function "pathEscape" not defined', None),
    ("{{ parseDurationTime `1m` }}{{ formatTime 1 `x` }}", 'function "parseDurationTime" not defined', None),
    ("{{ graphLink `up` }}", None, 'function "graphLink" not defined'),
    ("{{ tableLink `up` }}", None, 'function "tableLink" not defined'),
    ("{{ toDuration 1 }}", None, 'function "toDuration" not defined'),
    ("{{ urlQueryEscape `a` }}", None, 'function "urlQueryEscape" not defined'),
    # vmalert >= 1.108 does not parse a text without both delimiters
    ("{{ if $labels.job", "unclosed action", None),
    ("a }} {{ if", "unclosed action", "unclosed action"),
]


@pytest.mark.parametrize(("template", "prometheus", "vmalert"), DIALECT_DIFFERENCES)
def test_prometheus_and_vmalert_differ(template: str, prometheus: str | None, vmalert: str | None) -> None:
    assert _error(template, "prometheus") == (prometheus and f"template: {NAME}:1: {prometheus}")
    assert _error(template, "vmalert") == (vmalert and f"template: :1: {vmalert}")


@pytest.mark.parametrize(
    ("dialect", "version", "template", "reason"),
    [
        # the test bed's Prometheus 2.42 lacks the functions of 3.6 and 3.8
        ("prometheus", "2.42.0+ds", "{{ toDuration 1 }}", 'function "toDuration" not defined'),
        ("prometheus", "2.42.0", "{{ now }}", 'function "now" not defined'),
        ("prometheus", "v2.42.0", "{{ urlQueryEscape `a` }}", 'function "urlQueryEscape" not defined'),
        (
            "prometheus",
            "2.42.0",
            "{{ toTime 1 }}{{ stripDomain `a` }}{{ stripPort `a` }}{{ parseDuration `1m` }}",
            None,
        ),
        ("prometheus", "2.37.0", "{{ toTime 1 }}", 'function "toTime" not defined'),
        ("prometheus", "3.6.0", "{{ toDuration 1 }}{{ now }}", None),
        ("prometheus", "2.27.1", "{{ $externalURL }}", 'undefined variable "$externalURL"'),
        ("prometheus", "2.9.0", "{{ $externalLabels }}", 'undefined variable "$externalLabels"'),
        # the test bed's vmalert 1.79.5: LTS backports, but none of 1.81's variables
        (
            "vmalert",
            "1.79.5+ds1-2+b5",
            "{{ strvalue . }}{{ jsonEscape `a` }}{{ htmlEscape `a` }}{{ stripDomain `a` }}",
            None,
        ),
        ("vmalert", "1.79.4", "{{ strvalue . }}", 'function "strvalue" not defined'),
        ("vmalert", "1.80.0", "{{ jsonEscape `a` }}", 'function "jsonEscape" not defined'),
        ("vmalert", "1.79.5", "{{ $alertID }}", 'undefined variable "$alertID"'),
        ("vmalert", "1.79.5", "{{ toTime 1 }}", 'function "toTime" not defined'),
        ("vmalert", "1.79.5", "{{ if $labels.job", "unclosed action"),  # parsed: no shortcut before 1.108
        ("vmalert", "1.102.9", "{{ if $labels.job", None),  # the shortcut's LTS backport
        ("vmalert", "1.110.22", "{{ now }}", None),
        ("vmalert", "1.111.0", "{{ now }}", 'function "now" not defined'),
        ("vmalert", "1.129.0", "{{ now }}", None),
    ],
)
def test_versions(dialect: str, version: str, template: str, reason: str | None) -> None:
    name = NAME if dialect == "prometheus" else ""
    assert _error(template, dialect, version=version) == (reason and f"template: {name}:1: {reason}")


@pytest.mark.parametrize(
    ("go_version", "template", "reason"),
    [
        # the test bed's binaries are built with go1.19.8
        ("go1.19.8", "{{ with 1 }}{{ else with 2 }}{{ end }}", "unexpected <with> in else"),
        ("go1.23.0", "{{ with 1 }}{{ else with 2 }}{{ end }}", None),
        ("go1.19.8", "{{ ) }}", 'unexpected ")" in command'),
        ("go1.19.8", "{{ 1) }}", 'unexpected ")" in command'),
        ("go1.20", "{{ ) }}", "unexpected right paren"),
        ("go1.17.13", "{{ range . }}{{ break }}{{ end }}", 'function "break" not defined'),
        ("go1.18", "{{ range . }}{{ break }}{{ end }}", None),
    ],
)
def test_go_versions(go_version: str, template: str, reason: str | None) -> None:
    assert _error(template, go_version=go_version) == (reason and f"template: {NAME}:1: {reason}")


def test_dialect_objects_and_unknown_dialect() -> None:
    d = template_dialect("vmalert", "1.79.5", "go1.19.8")
    assert d is template_dialect("vmalert", "1.79.5", "go1.19.8")
    assert "$expr" in d.variables and "$alertID" not in d.variables and "printf" in d.functions
    assert not d.skip_untemplated and not d.else_with and d.legacy_right_paren
    check_template("{{ $expr }}", d)
    with pytest.raises(ValueError, match="unknown template dialect 'thanos'"):
        check_template("{{ x }}", "thanos")
    with pytest.raises(ValueError, match="cannot read a version"):
        template_dialect("prometheus", "latest")


def test_deep_nesting_is_refused_not_raised() -> None:
    deep = "{{ if 1 }}" * 400 + "{{ end }}" * 400
    assert _error(deep) == f"template: {NAME}:1: template nesting too deep for AlertAgent's check"
    assert _error("{{ " + "(" * 50 + "1" + ")" * 50 + " }}") is None


def test_fast_path_accepts_only_what_the_parser_accepts() -> None:
    """Random near-simple actions: whenever the fast path accepts, the full parser accepts too."""
    parts = [
        "$labels", "$value", "$label", ".Labels", ".job", ".5", "humanize", "printf", "foo", "if", "true",
        '"%s"', '"}}"', '"a\\n"', "1", "01", "1.5", "1234567890123456789", " ", "|", " | ", "\t", "-",
        "{{", "}}", "{", "}", ".", "(", ")", "$", "$_", "é", ":=", ",",
    ]  # fmt: skip
    rng = random.Random(11)
    dialect = template_dialect("prometheus")
    fast = 0
    for _ in range(3000):
        body = "".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
        text = f"a {{{{ {body} }}}} b"
        if _simple_actions_only(text, dialect):
            fast += 1
            _parse(text, dialect, NAME)  # raises if the fast path was wrong
    assert fast > 50
    assert _simple_actions_only("{{ $labels.job }} error rate {{ $value | humanizePercentage }}", dialect)
    assert not _simple_actions_only("{{ $label.instance }}", dialect)


# --- rule validation -------------------------------------------------------------------------------


def _rule(*rules: dict[str, Any]) -> AlertRule:
    return AlertRule.model_validate(
        {"kind": "AlertRule", "metadata": {"name": "x"}, "spec": {"groups": [{"name": "g", "rules": list(rules)}]}}
    )


def test_issue_inputs_through_validation() -> None:
    rule = {
        "kind": "AlertRule",
        "metadata": {"name": "x"},
        "spec": {
            "groups": [
                {
                    "name": "g",
                    "rules": [
                        {
                            "alert": "InstanceDown",
                            "expr": "up == 0",
                            "annotations": {
                                "summary": "{{ $label.instance }} is down",
                                "explore": 'https://grafana.example.com/explore?left={"datasource":{"uid":"prom"}}',
                            },
                        }
                    ],
                }
            ]
        },
    }
    _, issues = parse_alert_rule(rule)
    assert [(i.group, i.rule, i.field, i.message) for i in issues] == [
        (
            "g",
            "InstanceDown",
            "spec.groups[0].rules[0].annotations.summary",
            'template: __alert_InstanceDown:1: undefined variable "$label"',
        )
    ]


def test_template_issues_per_dialect() -> None:
    rule = _rule(
        {
            "alert": "A",
            "expr": "up",
            "labels": {"team": "{{ $expr }}", "severity": "page"},
            "annotations": {"summary": "{{ graphLink `up` }}", "ok": "{{ $labels.job }}"},
        },
        {"record": "r", "expr": "up", "labels": {"l": "{{ $nope }}"}},
    )
    prometheus = [(i.field, i.message) for i in template_issues(rule, "prometheus")]
    assert prometheus == [("spec.groups[0].rules[0].labels.team", 'template: __alert_A:1: undefined variable "$expr"')]
    # Each is refused by one dialect only: not an error of the AlertRule, refused per evaluator instead.
    assert validate_alert_rule(rule) == []
    # vmalert checks recording rules' labels too, under the empty template name
    vmalert = [(i.rule, i.field, i.message) for i in template_issues(rule, "vmalert")]
    assert vmalert == [
        ("A", "spec.groups[0].rules[0].annotations.summary", 'template: :1: function "graphLink" not defined'),
        ("r", "spec.groups[0].rules[1].labels.l", 'template: :1: undefined variable "$nope"'),
    ]
    # the test bed's builds
    old = template_issues(
        _rule({"alert": "A", "expr": "up", "annotations": {"d": "{{ now }}"}}),
        "prometheus",
        version="2.42.0",
        go_version="go1.19.8",
    )
    assert [i.message for i in old] == ['template: __alert_A:1: function "now" not defined']
    assert template_issues(rule, template_dialect("vmalert", "1.79.5")) == template_issues(rule, "vmalert")


def test_label_name_checks_are_kept() -> None:
    rule = _rule({"alert": "A", "expr": "up", "labels": {"bad-name": "x", "ok": "{{ $labels.job }}"}})
    assert [(i.field, i.message) for i in validate_alert_rule(rule)] == [
        (
            "spec.groups[0].rules[0].labels.bad-name",
            BAD_LABEL_NAME,
        )
    ]
