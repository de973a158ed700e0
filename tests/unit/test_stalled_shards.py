"""Shards waiting for their sidecar: the shard events keep `OperatorState.pending_shards` (one entry per
shard whose current version is not loaded), and a probe's `note_pending` names the files of each shard
of its cluster once, when it has waited longer than `pending_warn_seconds`, and again only after it
loaded or changed."""

from __future__ import annotations

import time

from alertagent.handlers.shards import _note_pending
from alertagent.reconcile.state import OperatorState
from alertagent.settings import Settings
from alertagent.status import ShardReport


def _state(warn_seconds: float) -> OperatorState:
    return OperatorState(settings=Settings(pending_warn_seconds=warn_seconds), kube=None, queue=None, api=None)  # type: ignore[arg-type]


def _report(shard: str, shard_hash: str, loaded: str | None, error: str | None = None) -> ShardReport:
    return ShardReport(
        cluster="ns/main",
        evaluator="prometheus",
        file_hash="f",
        shard_hash=shard_hash,
        loaded_hash=loaded,
        loaded_time=None,
        error=error,
        shard=shard,
    )


def test_a_shard_event_records_whether_its_sidecar_loaded_it() -> None:
    pending: dict[str, tuple[str, str, frozenset[str]]] = {}
    files = frozenset({"a.yaml", "b.yaml"})
    other = _report("ns/other", "o1", None)  # another shard's report of the same file name
    _note_pending(pending, "ns/rules-0", {"a.yaml": [other, _report("ns/rules-0", "h1", "h0")]}, files)
    assert pending == {"ns/rules-0": ("ns/main", "h1", files)}
    _note_pending(pending, "ns/rules-0", {"a.yaml": [_report("ns/rules-0", "h1", "h1")]}, files)  # loaded
    assert pending == {}
    _note_pending(pending, "ns/rules-0", {"a.yaml": [_report("ns/rules-0", "h2", "h1", "reload failed")]}, files)
    assert pending == {}  # failed: its status says so already, it is not waiting
    _note_pending(pending, "ns/rules-0", {"a.yaml": [_report("ns/rules-0", "h3", "h1")]}, files)
    _note_pending(pending, "ns/rules-0", None, files)  # deleted
    assert pending == {}


def test_a_shard_is_named_once_after_waiting_too_long_and_again_after_it_changed() -> None:
    state = _state(warn_seconds=0.05)
    files = frozenset({"a.yaml"})
    state.pending_shards["ns/rules-0"] = ("ns/main", "h1", files)
    state.pending_shards["ns/rules-1"] = ("ns/other", "x1", frozenset({"x.yaml"}))  # another cluster's
    assert state.note_pending("ns/main") == set()  # first seen now
    time.sleep(0.1)
    assert state.note_pending("ns/main") == {"a.yaml"}
    assert state.note_pending("ns/main") == set()  # named once
    state.pending_shards["ns/rules-0"] = ("ns/main", "h2", files)  # a new version, not loaded either
    assert state.note_pending("ns/main") == set()
    time.sleep(0.1)
    assert state.note_pending("ns/main") == {"a.yaml"}
    del state.pending_shards["ns/rules-0"]  # loaded
    assert state.note_pending("ns/main") == set()
    assert state.pending_since["ns/main"] == {} and state.stalled["ns/main"] == set()
