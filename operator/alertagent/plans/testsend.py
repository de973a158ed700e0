"""Test-send (pure): the synthetic alert that only a channel's own test route takes; for a gateway
channel (dingtalk, wecom, feishu), the gateway's test endpoint and the robot's answer it relays."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..common.identity import ObjectRef
from ..common.labels import TEST_LABEL

ANNOTATION = "alertagent.io/test-send"


def synthetic_alert(channel: ObjectRef, value: str, now: datetime) -> dict[str, Any]:
    """An Alertmanager API v2 alert, firing for five minutes, labelled for `channel`'s test route."""
    return {
        "labels": {
            "alertname": "AlertAgentTestSend",
            TEST_LABEL: channel.key,
            "namespace": channel.namespace,
            "severity": "none",
        },
        "annotations": {"summary": f"AlertAgent test notification for {channel.key}", "test_send": value},
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
