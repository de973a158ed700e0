"""Alertmanager matcher text (pure)."""

from __future__ import annotations

from ..api.common import Matcher


def matcher_text(m: Matcher) -> str:
    """`name="value"` in Alertmanager's matcher syntax, the value quoted and escaped."""
    value = m.value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{m.name}{m.match_type}"{value}"'
