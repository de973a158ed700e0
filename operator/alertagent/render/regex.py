"""RE2 checks for every regular expression that reaches a target (pure).

- Alertmanager matchers (channel routes, policy matchers, inhibit rules, dependency suppression) are
  checked by the models themselves (`api.common.Matcher`) with `re2_error`.
- PromQL label matchers (`{label=~"RE"}`, `{label!~"RE"}`) and `label_replace`'s regex are checked by
  `promql_regex_issues`.

Upstream behaviour mirrored:
- Prometheus v2.42-v3 `promql/parser` (`newLabelMatcher` → `labels.NewMatcher` →
  `regexp.Compile("^(?:" + v + ")$")`): a bad regex is a parse error of the expression, reported as
  `<line>:<col>: parse error: error parsing regexp: ...` at the matcher's label (`ParseErr.Error`), so
  promtool and Prometheus refuse the whole rule file.
- `label_replace(v, dst, repl, src, regex)` (promql/functions.go): Prometheus compiles the regex
  anchored at evaluation time and fails every evaluation with `invalid regular expression in
  label_replace(): <regex>`; refused here up front, with Go's reason appended.
- vmalert (MetricsQL) anchors label regexes the same way; when promql-parser cannot parse an expression
  (MetricsQL extensions) the label matchers are found by the lexical scan alone.
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser

from ..common.regex import re2_error

__all__ = ["promql_regex_issues", "re2_error"]

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_HEX = {"x": 2, "u": 4, "U": 8}
_OCTAL = "01234567"
_CHILDREN = ("lhs", "rhs", "expr", "param", "vector_selector")


def _unquote(body: str, quote: str) -> str | None:
    """The value of a PromQL string literal's body (without its quotes), as Prometheus's lexer
    (`lexEscape`) and `strconv.Unquote` read it; None when the escapes are invalid (a parse error
    reported elsewhere). Raises nothing."""
    if quote == "`":
        return body
    out, raw, i, n = [], bytearray(), 0, len(body)

    def flush() -> None:
        if raw:
            out.append(raw.decode("utf-8", "surrogateescape"))
            raw.clear()

    while i < n:
        c = body[i]
        if c != "\\":
            flush()
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES or e == quote:
            flush()
            out.append(_SIMPLE_ESCAPES.get(e, e))
            i += 2
        elif e in _HEX:
            digits = body[i + 2 : i + 2 + _HEX[e]]
            if len(digits) != _HEX[e] or any(d not in "0123456789abcdefABCDEF" for d in digits):
                return None
            value = int(digits, 16)
            if e == "x":
                raw.append(value)  # a byte, as in Go
            else:
                if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    return None
                flush()
                out.append(chr(value))
            i += 2 + _HEX[e]
        elif e in _OCTAL:
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in _OCTAL for d in digits) or int(digits, 8) > 255:
                return None
            raw.append(int(digits, 8))
            i += 4
        else:
            return None
    flush()
    return "".join(out)


def _position(expr: str, offset: int) -> str:
    """`line:col` as Prometheus's ParseErr prints it (1-based, columns in bytes)."""
    before = expr[:offset]
    line = before.count("\n") + 1
    last = before.rfind("\n")
    col = len(before[last + 1 :].encode("utf-8", "surrogatepass")) + 1
    return f"{line}:{col}"


# PromQL / MetricsQL tokens that matter for finding label matchers: comments, the three string forms,
# braces, commas, the regex operators and label names (anything else is skipped).
_TOKENS = re.compile(
    r"""#[^\n]*|"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|`[^`]*`?|[{},]|[=!]~|[^\W\d][\w.:]*""",
    re.DOTALL,
)


def _label_matchers(expr: str) -> list[tuple[int, str]]:
    """(offset of the label, regex) of every `=~` / `!~` label matcher inside braces, found by a
    lexical scan (strings, comments, braces) that works for PromQL and MetricsQL alike."""
    found: list[tuple[int, str]] = []
    depth = 0
    label_at: int | None = None  # offset of the last label name (identifier or quoted) inside braces
    pending: int | None = None  # label offset of a regex operator waiting for its string
    for token in _TOKENS.finditer(expr):
        text, at = token.group(), token.start()
        first = text[0]
        if first == "#":
            continue
        if first in "\"'`":
            if (
                len(text) < 2
                or text[-1] != first
                or (first != "`" and text.endswith("\\" + first) and _odd_escapes(text))
            ):
                return found  # unterminated string: a parse error reported elsewhere
            if pending is not None:
                value = _unquote(text[1:-1], first)
                if value is not None:
                    found.append((pending, value))
            elif depth:
                label_at = at
            pending = None
        elif first == "{":
            depth += 1
            label_at = pending = None
        elif first == "}":
            depth = max(0, depth - 1)
            pending = None
        elif first == ",":
            label_at = pending = None
        elif depth and text in ("=~", "!~"):
            pending = label_at if label_at is not None else at
        elif depth:
            label_at, pending = at, None
    return found


