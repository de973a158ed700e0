"""The gateway's queue store: persisted before the answer, replayed in order, removed once delivered."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

from alertagent.gateway.store import MemoryStore, SQLiteStore


def test_sqlite_store_replays_pending_messages_in_order_after_reopen(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    store = SQLiteStore(db)
    added = store.add([("ns/a", {"n": 1}, 1, 2), ("ns/a", {"n": 2}, 2, 2), ("ns/b", {"n": 3}, 1, 1)])
    store.remove(added[0].id)
    store.close()

    reopened = SQLiteStore(db)
    pending = reopened.pending()
    assert [(m.channel, m.body, m.part, m.parts) for m in pending] == [
        ("ns/a", {"n": 2}, 2, 2),
        ("ns/b", {"n": 3}, 1, 1),
    ]
    assert [m.id for m in pending] == sorted(m.id for m in pending)
    # ids keep growing after a reopen: FIFO order holds across restarts
    assert reopened.add([("ns/a", {"n": 4}, 1, 1)])[0].id > pending[-1].id


def _add_then_die(db: str) -> None:
    SQLiteStore(Path(db)).add([("ns/a", {"n": i}, 1, 1) for i in range(3)])
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no clean exit


def test_sqlite_store_keeps_what_add_returned_for_across_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    child = multiprocessing.get_context("fork").Process(target=_add_then_die, args=(str(db),))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL
    assert [m.body["n"] for m in SQLiteStore(db).pending()] == [0, 1, 2]


def test_memory_store_is_fifo_and_forgets_removed() -> None:
    store = MemoryStore()
    a, b = store.add([("x/y", {"n": 1}, 1, 1), ("x/y", {"n": 2}, 1, 1)])
    store.remove(a.id)
    assert store.pending() == [b]
