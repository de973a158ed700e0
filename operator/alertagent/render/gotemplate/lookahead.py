"""The parser's view of the lexer's items: `parse/parse.go`'s token stream and error helpers (Go 1.26).

The three-token look-ahead (`next`, `backup`, `backup2`, `backup3`, `peek`, `nextNonSpace`,
`peekNonSpace`) and `errorf`, `expect`, `unexpected`, so that messages and line numbers are Go's.
"""

from __future__ import annotations

from .errors import TemplateSyntaxError
from .lexer import EOF, ERROR, SPACE, Item, _item_text, _Lexer


class _TokenStream:
    """A parse tree's look-ahead over the items of a lexer shared by every tree of one parse."""

    __slots__ = ("action_line", "lex", "parse_name", "peek_count", "token")

    def __init__(self, parse_name: str, lex: _Lexer) -> None:
        self.parse_name = parse_name
        self.lex = lex
        self.token: list[Item] = [(EOF, 0, "")] * 3
        self.peek_count = 0
        self.action_line = 0

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
