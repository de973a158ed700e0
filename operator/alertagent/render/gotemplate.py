"""Go text/template parse check for alert labels and annotations, per rule evaluator (dialect).

What a rule evaluator refuses when it loads a rule file is exactly what Go's `text/template` parser
refuses for `header + text`, where the header is a run of `{{$var := .Field}}` actions the evaluator
prepends and the function map is the evaluator's own plus Go's builtins. This module is a
re-implementation (not a copy) of that parser, so the check accepts and refuses what the target does,
with Go's messages (`template: NAME:LINE: undefined variable "$label"`).

Upstream files mirrored, and the versions read:

- Go `src/text/template/parse/lex.go` and `parse.go` (Go 1.26): the lexer (an action starts only at
  `{{`; a `}}` in text is plain text; trim markers `{{- ` / ` -}}` need the ASCII space; comments
  `{{/* */}}` must end at the delimiter; quoted, raw and character constants; numbers; `(` `)` depth)
  and the parser (pipelines and declarations, `$x :=`/`$x =`, `range $i, $e :=`; variables are in
  scope from their declaration to the `end` of the enclosing `if`/`range`/`with`; `define` and `block`
  bodies start a new scope holding only `$`; `else if`, `else with`; `break`/`continue` only inside
  `range`; `function "f" not defined`; `template: multiple definition of template "n"`), with its
  three-token look-ahead, so that messages and line numbers are Go's; `node.go` (`newNumber`:
  integer, float, complex and character constants) with `strconv`'s and `fmt.Sscan`'s number and
  quote rules. Go version differences (``go_version``): `break`/`continue` are keywords from Go 1.18;
  up to Go 1.19 a stray `)` reached the parser (`unexpected ")" in command`), from Go 1.20 the lexer
  reports it (`unexpected right paren`); `{{else with}}` from Go 1.23 (`{{else if}}` continues only an
  `if`, in every version). The test bed's Debian binaries (Prometheus 2.42, vmalert 1.79.5) are
  built with go1.19.8.
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

Without ``version`` a dialect is the current upstream (Prometheus main, vmalert main, newest Go), so
`{{ now }}` passes the default Prometheus check though Prometheus 2.42 refuses it: pass the
evaluator's version (and Go version, both in its build info) to check against one build.

Parity was checked, message for message, against a Go 1.26 parse with each dialect's header and
function names, and against `promtool check rules` 2.42.0 and `vmalert -dryRun` 1.79.5 (go1.19.8),
on a hand-written table and on randomly generated templates. Known limits: execution-time errors
(unknown `.Field`, wrong argument count, `{{template "x"}}` of a template that does not exist) are
accepted, as by the targets' load-time checks. Nesting deeper than Python's recursion allows (about
250 nested blocks or parentheses; Go allows 10,000 parentheses) is refused with its own message.

Speed: texts without `{{` return at once; texts whose actions are all simple (`{{ $labels.job }}`,
`{{ $value | humanize }}`, `{{ printf "%.2f" $value }}`, see `_simple_actions_only`) skip the parser;
the rest are parsed, with results cached by (text, dialect, name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "DIALECTS",
    "TemplateDialect",
    "TemplateSyntaxError",
    "check_template",
    "template_dialect",
]

DIALECTS = ("prometheus", "vmalert")

Version = tuple[int, int, int]


class TemplateSyntaxError(ValueError):
    """A template the evaluator refuses; `str()` is Go's `template: NAME:LINE: reason`."""

    def __init__(self, reason: str, *, name: str = "", line: int = 1) -> None:
        super().__init__(f"template: {name}:{line}: {reason}")
        self.reason = reason
        self.name = name
        self.line = line


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


def check_template(
    text: str,
    dialect: str | TemplateDialect = "prometheus",
    *,
    name: str | None = None,
    version: str | None = None,
    go_version: str | None = None,
) -> None:
    """Raise TemplateSyntaxError when the evaluator would refuse `text` as a label/annotation template.

    `name` is the template name used in messages (Prometheus: `__alert_<alert>`; vmalert: empty).
    """
    if "{{" not in text:
        return  # no action: plain text for Go, whatever the dialect
    d = dialect if isinstance(dialect, TemplateDialect) else template_dialect(dialect, version, go_version)
    if d.skip_untemplated and "}}" not in text:
        return
    if _simple_actions_only(text, d):
        return
    tname = d.template_name(None) if name is None else name
    failure = _check_cached(text, d, tname)
    if failure is not None:
        reason, line = failure
        raise TemplateSyntaxError(reason, name=tname, line=line)


