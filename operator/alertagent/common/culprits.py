"""Finding the objects that make a checked output fail, when the whole output fails (pure).

The target's own tool checks the merged output (amtool, promtool); when it refuses it, the objects
responsible are found by checking parts alone: a part that passes holds no culprit, a failing single
object is one. Bisection makes this O(k log n) checks for k culprits among n objects, not n."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


def find_culprits(items: Sequence[T], error_of: Callable[[Sequence[T]], str | None]) -> dict[T, str]:
    """Each item whose output fails on its own, with the checker's message. `error_of(part)` checks
    the output made of just those items (None: accepted). A failure that needs two items together
    (both halves pass alone) names no culprit: the caller keeps the whole output refused."""

    def search(part: Sequence[T], known_error: str | None) -> dict[T, str]:
        error = known_error if known_error is not None else error_of(part)
        if error is None:
            return {}
        if len(part) == 1:
            return {part[0]: error}
        middle = len(part) // 2
        return search(part[:middle], None) | search(part[middle:], None)

    return search(list(items), None) if items else {}


def scrub(message: str, secrets: set[str], marker: str = "<secret>") -> str:
    """`message` with every secret value replaced by `marker` (longest first, so a value that contains
    another is replaced whole). Tools quote offending values; Secret values must never reach status,
    Events, logs or reports."""
    forms = set()
    for value in secrets:
        if value:  # as given, trimmed, and as Go and JSON quote it (a tool escapes what it quotes)
            forms |= {value, value.strip(), json.dumps(value)[1:-1], value.encode("unicode_escape").decode()}
    for form in sorted(forms - {""}, key=len, reverse=True):
        message = message.replace(form, marker)
    return message
