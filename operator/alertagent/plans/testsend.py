"""Test-send (pure): the synthetic alert that only a channel's own test route takes; for a gateway
channel (dingtalk, wecom, feishu), the gateway's test endpoint and the robot's answer it relays; and
when a requested test-send is sent (`plan_test_send`): not before the operator knows which clusters
render the channel, and once per annotation value, across restarts too."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from ..common.identity import ObjectRef
from ..common.labels import TEST_LABEL, TEST_SEND_LABEL

ANNOTATION = "alertagent.io/test-send"


def synthetic_alert(channel: ObjectRef, value: str, now: datetime) -> dict[str, Any]:
    """An Alertmanager API v2 alert, firing for five minutes, labelled for `channel`'s test route and
    with the request's `value`: a new request is a new alert in a new group, notified at once."""
    return {
        "labels": {
            "alertname": "AlertAgentTestSend",
            TEST_LABEL: channel.key,
            TEST_SEND_LABEL: value,
            "namespace": channel.namespace,
            "severity": "none",
        },
        "annotations": {"summary": f"AlertAgent test notification for {channel.key}"},
        "startsAt": now.isoformat().replace("+00:00", "Z"),
        "endsAt": (now + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
    }


GATEWAY_TEST_PATH = "/api/v1/test"


class SendOutcome(NamedTuple):
    """What a test-send did: accepted everywhere, what happened, and the robot's own answer code (a
    gateway channel; None otherwise or when the robot gave none)."""

    ok: bool
    message: str
    code: int | None = None


def gateway_test_url(gateway_url: str, channel: ObjectRef) -> str:
    """`<gateway>/api/v1/test/<namespace>/<name>`: the gateway renders a marked test message for the
    channel and delivers it to the robot at once."""
    return f"{gateway_url.rstrip('/')}{GATEWAY_TEST_PATH}/{channel.key}"


def gateway_not_loaded(status: int, text: str) -> bool:
    """Whether the gateway's refusal of POST /api/v1/test/... says it has not loaded the channel's
    current entry yet: 404 "no gateway channel" (a new channel) or 401 (an older token): the kubelet
    updates a mounted Secret up to a minute or so after the operator wrote it. Nothing reached the
    robot, so the test may be posted again (see `gateway.server`)."""
    if status == 401:
        return True
    if status != 404:
        return False
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, str) and error.startswith("no gateway channel")


def gateway_test_answer(status: int, text: str) -> SendOutcome:
    """The outcome of POST /api/v1/test/...: on HTTP 200 the gateway relays the robot's own answer
    `{"ok": bool, "code": int | null, "message": str}`; any other status (401 bad token, 404 channel not
    in its file yet, 5xx) is the gateway's own refusal, its body quoted (it never holds secrets).
    Raises nothing."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if status != 200 or not isinstance(body, dict):
        said = " ".join(text.split())[:300]
        return SendOutcome(False, f"the gateway answered HTTP {status}: {said}" if said else f"HTTP {status}")
    code = body.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = str(body.get("message") or "")
    ok = body.get("ok") is True
    return SendOutcome(ok, f"the robot answered {code if code is not None else 'without a code'}: {message}", code)


def last_test(value: str, ok: bool, message: str, now: datetime, code: int | None = None) -> dict[str, Any]:
    """`status.lastTest` of a channel after a test-send; `code` is the robot's own (gateway channels)."""
    return {
        "time": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "value": value,
        "result": "Succeeded" if ok else "Failed",
        "code": code,
        "message": message[:1000],
    }


TestSendAction = Literal["skip", "wait", "send"]


def requested_value(value: str | None, recorded: str | None, sent: str | None) -> str | None:
    """The annotation's `value` when it asks for a test-send not yet made, else None: `recorded` is
    `status.lastTest.value` (what an earlier run, or this one, sent: so never twice across restarts),
    `sent` the value this run last sent (its status write may not be in the event yet)."""
    return value if value and value not in (recorded, sent) else None


def plan_test_send(
    value: str | None,
    recorded: str | None,
    sent: str | None,
    *,
    primed: bool,
    settled: bool,
    waited: float,
    patience: float,
) -> TestSendAction:
    """What to do with a channel's `alertagent.io/test-send` annotation `value`:

    - "skip": no value, or it was already sent (see `requested_value`);
    - "wait": the operator's view of the memberships is not complete: not `primed` (not every cluster
      has reconciled since start) or not `settled` (a reconcile is due or running, e.g. for the
      channel's own creation). Sending now would fail with "no AlertmanagerCluster renders this
      channel" and the request would be lost: it stays pending instead;
    - "send": the view is complete, or the request has `waited` (seconds) `patience` or longer (a
      cluster that keeps reconciling must not hold it forever: it is sent with what is known).
    """
    if requested_value(value, recorded, sent) is None:
        return "skip"
    if (primed and settled) or waited >= patience:
        return "send"
    return "wait"


@dataclass
class PendingTestSends:
    """Test-sends requested and not yet sent, and what was sent, per channel (use it from one thread:
    the operator's event loop). `pending`: channel → (the newest requested value, the channel's
    manifest as last seen, when the request was first seen in monotonic seconds); `sent`: channel →
    the last value sent by this run; `waiting`: the channels whose request a sender task serves."""

    pending: dict[ObjectRef, tuple[str, dict[str, Any], float]] = field(default_factory=dict)
    sent: dict[ObjectRef, str] = field(default_factory=dict)
    waiting: set[ObjectRef] = field(default_factory=set)

    def request(self, channel: ObjectRef, value: str, body: dict[str, Any], now: float) -> bool:
        """Keep a request (a newer value replaces a pending one, keeping when it was first seen);
        True when no sender serves the channel yet (start one)."""
        since = self.pending[channel][2] if channel in self.pending else now
        self.pending[channel] = (value, body, since)
        if channel in self.waiting:
            return False
        self.waiting.add(channel)
        return True

    def forget(self, channel: ObjectRef) -> None:
        """The channel is gone: a pending request goes with it (its sender then ends)."""
        self.pending.pop(channel, None)
        self.sent.pop(channel, None)
