"""Regular expressions as the targets compile them: Go's `regexp` (RE2 syntax), checked with RE2 itself.

Alertmanager (`pkg/labels/matcher.go` NewMatcher, v0.25-v0.28) and Prometheus (`model/labels/regexp.go`
NewFastRegexMatcher, v2.42-v3) compile a label matcher's value as `regexp.Compile("^(?:" + v + ")$")`,
so a value is valid exactly when that anchored expression is. The check runs Google's RE2 (the
`google-re2` binding, maintained by the RE2 authors) on the same anchored text and reports the error
the way Go's `regexp/syntax` (parse.go, `Error.Error`) words it:
``error parsing regexp: invalid or unsupported Perl syntax: `(?!` ``.

Go's parser is a port of RE2's and refuses the same expressions with the same offending fragment, with
these exceptions, handled here after RE2 accepted the expression:

- `\\C` (any byte): RE2 accepts it, Go refuses it (`invalid escape sequence`);
- `(?<name>...)`: Go accepts it only since Go 1.22; Alertmanager <= 0.27 and Prometheus 2.x are built
  with older Go, so it is refused with their message (`(?P<name>...)` works everywhere);
- a group name that is not `[A-Za-z0-9_]+`: newer RE2 accepts Unicode letters, Go refuses them
  (`invalid named capture`);
- RE2's own program size limit (`pattern too large`) is not Go's (Go counts a character class as one
  instruction), so it is not an error; Go's `expression too large` / `expression nests too deeply`
  limits (3.3 M instructions, depth 1000) are not mirrored.
"""

from __future__ import annotations

import functools
import re

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

# RE2's error texts (re2.cc, kErrorStrings) → Go's ErrorCode texts (regexp/syntax/parse.go).
_RE2_TO_GO = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
}
_TOO_LARGE = "pattern too large"
_CAPTURE_NAME = re.compile(r"[A-Za-z0-9_]+")
# Literals, `.` and `|` only: always valid, no need to compile (most label regexes, e.g. `api|web`).
_PLAIN = re.compile(r"[^*+?{}()\[\]\\^$\ud800-\udfff]*")


def go_regexp_error(code: str, fragment: str) -> str:
    """The text of Go's `*syntax.Error`."""
    return f"error parsing regexp: {code}: `{fragment}`"


def anchored(pattern: str) -> str:
    """The expression Alertmanager and Prometheus compile for a matcher value."""
    return f"^(?:{pattern})$"


@functools.lru_cache(maxsize=4096)
def re2_error(pattern: str, anchor: bool = True) -> str | None:
    """Go's error for `pattern` (anchored as the targets anchor it, unless `anchor` is False), None when
    the targets accept it. Raises nothing."""
    if _PLAIN.fullmatch(pattern):
        return None
    expr = anchored(pattern) if anchor else pattern
    try:
        data = expr.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8, as Go sees the bytes
        return go_regexp_error("invalid UTF-8", expr.encode("utf-8", "backslashreplace").decode("utf-8"))
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(data, options)
    except re2.error as err:
        return _translate(err)
    except Exception as err:  # the binding raising anything else is a bug there; never a crash here
        return f"error parsing regexp: {err}"
    return _go_only_error(expr)


def _translate(err: Exception) -> str | None:
    text = err.args[0] if err.args else str(err)
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if message.startswith(_TOO_LARGE):
        return None  # parsed fine; only RE2's compiled size budget, which Go does not share
    code, sep, fragment = message.partition(": ")
    if sep and code == "invalid perl operator" and fragment.startswith("(?<"):
        fragment = "(?<"  # lookbehind: Go before 1.22 stops at the `<` (see `(?<name>` above)
    if sep and code in _RE2_TO_GO:
        return go_regexp_error(_RE2_TO_GO[code], fragment)
    return f"error parsing regexp: {message}"


def _go_only_error(expr: str) -> str | None:
    """What Go refuses in an expression RE2 accepted (see the module docstring). The expression is
    valid RE2, so a small scanner suffices: escapes, `\\Q...\\E`, character classes, groups."""
    i, n, in_class = 0, len(expr), False
    while i < n:
        c = expr[i]
        if c == "\\" and i + 1 < n:
            nxt = expr[i + 1]
            if nxt == "Q" and not in_class:
                end = expr.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if nxt == "C":
                return go_regexp_error("invalid escape sequence", "\\C")
            i += 2
            continue
        if in_class:
            if c == "[" and expr.startswith("[:", i):
                end = expr.find(":]", i + 2)
                i = n if end < 0 else end + 2
                continue
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if i < n and expr[i] == "^":
                i += 1
            if i < n and expr[i] == "]":  # a leading ] is a literal
                i += 1
            continue
        if c == "(" and expr.startswith("(?", i):
            rest = expr[i + 2 :]
            if rest.startswith("<") and not rest.startswith(("<=", "<!")):
                return go_regexp_error("invalid or unsupported Perl syntax", "(?<")
            if rest.startswith("P<"):
                end = rest.find(">")
                if end >= 0 and not _CAPTURE_NAME.fullmatch(rest[2:end]):
                    return go_regexp_error("invalid named capture", expr[i : i + 3 + end])
        i += 1
    return None
