"""Test-send (pure): the synthetic alert that only a channel's own test route takes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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


def last_test(value: str, ok: bool, message: str, now: datetime) -> dict[str, Any]:
    """`status.lastTest` of a channel after a test-send."""
    return {
        "time": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "value": value,
        "result": "Succeeded" if ok else "Failed",
        "message": message[:1000],
    }
