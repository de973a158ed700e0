"""A complete relist replaces what a watch stream knew (issue 12, item 6): objects it no longer has are
delivered as DELETED events, and Kopf's own indexes and on-event handlers then forget them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching
from kopf._cogs.structs import ephemera, references
from kopf._core.actions import lifecycles
from kopf._core.engines import indexing
from kopf._core.reactor import inventory, processing, queueing

from alertagent.handlers import resync as hook
from alertagent.reconcile.resync import Relist, deletion, last_known, vanished

NOW = "2026-01-02T03:04:05Z"


def body(name: str, uid: str, namespace: str = "team", **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": "7", **extra}
    return {"apiVersion": "alertagent.io/v1alpha1", "kind": "AlertRule", "metadata": meta, "spec": {"groups": []}}


def listed(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": None, "object": b} for b in bodies]


def relisted(relist: Relist, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    """One complete listing: the deletions it causes, in the order they would be delivered."""
    relist.begin()
    out = [d for event in listed(*bodies) for d in relist.observe(event, NOW)]
    return out + relist.listed(NOW)


def gone(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    assert all(e["type"] == "DELETED" for e in events)
    return [(e["object"]["metadata"]["name"], e["object"]["metadata"]["uid"]) for e in events]


def test_vanished_is_what_a_listing_lacks_sorted_by_namespace_and_name() -> None:
    known = {u: body(n, u, ns) for n, u, ns in (("b", "1", "x"), ("a", "2", "y"), ("c", "3", "x"), ("a", "4", "x"))}
    assert [b["metadata"]["uid"] for b in vanished(known, {"3"})] == ["4", "1", "2"]
    assert vanished(known, set(known)) == []
    assert vanished({}, {"1"}) == []


def test_an_object_a_relist_lacks_is_deleted_with_its_last_metadata() -> None:
    relist = Relist()
    assert relisted(relist, body("a", "1"), body("b", "2", labels={"team": "x"}), body("c", "3")) == []  # first list
    [event] = relisted(relist, body("a", "1"), body("c", "3"))
    assert event["type"] == "DELETED"
    obj = event["object"]
    assert (obj["apiVersion"], obj["kind"]) == ("alertagent.io/v1alpha1", "AlertRule")
    assert obj["metadata"] == {
        "name": "b",
        "namespace": "team",
        "uid": "2",
        "resourceVersion": "7",
        "labels": {"team": "x"},  # Kopf's label filters still match it
        "deletionTimestamp": NOW,  # Kopf stops an object's daemons only when it is marked deleted
    }
    assert "spec" not in obj
    assert relisted(relist, body("a", "1"), body("c", "3")) == []  # forgotten: deleted once


def test_watch_events_keep_the_view_between_relists() -> None:
    relist = Relist()
    relisted(relist, body("a", "1"), body("b", "2"), body("c", "3"))
    for event in (
        {"type": "ADDED", "object": body("d", "4")},
        {"type": "DELETED", "object": body("c", "3")},
        {"type": "MODIFIED", "object": body("b", "2", labels={"v": "2"})},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
    ):
        assert relist.observe(event, NOW) == []
    [event] = relisted(relist, body("a", "1"), body("d", "4"))
    assert gone([event]) == [("b", "2")] and event["object"]["metadata"]["labels"] == {"v": "2"}


def test_only_a_complete_listing_decides_what_vanished() -> None:
    relist = Relist()
    relisted(relist, body("a", "1"), body("b", "2"))
    relist.begin()  # a listing cut by an error: no end mark
    assert relist.observe(listed(body("a", "1"))[0], NOW) == []
    assert relisted(relist, body("a", "1"), body("b", "2")) == []
    assert relist.listed(NOW) == []  # no listing under way


def test_deleted_and_created_again_under_the_same_name_is_deleted_first() -> None:
    relist = Relist()
    relisted(relist, body("a", "1"), body("b", "2"))
    relist.begin()
    assert gone(relist.observe(listed(body("a", "9"))[0], NOW)) == [("a", "1")]  # before the new one
    assert relist.observe(listed(body("b", "2"))[0], NOW) == []
    assert relist.listed(NOW) == []
    assert set(relist.known) == {"9", "2"}


def test_an_object_already_marked_for_deletion_keeps_its_timestamp() -> None:
    known = last_known(body("a", "1", deletionTimestamp="2025-01-01T00:00:00Z", finalizers=["f"]))
    assert deletion(known, NOW)["object"]["metadata"]["deletionTimestamp"] == "2025-01-01T00:00:00Z"
    assert deletion(known, NOW)["object"]["metadata"]["finalizers"] == ["f"]


def _fake_watch(runs: list[list[Any]], calls: list[int | None]) -> Any:
    """Kopf's infinite_watch as the wrapper sees it: each call one listing-and-watch."""

    async def infinite_watch(*, _iterations: int | None = None, **_: Any) -> AsyncIterator[Any]:
        calls.append(_iterations)
        for event in runs.pop(0):
            yield event

    return infinite_watch


