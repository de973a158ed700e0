"""The node kinds of Go's parse trees the check needs, and their constants: `parse/node.go` (Go 1.26).

`newNumber` (integer, float, complex and character constants) with `strconv`'s and `fmt.Sscan`'s number
and quote rules (see `literals`), and `parse.IsEmptyTree` of a `define`/`block` body.
"""

from __future__ import annotations

from .lexer import CHAR_CONSTANT, COMPLEX
from .literals import _complex_error, _float_error, _go_quote, _int_ok, _unquote_char

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


def _is_empty(nodes: list[int]) -> bool:
    """parse.IsEmptyTree of a body: only blank text (and comments, which are not kept here)."""
    return all(node == N_BLANK_TEXT for node in nodes)


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
