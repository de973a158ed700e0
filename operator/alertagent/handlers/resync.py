"""Deletions missed while no watch ran are delivered all the same (every event is slimmed of what no
handler reads, `reconcile.resync.slimmed`, and the echoes of the operator's own status writes are
dropped, `ECHOES`): each complete relist of a Kopf
watch stream replaces what the stream knew (`reconcile.resync`), and an object the listing no longer
has reaches Kopf as a DELETED event. Kopf then does what it does for any deletion: it drops the object
from every index (rules, channels, policies, clusters, shard reports, namespaces, discovery), runs the
on-event handlers (which mark every cluster due: the next reconcile rewrites the rule ConfigMaps,
alertmanager.yaml and the statuses without it) and stops the object's daemons.

Why a wrapper: Kopf 1.45 relists after 410 Gone (or a failed listing), but only adds and updates what
the new listing returns, like a client-go reflector that would never call `Replace`'s delete half; it
has no relist hook, and its indexes and per-object daemons cannot be corrected from outside. So the
one function its watchers stream events from, `kopf._cogs.clients.watching.infinite_watch` (called as
`watching.infinite_watch` by `kopf._core.reactor.queueing.watcher`), is wrapped: the wrapper runs the
original one listing-and-watch at a time (`_iterations=1`, Kopf's own parameter), so it knows where
each listing starts, and puts the deletions into the stream before the listing's end mark. It is
installed once per process when an operator starts; against a Kopf without these hook points it logs
an error and the operator runs without it (`tests/unit/test_resync.py` checks the installed Kopf).

The wrapper also leaves out of a relist the objects it returns at the version last seen (after an API
server restart every watch relists: a change made meanwhile then waits behind none of them), and
hands the events of a kind an operator takes itself (`take`: AlertRules, `handlers.alertrules`) to
that operator's taker instead of Kopf's per-object processing."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any

import kopf
from kopf._cogs.clients import watching

from ..reconcile.resync import RawEvent, Relist, slimmed
from ..settings import Settings
from .memo import state_of

log = logging.getLogger(__name__)

_MARK = "_alertagent_relist_replaces"
_PARAMETERS = {"settings", "resource", "namespace", "operator_paused", "_iterations"}
NAMES_LOGGED = 10  # objects named in the log line of one relist; the rest are counted

InfiniteWatch = Callable[..., AsyncGenerator[Any, None]]

# Filters of raw events no handler needs (an operator adds its own at start and removes it at stop):
# the echoes of its own status writes, which Kopf would otherwise process like any change (half of
# all events in a burst).
ECHOES: list[Callable[[RawEvent], bool]] = []

# Kinds whose events an operator takes from the stream itself, instead of Kopf's per-object
# processing (`take`): (id of that operator's Kopf settings, group, plural) → (a weak reference to
# those settings, the taker). The reference tells a later operator's settings at a reused id apart.
TAKERS: dict[tuple[int, str, str], tuple[weakref.ref[Any], Callable[[RawEvent], None]]] = {}
TAKEN_PER_TURN = 100  # events taken between two returns to the event loop (a listing of thousands)
_TAKEN_TYPES = (None, "ADDED", "MODIFIED", "DELETED")


class Taking:
    """One taker's registration in `TAKERS`; `stop()` (at the operator's cleanup) removes it."""

    def __init__(self, key: tuple[int, str, str]) -> None:
        self.key = key

    def stop(self) -> None:
        TAKERS.pop(self.key, None)


def take(settings: kopf.OperatorSettings, group: str, plural: str, taker: Callable[[RawEvent], None]) -> Taking:
    """Have the watch streams of the operator running with `settings` hand every object event of
    `group`/`plural` (listed, added, modified, deleted: a deletion found by a relist too) to `taker`
    instead of Kopf's per-object processing, in stream order, on the event loop. An exception `taker`
    raises is logged with the object's name and the stream goes on. Register before the watches
    start (a startup handler); Kopf still lists and watches the kind, for the handlers registered for
    it, which then see no object event (unless the streams could not be wrapped: `install`)."""
    key = (id(settings), group, plural)
    TAKERS[key] = (weakref.ref(settings), taker)
    return Taking(key)


def _taker(settings: Any, resource: Any) -> Callable[[RawEvent], None] | None:
    """The taker registered for this operator's streams of `resource`, if any."""
    entry = TAKERS.get((id(settings), getattr(resource, "group", ""), getattr(resource, "plural", "")))
    return entry[1] if entry is not None and entry[0]() is settings else None


