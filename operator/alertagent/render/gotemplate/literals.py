"""Go's quoting and constant rules, as the lexer's and parser's messages and checks use them.

Mirrors (Go 1.26) `strconv` (`Quote`, i.e. `%q`; `UnquoteChar`, `Unquote`, `ParseUint`, `ParseInt`,
`ParseFloat`), `fmt`'s `%#U` and `fmt.Sscan`'s float token, which `parse/node.go`'s `newNumber` (see
`nodes`) applies to integer, float, complex and character constants, and which the parser applies to
quoted and raw strings.
"""

from __future__ import annotations

import re

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


# --- constants (strconv and fmt, as parse/node.go newNumber uses them) -------------------------

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


def _unquoted(token: str) -> str:
    """The value of a string token already known to be valid (enough for template names)."""
    if token[0] == "`":
        return token[1:-1].replace("\r", "")
    body = token[1:-1]
    if "\\" not in body:
        return body
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
