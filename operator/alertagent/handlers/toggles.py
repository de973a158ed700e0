"""Kopf's start with many objects, made linear: its toggle sets wake their waiters only when the set's
state changes.

Why: while Kopf 1.45 fills its indexes after a start, every listed object gets a toggle in the
operator's "indexed" set (`kopf._cogs.aiokits.aiotoggles.ToggleSet`, made and dropped by
`kopf._core.reactor.queueing`), and every object waits on that set. Each toggle made or dropped calls
`notify_all()`, so each of N waiting objects wakes (and re-takes the lock) N times: with 500 AlertRules
a quarter of a start's CPU, with 10,000 most of it. A waiter only waits for the set's state
(`is_on()`), so waking it when that state did not change is wasted: the set's own make and drop wake
waiters only when it did. Toggles of the set still wake everyone when they turn (Kopf's own code path,
unchanged), and `wait_for` is unchanged.

Installed once per process at operator start; against a Kopf without these hook points it logs an
error and Kopf runs as it ships (`tests/unit/test_toggles.py` checks the installed Kopf)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import Any

import kopf
from kopf._cogs.aiokits import aiotoggles

from ..settings import Settings

log = logging.getLogger(__name__)

_MARK = "_alertagent_quiet_toggles"


async def make_toggle(self: Any, __val: bool = False, *, name: str | None = None) -> aiotoggles.Toggle:
    toggle = aiotoggles.Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        before = self.is_on()
        self._toggles.add(toggle)
        if self.is_on() != before:
            self._condition.notify_all()
    return toggle


async def drop_toggle(self: Any, toggle: aiotoggles.Toggle) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.discard(toggle)
        if self.is_on() != before:
            self._condition.notify_all()


async def drop_toggles(self: Any, toggles: Iterable[aiotoggles.Toggle]) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.difference_update(toggles)
        if self.is_on() != before:
            self._condition.notify_all()


def install() -> bool:
    """Make Kopf's toggle sets wake waiters only on a change of state (once per process). Returns
    whether they do; False (and an error logged) when the installed Kopf lacks the hook points."""
    cls: Any = getattr(aiotoggles, "ToggleSet", None)
    if cls is not None and getattr(cls, _MARK, False):
        return True
    needed = ("make_toggle", "drop_toggle", "drop_toggles", "is_on")
    if cls is None or not all(inspect.iscoroutinefunction(getattr(cls, n, None)) for n in needed[:3]):
        log.error("this Kopf's toggle sets cannot be patched: a start with many objects costs more CPU")
        return False
    probe = cls(all)
    if not all(hasattr(probe, a) for a in ("_condition", "_toggles", "is_on")):
        log.error("this Kopf's toggle sets cannot be patched: a start with many objects costs more CPU")
        return False
    cls.make_toggle, cls.drop_toggle, cls.drop_toggles = make_toggle, drop_toggle, drop_toggles
    setattr(cls, _MARK, True)
    return True


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.on.startup(registry=registry, id="quiet_toggles")
    def quiet_toggles(**_: Any) -> None:
        """Before any watch starts (Kopf starts its watchers after the startup handlers)."""
        install()
