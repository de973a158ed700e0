"""Wake-up signals for the per-cluster reconcilers: many pokes before a reconciler runs coalesce
into one run (the debounce)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any


class Triggers:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._seen: dict[tuple[str, str, str], tuple[int, str]] = {}  # object → (generation, labels)

    def poke_all_on_change(self, kind: str, event_type: str, body: Mapping[str, Any]) -> bool:
        """Poke every reconciler when what a cluster renders may have changed: spec (generation),
        labels, or deletion. Status-only writes (our own) poke nothing, or every write would poke again."""
        meta = body.get("metadata") or {}
        key = (kind, meta.get("namespace", ""), meta.get("name", ""))
        seen = (meta.get("generation", 0), repr(sorted((meta.get("labels") or {}).items())))
        if event_type == "DELETED":
            self._seen.pop(key, None)
        elif self._seen.get(key) == seen:
            return False
        else:
            self._seen[key] = seen
        self.poke_all()
        return True

    def register(self, key: str) -> asyncio.Event:
        event = self._events.setdefault(key, asyncio.Event())
        event.set()  # a new reconciler always runs once
        return event

    def unregister(self, key: str) -> None:
        self._events.pop(key, None)

    def poke(self, key: str) -> None:
        if key in self._events:
            self._events[key].set()

    def poke_all(self) -> None:
        for event in self._events.values():
            event.set()


async def quiet(trigger: asyncio.Event, seconds: float, longest: float) -> None:
    """Trailing-edge debounce: return once no poke came for `seconds` (or after `longest`), so
    a burst of changes, however long, becomes one reconcile and one write per shard."""
    deadline = time.monotonic() + longest
    while True:
        trigger.clear()
        await asyncio.sleep(seconds)
        if not trigger.is_set() or time.monotonic() >= deadline:
            trigger.clear()
            return


TRIGGERS = Triggers()
