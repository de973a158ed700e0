"""What each rule evaluator (dialect) declares and defines for label and annotation templates, by version.

A dialect is the evaluator's header variables, its function map plus Go's builtins, and the Go version
differences of the lexer and parser it was built with. Upstream files mirrored, and the versions read:

- Go `src/text/template/funcs.go`: the builtins and, call, html, index, slice, js, len, not, or,
  print, printf, println, urlquery, eq, ge, gt, le, lt, ne (all present since Go 1.13).
- Prometheus `model/rulefmt/rulefmt.go` (`testTemplateParsing`, v2.42.0 and main after v3.14.0) and
  `rules/alerting.go`: only alerting rules are checked, labels and annotations, under the name
  `__alert_<alert>`, with the header declaring `$labels`, `$externalLabels` (since v2.10),
  `$externalURL` (since v2.28) and `$value`; data fields `.Labels`, `.ExternalLabels`,
  `.ExternalURL`, `.Value`. Prometheus `template/template.go` (`NewTemplateExpander` FuncMap):
  query, first, label, value, strvalue, args, reReplaceAll, safeHtml, match, title, toUpper,
  toLower, graphLink, tableLink, sortByLabel, humanize, humanize1024, humanizeDuration,
  humanizeTimestamp, pathPrefix, externalURL (all v2.0), humanizePercentage (v2.11), parseDuration
  (v2.32), stripPort (v2.33), stripDomain (v2.36), toTime (v2.38), toDuration and now (v3.6),
  urlQueryEscape (v3.8). So Prometheus 2.42 lacks toDuration, now and urlQueryEscape.
- VictoriaMetrics `app/vmalert/notifier/alert.go` (`tplHeaders`, `ValidateTemplates`,
  `templateAnnotations`), `app/vmalert/config/config.go` (`Group.Validate`: labels and annotations
  of every rule, recording rules included) and `app/vmalert/templates/template.go`
  (`templateFuncs`), v1.79.5 and main after v1.150.0. Template name `""`. Header variables `$value`,
  `$labels`, `$expr`, `$externalLabels`, `$externalURL` (v1.79), `$alertID`, `$groupID`,
  `$activeAt` (v1.81), `$for` (v1.86), `$type` (v1.117), `$isPartial` (v1.134), `$interval`
  (v1.149). Functions of v1.79.0: query, first, label, value, args, safeHtml, sortByLabel, match,
  reReplaceAll, title, toUpper, toLower, stripPort, parseDuration, humanize, humanize1024,
  humanizeDuration, humanizePercentage, humanizeTimestamp, externalURL, pathPrefix, pathEscape,
  queryEscape, crlfEscape, quotesEscape; toTime, parseDurationTime (v1.81); htmlEscape, jsonEscape,
  stripDomain, strvalue (v1.83, backported to v1.79.5); now (v1.129); formatTime (v1.143). vmalert
  has no graphLink, tableLink, toDuration, urlQueryEscape; Prometheus has none of the *Escape
  functions, parseDurationTime, formatTime, nor the variables `$expr`, `$alertID`, ... Since v1.108
  vmalert does not parse a text that lacks `{{` or `}}` at all (so `{{ if` alone is accepted).
  Several of these also reached LTS lines earlier; `_VMALERT_LTS` lists the first patch there.

Go version differences (``go_version``, see `lexer` and `parser`): `break`/`continue` are keywords from
Go 1.18; up to Go 1.19 a stray `)` reached the parser, from Go 1.20 the lexer reports it; `{{else with}}`
from Go 1.23. The test bed's Debian binaries (Prometheus 2.42, vmalert 1.79.5) are built with go1.19.8.

Without ``version`` a dialect is the current upstream (Prometheus main, vmalert main, newest Go), so
`{{ now }}` passes the default Prometheus check though Prometheus 2.42 refuses it: pass the
evaluator's version (and Go version, both in its build info) to check against one build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DIALECTS = ("prometheus", "vmalert")

Version = tuple[int, int, int]


# --- the dialects -------------------------------------------------------------------------------

_GO_BUILTINS = frozenset(
    "and call html index slice js len not or print printf println urlquery eq ge gt le lt ne".split()  # noqa: SIM905
)

_PROMETHEUS_FUNCTIONS: dict[str, Version] = {
    **dict.fromkeys(
        (  # noqa: SIM905
            "query first label value strvalue args reReplaceAll safeHtml match title toUpper toLower "
            "graphLink tableLink sortByLabel humanize humanize1024 humanizeDuration humanizeTimestamp "
            "pathPrefix externalURL"
        ).split(),
        (2, 0, 0),
    ),
    "humanizePercentage": (2, 11, 0),
    "parseDuration": (2, 32, 0),
    "stripPort": (2, 33, 0),
    "stripDomain": (2, 36, 0),
    "toTime": (2, 38, 0),
    "toDuration": (3, 6, 0),
    "now": (3, 6, 0),
    "urlQueryEscape": (3, 8, 0),
}
_PROMETHEUS_VARIABLES: dict[str, Version] = {
    "$labels": (2, 0, 0),
    "$externalLabels": (2, 10, 0),
    "$externalURL": (2, 28, 0),
    "$value": (2, 0, 0),
}

_VMALERT_FUNCTIONS: dict[str, Version] = {
    **dict.fromkeys(
        (  # noqa: SIM905
            "query first label value args safeHtml sortByLabel match reReplaceAll title toUpper toLower "
            "stripPort parseDuration humanize humanize1024 humanizeDuration humanizePercentage "
            "humanizeTimestamp externalURL pathPrefix pathEscape queryEscape crlfEscape quotesEscape"
        ).split(),
        (1, 79, 0),
    ),
    "toTime": (1, 81, 0),
    "parseDurationTime": (1, 81, 0),
    **dict.fromkeys(["htmlEscape", "jsonEscape", "stripDomain", "strvalue"], (1, 83, 0)),
    "now": (1, 129, 0),
    "formatTime": (1, 143, 0),
}
_VMALERT_VARIABLES: dict[str, Version] = {
    **dict.fromkeys(["$value", "$labels", "$expr", "$externalLabels", "$externalURL"], (1, 79, 0)),
    **dict.fromkeys(["$alertID", "$groupID", "$activeAt"], (1, 81, 0)),
    "$for": (1, 86, 0),
    "$type": (1, 117, 0),
    "$isPartial": (1, 134, 0),
    "$interval": (1, 149, 0),
}
_VMALERT_SKIP_UNTEMPLATED = "skip-untemplated"  # feature name: texts without both delimiters not parsed
_VMALERT_FEATURES: dict[str, Version] = {_VMALERT_SKIP_UNTEMPLATED: (1, 108, 0)}
# Features that reached an LTS line before its mainline version: {name: {minor: first patch}}, read from
# the release tags (a few later LTS tags lack a backport again; those are not modelled).
_VMALERT_LTS: dict[str, dict[int, int]] = {
    "htmlEscape": {79: 5},
    "jsonEscape": {79: 5},
    "stripDomain": {79: 5},
    "strvalue": {79: 5},
    "$for": {85: 1},
    "$type": {102: 20, 110: 7},
    "$isPartial": {110: 28, 122: 13},
    "$interval": {136: 15, 148: 1},
    "now": {110: 22, 122: 7},
    "formatTime": {122: 22, 136: 8},
    _VMALERT_SKIP_UNTEMPLATED: {97: 14, 102: 9},
}

_VERSION = re.compile(r"^\s*(?:go|v)?(\d+)\.(\d+)(?:\.(\d+))?")


def _parse_version(text: str) -> Version:
    match = _VERSION.match(text)
    if not match:
        raise ValueError(f"cannot read a version from {text!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True, eq=False)
class TemplateDialect:
    """What one evaluator (type, version, Go version) accepts in a label or annotation template."""

    name: str
    """"prometheus" or "vmalert"."""
    variables: frozenset[str]
    """Variables the evaluator's header declares, with the `$`."""
    functions: frozenset[str]
    """The evaluator's template functions plus Go's builtins."""
    skip_untemplated: bool
    """vmalert >= 1.108: a text without both `{{` and `}}` is not parsed."""
    break_continue: bool
    """Go >= 1.18: `break` and `continue` are keywords."""
    legacy_right_paren: bool
    """Go < 1.20: a stray `)` reaches the parser before the lexer's error."""
    else_with: bool
    """Go >= 1.23: `{{else with}}` continues a `with` (`{{else if}}` continues only an `if`)."""

    def template_name(self, alert: str | None) -> str:
        """The name the evaluator parses a rule's templates under (it appears in Go's messages)."""
        return f"__alert_{alert or ''}" if self.name == "prometheus" else ""


