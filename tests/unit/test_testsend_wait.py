"""Test-send requests are not lost while the operator's view is incomplete: `plan_test_send` waits
until every cluster reconciled since start and no reconcile is due (or until its patience runs out),
skips what was already sent (recorded in `status.lastTest`, or sent by this run); `serve_test_sends`
sends each requested value once; a gateway that has not loaded the channel yet is asked again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from alertagent.common.identity import ObjectRef
from alertagent.plans.testsend import (
    PendingTestSends,
    SendOutcome,
    gateway_not_loaded,
    plan_test_send,
    requested_value,
)
from alertagent.reconcile import testsend
from alertagent.reconcile.queue import Backoff, WorkQueue
from alertagent.reconcile.state import OperatorState
from alertagent.settings import Settings

CHANNEL = ObjectRef("NotificationChannel", "team", "pager")


def plan(value: str | None = "v2", recorded: str | None = "v1", sent: str | None = None, **kw: Any) -> str:
    view = {"primed": True, "settled": True, "waited": 0.0, "patience": 120.0} | kw
    return plan_test_send(value, recorded, sent, **view)


def test_a_new_value_is_sent_when_the_view_is_complete() -> None:
    assert plan() == "send"
    assert plan(recorded=None) == "send"  # never tested before


@pytest.mark.parametrize(
    ("value", "recorded", "sent"),
    [(None, None, None), ("", "v1", None), ("v1", "v1", None), ("v2", "v1", "v2")],
    ids=["no annotation", "empty", "recorded in status (an earlier run sent it)", "sent by this run"],
)
def test_what_was_sent_is_not_sent_again(value: str | None, recorded: str | None, sent: str | None) -> None:
    assert requested_value(value, recorded, sent) is None
    assert plan(value, recorded, sent) == "skip"
    assert plan(value, recorded, sent, primed=False, settled=False) == "skip"  # not even waited for


def test_waits_until_every_cluster_reconciled_and_none_is_due() -> None:
    assert plan(primed=False) == "wait"  # at start: the memberships are not computed yet
    assert plan(settled=False) == "wait"  # e.g. the channel was just created: its render is due
    assert plan(primed=False, settled=False, waited=119.9) == "wait"


def test_waits_no_longer_than_its_patience() -> None:
    assert plan(primed=False, settled=False, waited=120.0) == "send"


def test_pending_requests_keep_the_newest_value_and_the_first_sight() -> None:
    requests = PendingTestSends()
    assert requests.request(CHANNEL, "a", {}, now=10.0) is True  # start a sender
    assert requests.request(CHANNEL, "b", {"x": 1}, now=20.0) is False  # the running one serves it
    assert requests.pending[CHANNEL] == ("b", {"x": 1}, 10.0)
    requests.sent[CHANNEL] = "a"
    requests.forget(CHANNEL)
    assert CHANNEL not in requests.pending and CHANNEL not in requests.sent


class _Kube:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        assert (plural, namespace, name) == ("notificationchannels", "team", "pager")
        self.statuses.append(status)

    def post_event(self, body: dict[str, Any], type: str, reason: str, message: str) -> None:
        self.events.append((type, reason, message))


def _state() -> tuple[OperatorState, _Kube]:
    kube = _Kube()
    queue = WorkQueue(1.0, 30.0, Backoff())
    return OperatorState(settings=Settings(), kube=kube, queue=queue, api=None), kube  # type: ignore[arg-type]


def test_a_request_seen_before_priming_is_sent_once_primed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug: at start the request was tried at once, failed with "no AlertmanagerCluster renders
    this channel" and was recorded as done. Now it waits for priming, then goes out once, even when
    stale events (before the status write) ask for it again."""
    state, kube = _state()
    sends: list[str] = []
    monkeypatch.setattr(testsend, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(testsend, "send_test", lambda s, ref, value: sends.append(value) or SendOutcome(True, "ok"))
    primed = {"now": False}

    async def main() -> None:
        assert state.test_sends.request(CHANNEL, "v1", {}, now=time.monotonic())
        sender = asyncio.create_task(testsend.serve_test_sends(state, CHANNEL, lambda: primed["now"]))
        await asyncio.sleep(0.1)
        assert sends == [] and kube.statuses == []  # waiting, not failed
        primed["now"] = True
        await asyncio.wait_for(sender, 5)
        # A stale event (status not yet showing "v1") while no sender runs: nothing to do.
        assert requested_value("v1", None, state.test_sends.sent.get(CHANNEL)) is None

    asyncio.run(main())
    assert sends == ["v1"]
    [status] = kube.statuses
    assert status["lastTest"]["value"] == "v1" and status["lastTest"]["result"] == "Succeeded"
    assert kube.events == [] and state.test_sends.waiting == set() and state.test_sends.pending == {}


def test_a_busy_queue_holds_the_send_and_the_newest_value_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reconcile due (a channel just created: its render is pending) holds the send; the value
    requested meanwhile replaces the waiting one; a refusal is recorded with the robot's code."""
    state, kube = _state()
    sends: list[str] = []
    monkeypatch.setattr(testsend, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(
        testsend, "send_test", lambda s, ref, value: sends.append(value) or SendOutcome(False, "refused", 310000)
    )

    async def main() -> None:
        state.queue.register("monitoring/main")  # a cluster's first reconcile is due: not settled
        state.test_sends.request(CHANNEL, "v1", {}, now=time.monotonic())
        sender = asyncio.create_task(testsend.serve_test_sends(state, CHANNEL, lambda: True))
        await asyncio.sleep(0.1)
        assert sends == []
        assert not state.test_sends.request(CHANNEL, "v2", {}, now=time.monotonic())  # newer, while waiting
        state.queue.take_due("monitoring/main")
        state.queue.done("monitoring/main", [])
        await asyncio.wait_for(sender, 5)

    asyncio.run(main())
    assert sends == ["v2"]
    [status] = kube.statuses
    assert status["lastTest"] | {"time": None} == {
        "time": None,
        "value": "v2",
        "result": "Failed",
        "code": 310000,
        "message": "refused",
    }
    assert kube.events == [("Warning", "TestSendFailed", "refused")]


@pytest.mark.parametrize(
    ("status", "text", "not_loaded"),
    [
        (404, '{"error": "no gateway channel team/pager"}', True),  # a new channel: its Secret not mounted yet
        (401, '{"error": "missing or wrong bearer token"}', True),  # an older token still loaded
        (404, "404: Not Found", False),  # not the gateway's test endpoint (a wrong spec.gateway.url)
        (404, '["no gateway channel"]', False),
        (200, '{"ok": false, "code": 310000, "message": "sign not match"}', False),  # the robot answered
        (503, '{"error": "queue full"}', False),
    ],
)
def test_a_gateway_that_has_not_loaded_the_channel_is_asked_again(status: int, text: str, not_loaded: bool) -> None:
    assert gateway_not_loaded(status, text) is not_loaded