async def _collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in stream]


def test_the_wrapper_puts_the_deletions_before_the_end_of_each_listing() -> None:
    a, b = body("a", "1"), body("b", "2")
    modified = {"type": "MODIFIED", "object": a}
    a_later = body("a", "1", resourceVersion="9")  # changed while no watch ran
    runs = [[*listed(a, b), watching.Bookmark.LISTED, modified], [*listed(a_later), watching.Bookmark.LISTED]]
    calls: list[int | None] = []
    wrapped = hook.relisting(_fake_watch(runs, calls))
    out = asyncio.run(_collect(wrapped(settings=None, resource=None, namespace="team", _iterations=2)))
    deleted = deletion(last_known(b), out[-2]["object"]["metadata"]["deletionTimestamp"])
    assert out == [
        *listed(a, b),
        watching.Bookmark.LISTED,
        modified,
        *listed(a_later),
        deleted,
        watching.Bookmark.LISTED,
    ]
    assert calls == [1, 1]  # one listing per run of the original


def test_a_relist_passes_on_only_the_objects_that_changed_while_no_watch_ran() -> None:
    """After an API server restart every watch relists: the objects at the version last seen are not
    processed again, so a change made meanwhile is not queued behind all of them."""
    a, b, c = body("a", "1"), body("b", "2"), body("c", "3")
    b_later = body("b", "2", resourceVersion="8")
    runs = [[*listed(a, b, c), watching.Bookmark.LISTED], [*listed(a, b_later, c), watching.Bookmark.LISTED]]
    wrapped = hook.relisting(_fake_watch(runs, []))
    out = asyncio.run(_collect(wrapped(settings=None, resource=None, namespace="team", _iterations=2)))
    assert out == [*listed(a, b, c), watching.Bookmark.LISTED, *listed(b_later), watching.Bookmark.LISTED]


def test_an_unchanged_object_is_still_part_of_the_listing_that_decides_what_vanished() -> None:
    relist = Relist()
    a, b = body("a", "1"), body("b", "2")
    assert relisted(relist, a, b) == []
    relist.begin()
    event = listed(a)[0]
    assert relist.unchanged(event) and relist.observe(event, NOW) == []
    assert gone(relist.listed(NOW)) == [("b", "2")]  # a was listed (unchanged), b was not


def test_a_watch_event_at_a_known_version_is_never_called_unchanged() -> None:
    relist = Relist()
    a = body("a", "1")
    relisted(relist, a)
    assert not relist.unchanged({"type": "MODIFIED", "object": a})  # only listings are filtered
    relist.begin()
    assert not relist.unchanged(listed(body("a", "1", resourceVersion="8"))[0])
    assert not relist.unchanged(listed(body("z", "26"))[0])


class _Settings:
    """Stands for one operator's Kopf settings (takers are keyed by their identity)."""


def _resource() -> references.Resource:
    return references.Resource(
        "alertagent.io", "v1alpha1", "alertrules", kind="AlertRule", namespaced=True, verbs=["list", "watch"]
    )


def test_a_taker_gets_its_kinds_events_and_kopf_only_the_ends_of_listings(caplog: pytest.LogCaptureFixture) -> None:
    a, b, c = body("a", "1"), body("b", "2"), body("c", "3")
    broken = body("broken", "4")
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}
    a_later = body("a", "1", resourceVersion="8")
    modified = {"type": "MODIFIED", "object": a_later}
    runs = [
        [*listed(a, b, broken), watching.Bookmark.LISTED, modified, bookmark],
        [*listed(a_later, c), watching.Bookmark.LISTED],
    ]
    settings, taken = _Settings(), []

    def taker(event: dict[str, Any]) -> None:
        if event["object"]["metadata"]["name"] == "broken":
            raise ValueError("no good")
        taken.append((event["type"], event["object"]["metadata"]["name"]))

    taking = hook.take(settings, "alertagent.io", "alertrules", taker)  # type: ignore[arg-type]
    try:
        wrapped = hook.relisting(_fake_watch(runs, []))
        with caplog.at_level(logging.ERROR):
            out = asyncio.run(
                _collect(wrapped(settings=settings, resource=_resource(), namespace="team", _iterations=2))
            )
    finally:
        taking.stop()
    assert out == [watching.Bookmark.LISTED, bookmark, watching.Bookmark.LISTED]
    assert taken == [
        (None, "a"),
        (None, "b"),
        ("MODIFIED", "a"),
        (None, "c"),  # a: relisted at the version last seen
        ("DELETED", "b"),
    ]
    assert "listed event of team/broken not handled" in caplog.text and "no good" in caplog.text
    assert "DELETED event of team/broken not handled" in caplog.text  # its deletion was found all the same
    assert not hook.TAKERS


