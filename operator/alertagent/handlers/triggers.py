"""Wake-up signals for the per-cluster reconcilers: many pokes before a reconciler runs coalesce
into one run (the debounce)."""

from __future__ import annotations

import asyncio


class Triggers:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

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


TRIGGERS = Triggers()
