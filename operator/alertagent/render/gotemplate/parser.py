"""Go's `text/template` parser, re-implemented: `src/text/template/parse/parse.go` (Go 1.26).

Pipelines and declarations, `$x :=`/`$x =`, `range $i, $e :=`; variables are in scope from their
declaration to the `end` of the enclosing `if`/`range`/`with`; `define` and `block` bodies start a new
scope holding only `$`; `else if`, `else with`; `break`/`continue` only inside `range`; `function "f" not
defined`; `template: multiple definition of template "n"`; with its three-token look-ahead (see
`lookahead`), so that messages and line numbers are Go's. Go version differences (``go_version``):
`{{else with}}` from Go 1.23 (`{{else if}}` continues only an `if`, in every version).
"""

from __future__ import annotations

from .dialects import TemplateDialect
from .lexer import (
    ASSIGN,
    BLOCK,
    BOOL,
    BREAK,
    CHAR,
    CHAR_CONSTANT,
    COMPLEX,
    CONTINUE,
    DECLARE,
    DEFINE,
    DOT,
    ELSE,
    END,
    EOF,
    FIELD,
    IDENTIFIER,
    IF,
    LEFT_DELIM,
    LEFT_PAREN,
    NIL,
    NUMBER,
    PIPE,
    RANGE,
    RAW_STRING,
    RIGHT_DELIM,
    RIGHT_PAREN,
    SPACE,
    STRING,
    TEMPLATE,
    TEXT,
    VARIABLE,
    WITH,
    Item,
    _Lexer,
)
from .literals import _go_quote, _string_ok, _unquoted
from .lookahead import _TokenStream
from .nodes import (
    _NODE_TEXT,
    _NON_EXECUTABLE,
    N_ACTION,
    N_BLANK_TEXT,
    N_BOOL,
    N_BREAK,
    N_CHAIN,
    N_CONTINUE,
    N_DOT,
    N_ELSE,
    N_END,
    N_FIELD,
    N_IDENTIFIER,
    N_IF,
    N_NIL,
    N_NUMBER,
    N_PIPE,
    N_RANGE,
    N_STRING,
    N_TEMPLATE,
    N_TEXT,
    N_VARIABLE,
    N_WITH,
    _is_empty,
    _number_error,
)

_OPERAND_START = frozenset(
    {BOOL, CHAR_CONSTANT, COMPLEX, DOT, FIELD, IDENTIFIER, NUMBER, NIL, RAW_STRING, STRING, VARIABLE, LEFT_PAREN}
)
_MAX_STACK_DEPTH = 10000


class _Tree(_TokenStream):
    """One parse tree: the top-level template, or a `define`/`block` body sharing the lexer."""

    __slots__ = ("dialect", "name", "range_depth", "stack_depth", "tree_set", "vars")

    def __init__(
        self, name: str, parse_name: str, lex: _Lexer, dialect: TemplateDialect, tree_set: dict[str, bool]
    ) -> None:
        super().__init__(parse_name, lex)
        self.name = name
        self.dialect = dialect
        self.tree_set = tree_set  # template name -> its body is empty (IsEmptyTree)
        self.vars = ["$"]
        self.range_depth = 0
        self.stack_depth = 0

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


def _parse(text: str, dialect: TemplateDialect, name: str) -> None:
    """Parse `header + text` as the evaluator does; raise TemplateSyntaxError on its first error."""
    tree = _Tree(name, name, _Lexer(text, dialect), dialect, {})
    tree.vars.extend(sorted(dialect.variables))
    tree.parse_top()