def test_another_operators_streams_are_not_taken() -> None:
    """Neither another operator's running beside it, nor one whose settings reuse the memory (the id)
    of an operator that is gone without its cleanup."""
    a, mine, other = body("a", "1"), _Settings(), _Settings()
    hook.take(mine, "alertagent.io", "alertrules", lambda event: None)  # type: ignore[arg-type]
    stale = hook.take(_Settings(), "alertagent.io", "alertrules", lambda event: None)  # type: ignore[arg-type]
    try:
        for settings in (other, _Settings()):  # the second may get the freed id of the stale one
            wrapped = hook.relisting(_fake_watch([[*listed(a), watching.Bookmark.LISTED]], []))
            out = asyncio.run(
                _collect(wrapped(settings=settings, resource=_resource(), namespace="team", _iterations=1))
            )
            assert out == [*listed(a), watching.Bookmark.LISTED]
    finally:
        hook.TAKERS.clear()
    assert stale.key[0] != id(mine)


def test_install_wraps_the_function_kopfs_watchers_stream_from(monkeypatch: pytest.MonkeyPatch) -> None:
    kopfs = getattr(watching.infinite_watch, "__wrapped__", watching.infinite_watch)  # unwrapped, if installed
    monkeypatch.setattr(watching, "infinite_watch", kopfs)
    assert "watching.infinite_watch(" in inspect.getsource(queueing.watcher)  # looked up at each call
    assert hook.install() is True
    wrapped = watching.infinite_watch
    assert wrapped.__wrapped__ is kopfs  # type: ignore[attr-defined]
    assert hook.install() is True and watching.infinite_watch is wrapped  # once per process


def test_install_refuses_a_kopf_without_the_hook_points(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def infinite_watch(*, settings: Any, resource: Any, namespace: Any) -> AsyncIterator[Any]:
        yield None

    monkeypatch.setattr(watching, "infinite_watch", infinite_watch)
    with caplog.at_level(logging.ERROR):
        assert hook.install() is False
    assert watching.infinite_watch is infinite_watch and "cannot be wrapped" in caplog.text


def test_kopf_forgets_a_vanished_object_in_its_indexes_and_tells_the_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kopf's real watcher and event processing, fed a relist without `b`: the index drops it and the
    on-event handler gets DELETED for it."""
    a, b = body("a", "1"), body("b", "2")
    outage = asyncio.Event()
    runs = [[*listed(a, b), watching.Bookmark.LISTED], [*listed(a), watching.Bookmark.LISTED]]

    async def infinite_watch(*, _iterations: int | None = None, **_: Any) -> AsyncIterator[Any]:
        for event in runs.pop(0):
            yield event
        if runs:
            await outage.wait()  # the watch, until it expires
        else:
            await asyncio.Event().wait()

    monkeypatch.setattr(watching, "infinite_watch", hook.relisting(infinite_watch))
    registry = kopf.OperatorRegistry()
    seen: list[tuple[str | None, str]] = []

    @kopf.index("alertagent.io", "v1alpha1", "alertrules", registry=registry, id="rules")
    def rules(name: str, **_: Any) -> dict[str, str]:
        return {name: name}

    @kopf.on.event("alertagent.io", "v1alpha1", "alertrules", registry=registry, id="changed")
    def changed(type: str | None, name: str, **_: Any) -> None:
        seen.append((type, name))

    resource = references.Resource(
        "alertagent.io", "v1alpha1", "alertrules", kind="AlertRule", namespaced=True, verbs=["list", "watch"]
    )
    indexers = indexing.OperatorIndexers()
    indexers.ensure(registry._indexing.get_all_handlers())
    settings = kopf.OperatorSettings()
    settings.queueing.idle_timeout = 0.1
    processor = functools.partial(
        processing.process_resource_event,
        lifecycle=lifecycles.all_at_once,
        registry=registry,
        settings=settings,
        indexers=indexers,
        memories=inventory.ResourceMemories(),
        memobase=ephemera.AnyMemo(kopf.Memo()),
        event_queue=asyncio.Queue(),
        resource=resource,
    )
    index = indexers.indices["rules"]

    async def scenario() -> None:
        task = asyncio.create_task(
            queueing.watcher(namespace="team", settings=settings, resource=resource, processor=processor)
        )
        try:
            await _until(lambda: set(index) == {"a", "b"})
            outage.set()
            await _until(lambda: ("DELETED", "b") in seen)
            assert set(index) == {"a"}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(scenario())


async def _until(check: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)
