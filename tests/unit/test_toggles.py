"""The installed Kopf's toggle sets, patched by `handlers.toggles`: waiters wake only when the set's
state changes, and still wake when it does."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits import aiotoggles

from alertagent.handlers import toggles


def test_the_installed_kopf_can_be_patched() -> None:
    assert toggles.install()
    assert toggles.install()  # once per process: a second call changes nothing


def test_waiters_wake_only_when_the_set_changes_state_and_always_then() -> None:
    assert toggles.install()

    async def scenario() -> tuple[int, bool]:
        toggle_set = aiotoggles.ToggleSet(all)
        blocker = await toggle_set.make_toggle(False)  # the set is off until it goes
        wakeups = 0
        original = toggle_set.is_on

        def counting() -> bool:
            nonlocal wakeups
            wakeups += 1
            return original()

        waiters = [asyncio.create_task(toggle_set.wait_for(True)) for _ in range(50)]
        await asyncio.sleep(0)
        toggle_set.is_on = counting  # type: ignore[method-assign]
        others = [await toggle_set.make_toggle(False) for _ in range(100)]  # the state stays off
        await toggle_set.drop_toggles(others)
        await asyncio.sleep(0.01)
        quiet = wakeups
        await toggle_set.drop_toggle(blocker)  # now it turns on: every waiter wakes and returns
        await asyncio.wait_for(asyncio.gather(*waiters), 5)
        return quiet, all(w.done() for w in waiters)

    quiet, woken = asyncio.run(scenario())
    # Only the set's own before/after checks ran (2 per make or drop): no waiter re-checked.
    assert quiet == 2 * 101
    assert woken