def _hand(taker: Callable[[RawEvent], None], event: RawEvent) -> None:
    try:
        taker(event)
    except Exception:
        meta = (event.get("object") or {}).get("metadata") or {}
        name = "/".join(filter(None, (meta.get("namespace"), meta.get("name"))))
        log.exception("%s event of %s not handled", event.get("type") or "listed", name)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _log_gone(resource: Any, namespace: str | None, gone: list[RawEvent]) -> None:
    names = [
        "/".join(filter(None, (e["object"]["metadata"].get("namespace"), e["object"]["metadata"].get("name"))))
        for e in gone
    ]
    more = f" and {len(names) - NAMES_LOGGED} more" if len(names) > NAMES_LOGGED else ""
    where = f"in {namespace}" if namespace else "cluster-wide"
    log.info(
        "relist of %s %s: %d deleted while the watch was down, handled as deleted: %s%s",
        getattr(resource, "plural", resource),
        where,
        len(gone),
        ", ".join(names[:NAMES_LOGGED]),
        more,
    )


def relisting(original: InfiniteWatch) -> InfiniteWatch:
    """`original` (Kopf's `infinite_watch`), with each complete listing replacing what was known."""

    async def infinite_watch(
        *,
        settings: Any,
        resource: Any,
        namespace: Any,
        operator_paused: Any = None,
        _iterations: int | None = None,
    ) -> AsyncGenerator[Any, None]:
        relist = Relist()
        taker = _taker(settings, resource)
        taken = 0
        while _iterations is None or _iterations > 0:
            _iterations = None if _iterations is None else _iterations - 1
            relist.begin()  # every run of the original starts with a listing
            stream = original(
                settings=settings,
                resource=resource,
                namespace=namespace,
                operator_paused=operator_paused,
                _iterations=1,
            )
            async with contextlib.aclosing(stream):
                async for event in stream:
                    gone: list[RawEvent] = []
                    if event is watching.Bookmark.LISTED:
                        gone = relist.listed(_now())
                        if gone:
                            _log_gone(resource, namespace, gone)
                    elif isinstance(event, dict):
                        unchanged = relist.unchanged(event)
                        gone = relist.observe(slimmed(event), _now())
                        if unchanged or any(echo(event) for echo in ECHOES):
                            continue  # relisted as it was, or our own status write coming back
                    for deleted in gone:
                        if taker is None:
                            yield deleted
                        else:
                            _hand(taker, deleted)
                    if taker is None or not isinstance(event, dict) or event.get("type") not in _TAKEN_TYPES:
                        yield event
                        continue
                    _hand(taker, event)
                    taken += 1
                    if taken % TAKEN_PER_TURN == 0:
                        await asyncio.sleep(0)  # the rest of the loop runs between batches of a listing

    setattr(infinite_watch, _MARK, True)
    infinite_watch.__wrapped__ = original  # type: ignore[attr-defined]
    return infinite_watch


def install() -> bool:
    """Wrap Kopf's watch streams (once per process). Returns whether relists now replace; False (and
    an error logged) when the installed Kopf lacks the hook points."""
    current = watching.infinite_watch
    if getattr(current, _MARK, False):
        return True
    listed = getattr(getattr(watching, "Bookmark", None), "LISTED", None)
    if listed is None or not inspect.signature(current).parameters.keys() >= _PARAMETERS:
        log.error(
            "this Kopf's watch streams cannot be wrapped: objects deleted while a watch was down "
            "stay in the operator's view until it restarts"
        )
        return False
    watching.infinite_watch = relisting(current)
    return True


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.on.startup(registry=registry, id="relist_replaces")
    def relist_replaces(memo: kopf.Memo, **_: Any) -> None:
        """Before any watch starts (Kopf starts its watchers after the startup handlers)."""
        install()
        ECHOES.append(state_of(memo).rule_statuses.echo)

    @kopf.on.cleanup(registry=registry, id="forget_echoes")
    def forget_echoes(memo: kopf.Memo, **_: Any) -> None:
        echo = state_of(memo).rule_statuses.echo
        if echo in ECHOES:
            ECHOES.remove(echo)
