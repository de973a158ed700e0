"""Go's `text/template` lexer, re-implemented: `src/text/template/parse/lex.go` (Go 1.26).

An action starts only at `{{`; a `}}` in text is plain text; trim markers `{{- ` / ` -}}` need the ASCII
space; comments `{{/* */}}` must end at the delimiter; quoted, raw and character constants; numbers; `(`
`)` depth. Go version differences (``go_version``): `break`/`continue` are keywords from Go 1.18; up to
Go 1.19 a stray `)` reached the parser (`unexpected ")" in command`), from Go 1.20 the lexer reports it
(`unexpected right paren`).
"""

from __future__ import annotations

import re

from .dialects import TemplateDialect
from .literals import _go_quote, _go_rune

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
