"""Finding the objects that make a checked output fail, when the whole output fails (pure).

The target's own tool checks the merged output (amtool, promtool); when it refuses it, the objects
responsible are found by checking parts alone: a part that passes holds no culprit, a failing single
object is one. Bisection makes this O(k log n) checks for k culprits among n objects, not n; when
the left half of a failing part passes, the right half must fail and is split without being checked
whole."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)
_FAILS = object()  # a part known to fail whose message was not read


def find_culprits(
    items: Sequence[T], error_of: Callable[[Sequence[T]], str | None], failing: str | None = None
) -> dict[T, str]:
    """Each item whose output fails on its own, with the checker's message. `error_of(part)` checks
    the output made of just those items (None: accepted); `failing` is the message of the whole when
    the caller checked it already (it is not checked again). A failure that needs two items together
    (both halves pass alone) names no culprit: the caller keeps the whole output refused."""

    def search(part: Sequence[T], known: str | object | None) -> dict[T, str]:
        """`known`: the part's message, `_FAILS` (it fails, message not read) or None (not checked)."""
        error = error_of(part) if known is None else known if isinstance(known, str) else None
        if known is None and error is None:
            return {}
        if len(part) == 1:
            error = error if error is not None else error_of(part)  # inferred: read its own message
            return {} if error is None else {part[0]: error}
        middle = len(part) // 2
        left_error = error_of(part[:middle])
        if left_error is None:  # the failure is in the right half: split it without checking it whole
            return search(part[middle:], _FAILS)
        return search(part[:middle], left_error) | search(part[middle:], None)

    return search(list(items), failing) if items else {}


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