# Fast path. Most templates are actions of the form `{{ $labels.job }}`, `{{ .Value }}`,
# `{{ $value | humanize }}`, `{{ printf "%.2f" $value }}`: operands (a variable or field chain, a
# function name, a string without escapes, a plain decimal number) separated by single-line spaces,
# commands separated by `|`, later commands starting with a function name or a chain. Go accepts every
# such action whose variables are the header's and whose functions exist (no declarations, keywords,
# trim markers or comments can match), so these skip the parser; anything else goes through it.
_FP_CHAIN = r"(?:\$[A-Za-z_][A-Za-z0-9_]*+|\.[A-Za-z_][A-Za-z0-9_]*+)(?:\.[A-Za-z_][A-Za-z0-9_]*+)*+"
_FP_IDENT = r"[A-Za-z_][A-Za-z0-9_]*+"
_FP_OPERAND = rf'(?:{_FP_CHAIN}|{_FP_IDENT}|"[^"\\\n]*+"|(?:0|[1-9][0-9]{{0,17}})(?:\.[0-9]{{1,17}})?+)'
_FP_ARGUMENTS = rf"(?: ++{_FP_OPERAND})*+"
_FP_ACTION = re.compile(
    rf"\{{\{{ *+{_FP_OPERAND}{_FP_ARGUMENTS}(?: *+\| *+(?:{_FP_CHAIN}|{_FP_IDENT}){_FP_ARGUMENTS})*+ *+\}}\}}"
)
# Inside a matched action: strings (skipped), variables (group 1), field chains (skipped), names (group 2).
_FP_NAMES = re.compile(r'"[^"]*+"|(\$[A-Za-z0-9_]++)|\.[A-Za-z0-9_.]++|([A-Za-z_][A-Za-z0-9_]*+)')


def _simple_actions_only(text: str, dialect: TemplateDialect) -> bool:
    """True when every action of `text` is of the fast-path form and uses only known names."""
    variables, functions = dialect.variables, dialect.functions
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return True
        action = _FP_ACTION.match(text, start)
        if action is None:
            return False
        pos = action.end()
        for name in _FP_NAMES.finditer(text, start + 2, pos - 2):
            variable, function = name.group(1, 2)
            if (variable is not None and variable not in variables) or (
                function is not None and function not in functions
            ):
                return False


@lru_cache(maxsize=8192)
def _check_cached(text: str, dialect: TemplateDialect, name: str) -> tuple[str, int] | None:
    try:
        _parse(text, dialect, name)
    except TemplateSyntaxError as err:
        return err.reason, err.line
    except RecursionError:
        return "template nesting too deep for AlertAgent's check", 1
    return None


# --- Go formatting helpers ----------------------------------------------------------------------

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote(s: str) -> str:
    """Go's %q (strconv.Quote) of a string."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _go_rune(ch: str) -> str:
    """Go's %#U of a rune."""
    code = f"U+{ord(ch):04X}"
    return f"{code} '{ch}'" if ch.isprintable() else code


# --- lexer (mirrors text/template/parse/lex.go) ---------------------------------------------------

# Item types; keywords sort after _KEYWORD as in lex.go.
(
    ERROR,
    BOOL,
    CHAR,
    CHAR_CONSTANT,
    COMMENT,
    COMPLEX,
    ASSIGN,
    DECLARE,
    EOF,
    FIELD,
    IDENTIFIER,
    LEFT_DELIM,
    LEFT_PAREN,
    NUMBER,
    PIPE,
    RAW_STRING,
    RIGHT_DELIM,
    RIGHT_PAREN,
    SPACE,
    STRING,
    TEXT,
    VARIABLE,
    _KEYWORD,
    BLOCK,
    BREAK,
    CONTINUE,
    DOT,
    DEFINE,
    ELSE,
    END,
    IF,
    NIL,
    RANGE,
    TEMPLATE,
    WITH,
) = range(35)

_KEYWORDS = {
    "block": BLOCK,
    "break": BREAK,
    "continue": CONTINUE,
    "define": DEFINE,
    "else": ELSE,
    "end": END,
    "if": IF,
    "range": RANGE,
    "nil": NIL,
    "template": TEMPLATE,
    "with": WITH,
}

Item = tuple[int, int, str]  # type, position (in characters; Go counts bytes, used only for lines), value