def _odd_escapes(token: str) -> bool:
    """Whether a quoted token's closing quote is itself escaped (so the string is unterminated)."""
    backslashes = len(token) - 1 - len(token[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def _nodes(ast: Any) -> list[Any]:
    """Every node of a promql-parser AST (iteratively: deep expressions cannot overflow the stack)."""
    nodes, stack = [], [ast]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for attr in _CHILDREN:
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                stack.append(child)
        stack.extend(getattr(node, "args", None) or [])
    return nodes


# promql-parser (Rust, via pyo3) overflows its stack and kills the process (SIGSEGV) on deep
# expressions: `up` + `+up` * 5000 or `-` * 10000 + `up` (found by tests/unit/test_properties.py).
# Expressions whose depth bound exceeds this are never handed to it here.
MAX_PARSE_DEPTH = 1000
_OPERATOR_CHARS = frozenset("+-*/%^<>=!")
_KEYWORD_OPS = re.compile(r"\b(and|or|unless|atan2)\b")


def promql_depth_bound(expr: str) -> int:
    """An upper bound of the AST depth of a PromQL expression, cheaply and lexically: bracket nesting
    plus operator characters and keyword operators outside strings and comments. Raises nothing."""
    if len(expr) <= MAX_PARSE_DEPTH:
        return len(expr)  # no deeper than it is long: nothing to scan
    depth = deepest = operators = 0
    i, n = 0, len(expr)
    code: list[str] = []
    while i < n:
        c = expr[i]
        if c == "#":
            end = expr.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if c != "`" and expr[j] == "\\" else 1
            i = j + 1
            code.append(" ")
            continue
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth -= 1
        elif c in _OPERATOR_CHARS:
            operators += 1
        code.append(c)
        i += 1
    return deepest + operators + len(_KEYWORD_OPS.findall("".join(code)))


def _label_replace_regexes(expr: str) -> list[str]:
    if "label_replace" not in expr or promql_depth_bound(expr) > MAX_PARSE_DEPTH:
        return []  # the common case needs no second parse; a deep one must not reach promql-parser
    try:
        ast = promql_parser.parse(expr)
    except Exception:  # not PromQL (MetricsQL, or invalid): the parse error is reported elsewhere
        return []
    regexes = []
    for node in _nodes(ast):
        func = getattr(node, "func", None)
        args = getattr(node, "args", None) or []
        if getattr(func, "name", None) == "label_replace" and len(args) == 5:
            value = getattr(args[4], "val", None)
            if isinstance(value, str):
                regexes.append(value)
    return regexes


# A quoted regex after `=~` / `!~`, and what in one can read differently in Go's RE2 than in other
# engines (escapes, classes, repetition counts, flags); a regex without any of them means the same
# everywhere, so an expression whose regexes are all plain needs no RE2 check.
_QUOTED_REGEX = re.compile(r"""[=!]~\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|`([^`]*)`)""")
_NOT_PLAIN = re.compile(r"[\\\[{]|\(\?")


def _plain_regexes_only(expr: str) -> bool:
    if "label_replace" in expr:
        return False
    return not any(_NOT_PLAIN.search(v) for m in _QUOTED_REGEX.finditer(expr) for v in m.groups() if v)


def promql_regex_issues(expr: str) -> list[str]:
    """Go's error for each regex in a PromQL (or MetricsQL) expression the targets would refuse, in
    the target's words; empty when all compile. Raises nothing."""
    if ("~" not in expr and "label_replace" not in expr) or _plain_regexes_only(expr):
        return []  # no regex, or only plain ones (the common case): free
    try:
        issues = [
            f"{_position(expr, offset)}: parse error: {error}"
            for offset, value in _label_matchers(expr)
            if (error := re2_error(value)) is not None
        ]
        for regex in _label_replace_regexes(expr):
            if (error := re2_error(regex)) is not None:
                issues.append(f"invalid regular expression in label_replace(): {regex} ({error})")
    except RecursionError:  # promql-parser's own recursion on absurdly deep expressions
        return []
    return issues
