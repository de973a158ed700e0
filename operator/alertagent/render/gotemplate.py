"""A syntax check for Go text/template strings (Prometheus alert labels and annotations).

There is no Go template parser for Python, and the real one only runs inside Prometheus. This checks
what breaks most templates in practice: unclosed or stray `{{ }}` actions, unterminated strings and
comments, and block keywords (`if`, `range`, `with`, `define`, `block`) without their `end` (or an
`end`/`else` without a block). It does not type-check pipelines; Prometheus still has the last word.
"""

from __future__ import annotations

import re

_BLOCK_OPENERS = {"if", "range", "with", "define", "block"}
_KEYWORD = re.compile(r"^\s*(?:-\s+)?([a-z]+)\b")


class TemplateSyntaxError(ValueError):
    pass


def _action_end(text: str, start: int) -> int:
    """Index just past the `}}` closing the action whose body starts at `start`."""
    i = start
    while i < len(text):
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                raise TemplateSyntaxError(f"unclosed comment at offset {i}")
            i = close + 2
        elif text[i] in "\"'`":
            quote = text[i]
            i += 1
            while i < len(text) and text[i] != quote:
                if text[i] == "\\" and quote != "`":
                    i += 1
                elif text[i] == "\n" and quote != "`":
                    raise TemplateSyntaxError(f"unterminated {quote} string at offset {i}")
                i += 1
            if i >= len(text):
                raise TemplateSyntaxError(f"unterminated {quote} string")
            i += 1
        elif text.startswith("}}", i):
            return i + 2
        elif text.startswith("{{", i):
            raise TemplateSyntaxError(f"unexpected {{{{ inside an action at offset {i}")
        else:
            i += 1
    raise TemplateSyntaxError(f"unclosed action starting at offset {start - 2}")


def check_template(text: str) -> None:
    """Raise TemplateSyntaxError when `text` is not a well-formed Go template."""
    stack: list[str] = []
    i = 0
    while True:
        open_at = text.find("{{", i)
        stray = text.find("}}", i, open_at if open_at >= 0 else len(text))
        if stray >= 0:
            raise TemplateSyntaxError(f"unexpected }}}} at offset {stray}")
        if open_at < 0:
            break
        body_start = open_at + 2
        end = _action_end(text, body_start)
        body = text[body_start : end - 2].strip().removeprefix("-").removesuffix("-").strip()
        if not body:
            raise TemplateSyntaxError(f"empty action at offset {open_at}")
        match = _KEYWORD.match(body)
        keyword = match.group(1) if match else ""
        if keyword in _BLOCK_OPENERS:
            stack.append(keyword)
        elif keyword == "end":
            if not stack:
                raise TemplateSyntaxError(f"unexpected {{{{end}}}} at offset {open_at}")
            stack.pop()
        elif keyword == "else" and not stack:
            raise TemplateSyntaxError(f"unexpected {{{{else}}}} at offset {open_at}")
        i = end
    if stack:
        raise TemplateSyntaxError(f"unexpected EOF: {{{{{stack[-1]}}}}} has no {{{{end}}}}")