_SPACES = " \t\r\n"
_TERMINATORS = " \t\r\n.,|:()"
_ASCII_WORD = re.compile(r"[0-9A-Za-z_]*")
_QUOTED_REST = re.compile(r'(?:[^"\\\n]|\\[^\n])*"')
_CHAR_REST = re.compile(r"(?:[^'\\\n]|\\[^\n])*'")
_DEC, _HEX, _OCT, _BIN = "0123456789_", "0123456789abcdefABCDEF_", "01234567_", "01_"


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def _word_end(text: str, pos: int) -> int:
    """End of the run of Go alphanumerics (letters, decimal digits, `_`) starting at pos."""
    n = len(text)
    while True:
        match = _ASCII_WORD.match(text, pos)
        pos = match.end() if match else pos
        if pos < n and ord(text[pos]) > 0x7F and _is_alnum(text[pos]):
            pos += 1
            continue
        return pos


def _at_terminator(text: str, pos: int) -> bool:
    return pos >= len(text) or text[pos] in _TERMINATORS or text.startswith("}}", pos)


def _scan_number(text: str, pos: int) -> tuple[bool, int]:
    n = len(text)
    if pos < n and text[pos] in "+-":
        pos += 1
    digits = _DEC
    if pos < n and text[pos] == "0":
        pos += 1
        if pos < n and text[pos] in "xX":
            pos, digits = pos + 1, _HEX
        elif pos < n and text[pos] in "oO":
            pos, digits = pos + 1, _OCT
        elif pos < n and text[pos] in "bB":
            pos, digits = pos + 1, _BIN
    while pos < n and text[pos] in digits:
        pos += 1
    if pos < n and text[pos] == ".":
        pos += 1
        while pos < n and text[pos] in digits:
            pos += 1
    if (digits is _DEC and pos < n and text[pos] in "eE") or (digits is _HEX and pos < n and text[pos] in "pP"):
        pos += 1
        if pos < n and text[pos] in "+-":
            pos += 1
        while pos < n and text[pos] in _DEC:
            pos += 1
    if pos < n and text[pos] == "i":
        pos += 1
    if pos < n and _is_alnum(text[pos]):
        return False, pos + 1
    return True, pos


