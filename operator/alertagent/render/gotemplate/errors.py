"""The error of a refused template: Go's `template: NAME:LINE: reason` (parse.go `errorf`)."""

from __future__ import annotations


class TemplateSyntaxError(ValueError):
    """A template the evaluator refuses; `str()` is Go's `template: NAME:LINE: reason`."""

    def __init__(self, reason: str, *, name: str = "", line: int = 1) -> None:
        super().__init__(f"template: {name}:{line}: {reason}")
        self.reason = reason
        self.name = name
        self.line = line
