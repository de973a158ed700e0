"""The gateway's queue store: where a robot message waits between Alertmanager's POST (answered 200
only once the message is here) and the robot's acceptance (then it is removed). Pluggable through
`Store`; `SQLiteStore` is the embedded default (one file, on a volume in Kubernetes).

Delivery is at-least-once: a message the robot accepted but that the gateway could not remove before
it died is sent again after a restart (a duplicate), never lost.

Incident notifications (`gateway.notify`) keep two more things here (`HoldStore`): webhooks held until
their incident's hold time (`Held`, rendered when released) and each incident's notification state
(JSON, by cluster and incident name)."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class QueueFullError(Exception):
    """The queue holds `queue_max` messages: Alertmanager is told 503 and retries later."""


class StoreUnavailableError(Exception):
    """The store cannot be reached (a shared store's Redis): Alertmanager is told 503 and retries later."""


@dataclass(frozen=True)
class Message:
    """One robot request waiting for delivery: `body` is the unsigned JSON (signed when sent), `part` of
    `parts` the position in a split notification; `id` orders messages (FIFO per channel);
    `enqueued_at` is Unix seconds."""

    id: int
    channel: str  # "<namespace>/<name>"
    body: dict[str, Any]
    part: int
    parts: int
    enqueued_at: float


class Store(Protocol):
    """A durable FIFO of messages. `add` returns only once the messages survive a crash of the process."""

    def add(self, items: list[tuple[str, dict[str, Any], int, int]]) -> list[Message]:
        """Persist (channel, body, part, parts) items in one transaction; their Messages, in order."""
        ...

    def remove(self, message_id: int) -> None:
        """Forget a delivered (or abandoned) message."""
        ...

    def pending(self) -> list[Message]:
        """Every message not yet removed, oldest first (replayed on start)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Held:
    """A webhook payload waiting for its incident to gather: sent (rendered and queued) at
    `not_before`; `payload` is the JSON as received; times are Unix seconds."""

    id: int
    channel: str
    payload: str
    not_before: float
    received: float


@runtime_checkable
class HoldStore(Protocol):
    """Held webhooks and incident notification states, durable like the messages."""

    def hold(self, channel: str, payload: str, not_before: float, received: float) -> Held:
        """Persist a held payload (returns once it survives a crash)."""
        ...

    def held(self) -> list[Held]:
        """Every held payload not yet released, oldest first."""
        ...

    def unhold(self, held_id: int) -> None:
        """Forget a released payload (its messages are stored by then)."""
        ...

    def save_states(self, cluster: str, states: dict[str, str | None]) -> None:
        """Write incident states (JSON) by incident name in one transaction; None deletes one."""
        ...

    def states(self) -> dict[tuple[str, str], str]:
        """Every incident state, by (cluster, incident name)."""
        ...


class SQLiteStore:
    """`Store` in one SQLite file in WAL mode. `synchronous=NORMAL`: a commit survives the process being
    killed (SIGKILL, OOM); only an OS crash or power loss may lose the last commits (SQLite docs,
    "Write-Ahead Logging"). `durable=True` syncs every commit (survives power loss; slower)."""

    def __init__(self, path: Path, durable: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,"
            " body TEXT NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL, enqueued_at REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS held (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,"
            " payload TEXT NOT NULL, not_before REAL NOT NULL, received REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS incident_states (cluster TEXT NOT NULL, name TEXT NOT NULL,"
            " state TEXT NOT NULL, PRIMARY KEY (cluster, name))"
        )

    def add(self, items: list[tuple[str, dict[str, Any], int, int]]) -> list[Message]:
        now = time.time()
        out: list[Message] = []
        self._db.execute("BEGIN")
        try:
            for channel, body, part, parts in items:
                cursor = self._db.execute(
                    "INSERT INTO messages (channel, body, part, parts, enqueued_at) VALUES (?, ?, ?, ?, ?)",
                    (channel, json.dumps(body, separators=(",", ":")), part, parts, now),
                )
                assert cursor.lastrowid is not None
                out.append(Message(cursor.lastrowid, channel, body, part, parts, now))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return out

    def remove(self, message_id: int) -> None:
        self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def pending(self) -> list[Message]:
        rows = self._db.execute("SELECT id, channel, body, part, parts, enqueued_at FROM messages ORDER BY id")
        return [Message(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]

    def hold(self, channel: str, payload: str, not_before: float, received: float) -> Held:
        cursor = self._db.execute(
            "INSERT INTO held (channel, payload, not_before, received) VALUES (?, ?, ?, ?)",
            (channel, payload, not_before, received),
        )
        assert cursor.lastrowid is not None
        return Held(cursor.lastrowid, channel, payload, not_before, received)

    def held(self) -> list[Held]:
        rows = self._db.execute("SELECT id, channel, payload, not_before, received FROM held ORDER BY id")
        return [Held(*row) for row in rows]

    def unhold(self, held_id: int) -> None:
        self._db.execute("DELETE FROM held WHERE id = ?", (held_id,))

    def save_states(self, cluster: str, states: dict[str, str | None]) -> None:
        if not states:
            return
        self._db.execute("BEGIN")
        try:
            for name, state in sorted(states.items()):
                if state is None:
                    self._db.execute("DELETE FROM incident_states WHERE cluster = ? AND name = ?", (cluster, name))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO incident_states (cluster, name, state) VALUES (?, ?, ?)",
                        (cluster, name, state),
                    )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def states(self) -> dict[tuple[str, str], str]:
        rows = self._db.execute("SELECT cluster, name, state FROM incident_states ORDER BY cluster, name")
        return {(cluster, name): state for cluster, name, state in rows}

    def close(self) -> None:
        self._db.close()


class MemoryStore:
    """`Store` that keeps nothing across restarts (tests, and `--store memory` for a throwaway gateway)."""

    def __init__(self) -> None:
        self._rows: dict[int, Message] = {}
        self._next = 1
        self._held: dict[int, Held] = {}
        self._states: dict[tuple[str, str], str] = {}

    def add(self, items: list[tuple[str, dict[str, Any], int, int]]) -> list[Message]:
        out = []
        for channel, body, part, parts in items:
            message = Message(self._next, channel, body, part, parts, time.time())
            self._rows[message.id] = message
            self._next += 1
            out.append(message)
        return out

    def remove(self, message_id: int) -> None:
        self._rows.pop(message_id, None)

    def pending(self) -> list[Message]:
        return [self._rows[k] for k in sorted(self._rows)]

    def hold(self, channel: str, payload: str, not_before: float, received: float) -> Held:
        held = Held(self._next, channel, payload, not_before, received)
        self._next += 1
        self._held[held.id] = held
        return held

    def held(self) -> list[Held]:
        return [self._held[k] for k in sorted(self._held)]

    def unhold(self, held_id: int) -> None:
        self._held.pop(held_id, None)

    def save_states(self, cluster: str, states: dict[str, str | None]) -> None:
        for name, state in states.items():
            if state is None:
                self._states.pop((cluster, name), None)
            else:
                self._states[(cluster, name)] = state

    def states(self) -> dict[tuple[str, str], str]:
        return dict(sorted(self._states.items()))

    def close(self) -> None:
        pass