class _Lexer:
    """Go's lexer run to the end (or the first error) up front; the parser reads `items` in order."""

    __slots__ = ("break_ok", "index", "items", "legacy_paren", "text")

    def __init__(self, text: str, dialect: TemplateDialect) -> None:
        self.text = text
        self.items: list[Item] = []
        self.index = 0
        self.break_ok = dialect.break_continue and "break" not in dialect.functions
        self.legacy_paren = dialect.legacy_right_paren
        self._lex_text(0)

    def next_item(self) -> Item:
        items = self.items
        if self.index < len(items):
            item = items[self.index]
            self.index += 1
            return item
        return items[-1]  # EOF or the error, again

    def _lex_text(self, pos: int) -> None:
        text, items = self.text, self.items
        n = len(text)
        while True:
            x = text.find("{{", pos)
            if x < 0:
                if n > pos:
                    items.append((TEXT, pos, text[pos:]))
                items.append((EOF, n, "EOF"))
                return
            after = x + 2
            trim = after + 1 < n and text[after] == "-" and text[after + 1] in _SPACES
            if x > pos:
                end = x
                if trim:
                    while end > pos and text[end - 1] in _SPACES:
                        end -= 1
                if end > pos:
                    items.append((TEXT, pos, text[pos:end]))
            inner = after + 2 if trim else after
            if text.startswith("/*", inner):
                pos = self._lex_comment(inner)
            else:
                items.append((LEFT_DELIM, x, "{{"))
                pos = self._lex_action(inner)
            if pos < 0:
                return

    def _right_delim(self, pos: int) -> tuple[bool, bool]:
        text = self.text
        if pos < len(text) and text[pos] in _SPACES and text.startswith("-}}", pos + 1):
            return True, True
        return text.startswith("}}", pos), False

    def _skip_spaces(self, pos: int) -> int:
        text, n = self.text, len(self.text)
        while pos < n and text[pos] in _SPACES:
            pos += 1
        return pos

    def _error(self, pos: int, message: str) -> int:
        self.items.append((ERROR, pos, message))
        return -1

    def _lex_comment(self, start: int) -> int:
        close = self.text.find("*/", start + 2)
        if close < 0:
            return self._error(start, "unclosed comment")
        pos = close + 2
        delim, trim = self._right_delim(pos)
        if not delim:
            return self._error(start, "comment ends before closing delimiter")
        pos += 4 if trim else 2
        return self._skip_spaces(pos) if trim else pos

    def _lex_right_delim(self, pos: int, trim: bool) -> int:
        if trim:
            pos += 2
        self.items.append((RIGHT_DELIM, pos, "}}"))
        pos += 2
        return self._skip_spaces(pos) if trim else pos

    def _lex_action(self, pos: int) -> int:  # noqa: PLR0915 - one state per branch, as in lex.go
        text, items, n = self.text, self.items, len(self.text)
        paren_depth = 0
        while True:
            if pos >= n:
                return self._error(pos, "unclosed action")
            ch = text[pos]
            if ch == "}" or ch in _SPACES:
                delim, trim = self._right_delim(pos)
                if delim:
                    if paren_depth == 0:
                        return self._lex_right_delim(pos, trim)
                    return self._error(pos, "unclosed left paren")
            start = pos
            pos += 1
            if ch in _SPACES:
                end = self._skip_spaces(pos)
                if end < n and text[end] == "-" and text.startswith("}}", end + 1):
                    end -= 1  # the last space belongs to " -}}"
                    if end == start:
                        pos = start
                        continue
                items.append((SPACE, start, text[start:end]))
                pos = end
            elif ch == "=":
                items.append((ASSIGN, start, "="))
            elif ch == ":":
                if pos >= n or text[pos] != "=":
                    return self._error(start, "expected :=")
                pos += 1
                items.append((DECLARE, start, ":="))
            elif ch == "|":
                items.append((PIPE, start, "|"))
            elif ch == '"':
                match = _QUOTED_REST.match(text, pos)
                if match is None:
                    return self._error(start, "unterminated quoted string")
                pos = match.end()
                items.append((STRING, start, text[start:pos]))
            elif ch == "`":
                close = text.find("`", pos)
                if close < 0:
                    return self._error(start, "unterminated raw quoted string")
                pos = close + 1
                items.append((RAW_STRING, start, text[start:pos]))
            elif ch == "$":
                pos = self._field_or_variable(start, pos, VARIABLE)
            elif ch == "'":
                match = _CHAR_REST.match(text, pos)
                if match is None:
                    return self._error(start, "unterminated character constant")
                pos = match.end()
                items.append((CHAR_CONSTANT, start, text[start:pos]))
            elif ch == "." and pos < n and not ("0" <= text[pos] <= "9"):
                pos = self._field_or_variable(start, pos, FIELD)
            elif ch in "+-." or "0" <= ch <= "9":
                pos = self._number(start)
            elif _is_alnum(ch):
                pos = self._identifier(start)
            elif ch == "(":
                paren_depth += 1
                items.append((LEFT_PAREN, start, "("))
            elif ch == ")":
                paren_depth -= 1
                if self.legacy_paren:
                    items.append((RIGHT_PAREN, start, ")"))
                    if paren_depth < 0:
                        return self._error(pos, f"unexpected right paren {_go_rune(ch)}")
                elif paren_depth < 0:
                    return self._error(start, "unexpected right paren")
                else:
                    items.append((RIGHT_PAREN, start, ")"))
            elif ord(ch) <= 0x7F and ch.isprintable():
                items.append((CHAR, start, ch))
            else:
                return self._error(start, f"unrecognized character in action: {_go_rune(ch)}")
            if pos < 0:
                return pos

    def _field_or_variable(self, start: int, pos: int, typ: int) -> int:
        text = self.text
        if _at_terminator(text, pos):  # "$" alone, or "." (the dot)
            self.items.append((VARIABLE, start, "$") if typ == VARIABLE else (DOT, start, "."))
            return pos
        end = _word_end(text, pos)
        if not _at_terminator(text, end):
            return self._error(start, f"bad character {_go_rune(text[end])}")
        self.items.append((typ, start, text[start:end]))
        return end

    def _identifier(self, start: int) -> int:
        text = self.text
        end = _word_end(text, start)
        if not _at_terminator(text, end):
            return self._error(start, f"bad character {_go_rune(text[end])}")
        word = text[start:end]
        typ = _KEYWORDS.get(word)
        if typ is not None and not (typ in (BREAK, CONTINUE) and not self.break_ok):
            self.items.append((typ, start, word))
        elif word in ("true", "false"):
            self.items.append((BOOL, start, word))
        else:
            self.items.append((IDENTIFIER, start, word))
        return end

    def _number(self, start: int) -> int:
        text = self.text
        ok, pos = _scan_number(text, start)
        if not ok:
            return self._error(start, f"bad number syntax: {_go_quote(text[start:pos])}")
        if pos < len(text) and text[pos] in "+-":
            ok, pos = _scan_number(text, pos)
            if not ok or text[pos - 1] != "i":
                return self._error(start, f"bad number syntax: {_go_quote(text[start:pos])}")
            self.items.append((COMPLEX, start, text[start:pos]))
            return pos
        self.items.append((NUMBER, start, text[start:pos]))
        return pos


# --- constants (mirrors parse/node.go newNumber and strconv) -------------------------------------