def _available(name: str, since: Version, version: Version | None, lts: dict[str, dict[int, int]]) -> bool:
    if version is None or version >= since:
        return True
    first_patch = lts.get(name, {}).get(version[1])
    return first_patch is not None and version[0] == since[0] and version[2] >= first_patch


@lru_cache(maxsize=64)
def template_dialect(
    dialect: str = "prometheus", version: str | None = None, go_version: str | None = None
) -> TemplateDialect:
    """The dialect of an evaluator type, optionally of one version and Go version (build info).

    `version` like "2.42.0", "v1.79.5" or "1.79.5+ds1"; `go_version` like "go1.19.8". Unset means the
    newest (current upstream main, newest Go).
    """
    ver = _parse_version(version) if version else None
    go = _parse_version(go_version) if go_version else None
    if dialect == "prometheus":
        functions = {f for f, since in _PROMETHEUS_FUNCTIONS.items() if _available(f, since, ver, {})}
        variables = {v for v, since in _PROMETHEUS_VARIABLES.items() if _available(v, since, ver, {})}
        skip = False
    elif dialect == "vmalert":
        functions = {f for f, since in _VMALERT_FUNCTIONS.items() if _available(f, since, ver, _VMALERT_LTS)}
        variables = {v for v, since in _VMALERT_VARIABLES.items() if _available(v, since, ver, _VMALERT_LTS)}
        skip = _available(_VMALERT_SKIP_UNTEMPLATED, _VMALERT_FEATURES[_VMALERT_SKIP_UNTEMPLATED], ver, _VMALERT_LTS)
    else:
        raise ValueError(f"unknown template dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    return TemplateDialect(
        name=dialect,
        variables=frozenset(variables),
        functions=frozenset(functions) | _GO_BUILTINS,
        skip_untemplated=skip,
        break_continue=go is None or go >= (1, 18, 0),
        legacy_right_paren=go is not None and go < (1, 20, 0),
        else_with=go is None or go >= (1, 23, 0),
    )