_SIMPLE_ESCAPES = frozenset("abfnrtv\\")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_ESCAPE_WIDTH = {"x": 2, "u": 4, "U": 8}


def _unquote_char(s: str, i: int, quote: str) -> int:
    """strconv.UnquoteChar at s[i:]: the index after one (possibly escaped) character; -1 if invalid."""
    ch = s[i]
    if ch == quote:
        return -1
    if ch != "\\":
        return i + 1
    if i + 1 >= len(s):
        return -1
    esc = s[i + 1]
    if esc in _SIMPLE_ESCAPES:
        return i + 2
    if esc in _ESCAPE_WIDTH:
        digits = s[i + 2 : i + 2 + _ESCAPE_WIDTH[esc]]
        if len(digits) != _ESCAPE_WIDTH[esc] or not set(digits) <= _HEX_DIGITS:
            return -1
        value = int(digits, 16)
        if esc != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            return -1
        return i + 2 + len(digits)
    if "0" <= esc <= "7":
        digits = s[i + 1 : i + 4]
        if len(digits) != 3 or not all("0" <= c <= "7" for c in digits) or int(digits, 8) > 255:
            return -1
        return i + 4
    if esc in "'\"":
        return i + 2 if esc == quote else -1
    return -1


def _string_ok(token: str) -> bool:
    """strconv.Unquote succeeds on a quoted or raw string token."""
    if token[0] == "`":
        return True
    body, i = token[1:-1], 0
    while i < len(body):
        i = _unquote_char(body, i, '"')
        if i < 0:
            return False
    return True


def _underscore_ok(s: str) -> bool:
    saw, i = "^", 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        i, saw, hexa = 2, "0", s[1] in "xX"
    for c in s[i:]:
        if "0" <= c <= "9" or (hexa and c in "abcdefABCDEF"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"


def _parse_uint(s: str) -> int | None:
    """strconv.ParseUint(s, 0, 64)."""
    if not s:
        return None
    base, digits = 10, s
    if s[0] == "0":
        prefix = s[1:2].lower()
        if len(s) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], s[2:]
        else:
            base, digits = 8, s[1:]
    value = 0
    for c in digits:
        if c == "_":
            continue
        d = int(c, 36) if c.isascii() and c.isalnum() else 99
        if d >= base:
            return None
        value = value * base + d
    if value >= 1 << 64 or ("_" in s and not _underscore_ok(s)):
        return None
    return value


def _int_ok(s: str) -> bool:
    """strconv.ParseUint or ParseInt (base 0, 64 bits) succeeds."""
    sign = s[:1]
    value = _parse_uint(s[1:] if sign in ("+", "-") else s)
    if value is None:
        return False
    return value <= {"-": 1 << 63, "+": (1 << 63) - 1}.get(sign, (1 << 64) - 1)


_DEC_FLOAT = re.compile(r"[+-]?(?=[0-9_]*\.?[0-9])[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9][0-9_]*)?")
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?=[0-9a-fA-F_]*\.?[0-9a-fA-F])[0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?[pP][+-]?[0-9][0-9_]*"
)


def _float_error(s: str) -> str | None:
    """strconv.ParseFloat(s, 64): None, "invalid syntax" or "value out of range"."""
    hexa = _HEX_FLOAT.fullmatch(s) is not None
    if (not hexa and _DEC_FLOAT.fullmatch(s) is None) or ("_" in s and not _underscore_ok(s)):
        return "invalid syntax"
    plain = s.replace("_", "")
    try:
        value = float.fromhex(plain) if hexa else float(plain)
    except OverflowError:
        return "value out of range"
    return "value out of range" if value in (float("inf"), float("-inf")) else None


def _fmt_float_token(s: str, i: int) -> int:
    """fmt's floatToken (what Sscan reads as one float) from s[i:]; the index after it."""

    def accept(i: int, chars: str) -> int:
        return i + 1 if i < len(s) and s[i] in chars else i

    for chars in ("nN", "aA", "nN"):  # NaN: each accepted letter stays consumed, as in fmt
        j = accept(i, chars)
        if j == i:
            break
        i = j
    else:
        return i
    i = accept(i, "+-")
    for chars in ("iI", "nN", "fF"):  # Inf
        j = accept(i, chars)
        if j == i:
            break
        i = j
    else:
        return i
    digits, exponent = "0123456789_", "eEpP"
    j = accept(i, "0")
    if j > i and accept(j, "xX") > j:
        i, digits, exponent = j + 1, "0123456789aAbBcCdDeEfF_", "pP"
    else:
        i = j
    while accept(i, digits) > i:
        i += 1
    if accept(i, ".") > i:
        i += 1
        while accept(i, digits) > i:
            i += 1
    if accept(i, exponent) > i:
        i = accept(i + 1, "+-")
        while accept(i, "0123456789_") > i:
            i += 1
    return i


def _complex_error(token: str) -> str | None:
    """fmt.Sscan of a complex constant, as newNumber does it: its error, or None."""
    real_end = _fmt_float_token(token, 0)
    if real_end >= len(token) or token[real_end] not in "+-":
        return "syntax error scanning complex number"
    imag_end = _fmt_float_token(token, real_end + 1)
    if imag_end >= len(token) or token[imag_end] != "i":
        return "syntax error scanning complex number"
    for part in (token[:real_end], token[real_end:imag_end]):
        error = _float_error(part)
        if error is not None:
            return f"strconv.ParseFloat: parsing {_go_quote(part)}: {error}"
    return None


def _number_error(typ: int, token: str) -> str | None:
    """Go's newNumber: the error for a number, complex or character constant token, or None."""
    if typ == CHAR_CONSTANT:
        end = _unquote_char(token, 1, "'") if len(token) > 1 else -1
        if end < 0:
            return "invalid syntax"
        return None if token[end:] == "'" else f"malformed character constant: {token}"
    if typ == COMPLEX:
        return _complex_error(token)
    if token.endswith("i") and _float_error(token[:-1]) is None:
        return None
    if _int_ok(token):
        return None
    if _float_error(token) is None:
        return None if any(c in token for c in ".eEpP") else f"integer overflow: {_go_quote(token)}"
    return f"illegal number syntax: {_go_quote(token)}"


# --- parser (mirrors text/template/parse/parse.go) -------------------------------------------------

# Node kinds the checks need.
(
    N_TEXT,
    N_BLANK_TEXT,
    N_ACTION,
    N_IF,
    N_RANGE,
    N_WITH,
    N_TEMPLATE,
    N_END,
    N_ELSE,
    N_BREAK,
    N_CONTINUE,
    N_BOOL,
    N_DOT,
    N_NIL,
    N_NUMBER,
    N_STRING,
    N_FIELD,
    N_VARIABLE,
    N_IDENTIFIER,
    N_PIPE,
    N_CHAIN,
) = range(21)

_NODE_TEXT = {N_END: "{{end}}", N_ELSE: "{{else}}"}
_NON_EXECUTABLE = frozenset({N_BOOL, N_DOT, N_NIL, N_NUMBER, N_STRING})
_OPERAND_START = frozenset(
    {BOOL, CHAR_CONSTANT, COMPLEX, DOT, FIELD, IDENTIFIER, NUMBER, NIL, RAW_STRING, STRING, VARIABLE, LEFT_PAREN}
)
_MAX_STACK_DEPTH = 10000


def _item_text(item: Item) -> str:
    """Go's item.String()."""
    typ, _, val = item
    if typ == EOF:
        return "EOF"
    if typ == ERROR:
        return val
    if typ > _KEYWORD:
        return f"<{val}>"
    if len(val.encode("utf-8", "surrogatepass")) > 10:  # bytes; the quoted prefix is 10 runes
        return _go_quote(val[:10]) + "..."
    return _go_quote(val)


class _Tree:
    """One parse tree: the top-level template, or a `define`/`block` body sharing the lexer."""

    __slots__ = (
        "action_line",
        "dialect",
        "lex",
        "name",
        "parse_name",
        "peek_count",
        "range_depth",
        "stack_depth",
        "token",
        "tree_set",
        "vars",
    )

    def __init__(
        self, name: str, parse_name: str, lex: _Lexer, dialect: TemplateDialect, tree_set: dict[str, bool]
    ) -> None:
        self.name = name
        self.parse_name = parse_name
        self.lex = lex
        self.dialect = dialect
        self.tree_set = tree_set  # template name -> its body is empty (IsEmptyTree)
        self.token: list[Item] = [(EOF, 0, "")] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.stack_depth = 0

    # token stream
    def next(self) -> Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Item, t1: Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> Item:
        token = self.next()
        while token[0] == SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Item:
        token = self.next_non_space()
        self.backup()
        return token

    # errors
    def line_of(self, item: Item) -> int:
        return self.lex.text.count("\n", 0, item[1]) + 1

    def errorf(self, reason: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(reason, name=self.parse_name, line=self.line_of(self.token[0]))

    def expect(self, expected: int, context: str) -> Item:
        token = self.next_non_space()
        if token[0] != expected:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> TemplateSyntaxError:
        if token[0] == ERROR:
            extra = ""
            token_line = self.line_of(token)
            if self.action_line not in (0, token_line):
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if token[2].endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token[2]}{extra}")
        return self.errorf(f"unexpected {_item_text(token)} in {context}")

    # structure
    def parse_top(self) -> None:
        root: list[int] = []
        while self.peek()[0] != EOF:
            if self.peek()[0] == LEFT_DELIM:
                delim = self.next()
                if self.next_non_space()[0] == DEFINE:
                    _Tree("definition", self.parse_name, self.lex, self.dialect, self.tree_set).parse_definition()
                    continue
                self.backup2(delim)
            node = self.text_or_action()
            if node in (N_END, N_ELSE):
                raise self.errorf(f"unexpected {_NODE_TEXT[node]}")
            root.append(node)
        # The header's actions make the top-level tree non-empty.
        self.add(empty=False)

    def add(self, *, empty: bool) -> None:
        existing = self.tree_set.get(self.name)
        if existing is None or existing:
            self.tree_set[self.name] = empty
            return
        if not empty:
            raise self.errorf(f"template: multiple definition of template {_go_quote(self.name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token[0] not in (STRING, RAW_STRING):
            raise self.unexpected(token, context)
        if not _string_ok(token[2]):
            raise self.errorf("invalid syntax")
        self.name = _unquoted(token[2])
        self.expect(RIGHT_DELIM, context)
        body, end = self.item_list()
        if end != N_END:
            raise self.errorf(f"unexpected {_NODE_TEXT[end]} in {context}")
        self.add(empty=_is_empty(body))

    def item_list(self) -> tuple[list[int], int]:
        nodes: list[int] = []
        while self.peek_non_space()[0] != EOF:
            node = self.text_or_action()
            if node in (N_END, N_ELSE):
                return nodes, node
            nodes.append(node)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> int:
        token = self.next_non_space()
        typ = token[0]
        if typ == TEXT:
            return N_TEXT if token[2].strip() else N_BLANK_TEXT
        if typ == LEFT_DELIM:
            self.action_line = self.line_of(token)
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> int:
        token = self.next_non_space()
        typ = token[0]
        if typ == IF:
            return self.parse_control("if", N_IF)
        if typ == RANGE:
            return self.parse_control("range", N_RANGE)
        if typ == WITH:
            return self.parse_control("with", N_WITH)
        if typ == END:
            self.expect(RIGHT_DELIM, "end")
            return N_END
        if typ == ELSE:
            return self.else_control()
        if typ == BLOCK:
            return self.block_control()
        if typ == TEMPLATE:
            return self.template_control()
        if typ in (BREAK, CONTINUE):
            word = "{{break}}" if typ == BREAK else "{{continue}}"
            following = self.next_non_space()
            if following[0] != RIGHT_DELIM:
                raise self.unexpected(following, word)
            if self.range_depth == 0:
                raise self.errorf(f"{word} outside {{{{range}}}}")
            return N_BREAK if typ == BREAK else N_CONTINUE
        self.backup()
        self.pipeline("command", RIGHT_DELIM)  # variables declared here persist until "end"
        return N_ACTION

    def else_control(self) -> int:
        peek = self.peek_non_space()
        if peek[0] == IF or (peek[0] == WITH and self.dialect.else_with):
            return N_ELSE  # "else if"/"else with": the keyword is left pending
        self.expect(RIGHT_DELIM, "else")
        return N_ELSE

    def parse_control(self, context: str, kind: int) -> int:
        saved = len(self.vars)
        try:
            self.pipeline(context, RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            _, following = self.item_list()
            if context == "range":
                self.range_depth -= 1
            if following == N_ELSE:
                chained = (context == "if" and self.peek()[0] == IF) or (
                    context == "with" and self.dialect.else_with and self.peek()[0] == WITH
                )
                if chained:
                    nested = self.next()[0]
                    self.parse_control("if" if nested == IF else "with", N_IF if nested == IF else N_WITH)
                else:
                    _, following = self.item_list()
                    if following != N_END:
                        raise self.errorf(f"expected end; found {_NODE_TEXT[following]}")
        finally:
            del self.vars[saved:]
        return kind

    def block_control(self) -> int:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        self.pipeline(context, RIGHT_DELIM)
        block = _Tree(name, self.parse_name, self.lex, self.dialect, self.tree_set)
        body, end = block.item_list()
        if end != N_END:
            raise self.errorf(f"unexpected {_NODE_TEXT[end]} in {context}")
        block.add(empty=_is_empty(body))
        return N_TEMPLATE

    def template_control(self) -> int:
        context = "template clause"
        token = self.next_non_space()
        self.template_name(token, context)
        if self.next_non_space()[0] != RIGHT_DELIM:
            self.backup()
            self.pipeline(context, RIGHT_DELIM)
        return N_TEMPLATE

    def template_name(self, token: Item, context: str) -> str:
        if token[0] not in (STRING, RAW_STRING):
            raise self.unexpected(token, context)
        if not _string_ok(token[2]):
            raise self.errorf("invalid syntax")
        return _unquoted(token[2])

    # pipelines
    def pipeline(self, context: str, end: int) -> None:
        self.peek_non_space()
        declarations = 0
        while True:
            v = self.peek_non_space()
            if v[0] != VARIABLE:
                break
            self.next()
            token_after = self.peek()
            following = self.peek_non_space()
            if following[0] in (ASSIGN, DECLARE):
                self.next_non_space()
                declarations += 1
                self.vars.append(v[2])
            elif following[0] == CHAR and following[2] == ",":
                self.next_non_space()
                declarations += 1
                self.vars.append(v[2])
                if context == "range" and declarations < 2:
                    if self.peek_non_space()[0] in (VARIABLE, RIGHT_DELIM, RIGHT_PAREN):
                        continue  # the second variable of a range
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            elif token_after[0] == SPACE:
                self.backup3(v, token_after)
            else:
                self.backup2(v)
            break
        commands: list[int] = []
        while True:
            token = self.next_non_space()
            if token[0] == end:
                if not commands:
                    raise self.errorf(f"missing value for {context}")
                for stage, first in enumerate(commands[1:], start=2):
                    if first in _NON_EXECUTABLE:
                        raise self.errorf(f"non executable command in pipeline stage {stage}")
                return
            if token[0] in _OPERAND_START:
                self.backup()
                commands.append(self.command())
            else:
                raise self.unexpected(token, context)

    def command(self) -> int:
        """Parse one command; return the kind of its first argument."""
        self.peek_non_space()
        first = -1
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None and first < 0:
                first = operand
            token = self.next()
            if token[0] == SPACE:
                continue
            if token[0] in (RIGHT_DELIM, RIGHT_PAREN):
                self.backup()
            elif token[0] != PIPE:
                raise self.unexpected(token, "operand")
            break
        if first < 0:
            raise self.errorf("empty command")
        return first

    def operand(self) -> int | None:
        term = self.term()
        if term is None:
            return None
        kind, text = term
        if self.peek()[0] == FIELD:
            while self.peek()[0] == FIELD:
                self.next()
            if kind in (N_FIELD, N_VARIABLE):
                return kind
            if kind in _NON_EXECUTABLE:
                raise self.errorf(f"unexpected . after term {_go_quote(text)}")
            return N_CHAIN
        return kind

    def term(self) -> tuple[int, str] | None:
        token = self.next_non_space()
        typ, _, val = token
        if typ == IDENTIFIER:
            if val not in self.dialect.functions:
                raise self.errorf(f"function {_go_quote(val)} not defined")
            return N_IDENTIFIER, val
        if typ == VARIABLE:
            if val.split(".", 1)[0] not in self.vars:
                raise self.errorf(f"undefined variable {_go_quote(val)}")
            return N_VARIABLE, val
        if typ == FIELD:
            return N_FIELD, val
        if typ in (STRING, RAW_STRING):
            if not _string_ok(val):
                raise self.errorf("invalid syntax")
            return N_STRING, val
        if typ in (NUMBER, COMPLEX, CHAR_CONSTANT):
            error = _number_error(typ, val)
            if error is not None:
                raise self.errorf(error)
            return N_NUMBER, val
        if typ == DOT:
            return N_DOT, "."
        if typ == NIL:
            return N_NIL, "nil"
        if typ == BOOL:
            return N_BOOL, val
        if typ == LEFT_PAREN:
            if self.stack_depth >= _MAX_STACK_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                self.pipeline("parenthesized pipeline", RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
            return N_PIPE, "(...)"
        self.backup()
        return None


def _is_empty(nodes: list[int]) -> bool:
    """parse.IsEmptyTree of a body: only blank text (and comments, which are not kept here)."""
    return all(node == N_BLANK_TEXT for node in nodes)


def _unquoted(token: str) -> str:
    """The value of a string token already known to be valid (enough for template names)."""
    if token[0] == "`":
        return token[1:-1].replace("\r", "")
    body = token[1:-1]
    if "\\" not in body:
        return body
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")


def _parse(text: str, dialect: TemplateDialect, name: str) -> None:
    """Parse `header + text` as the evaluator does; raise TemplateSyntaxError on its first error."""
    tree = _Tree(name, name, _Lexer(text, dialect), dialect, {})
    tree.vars.extend(sorted(dialect.variables))
    tree.parse_top()
