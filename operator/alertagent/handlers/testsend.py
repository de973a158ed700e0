"""Test-send: a new value of the annotation `alertagent.io/test-send` on a NotificationChannel posts a
synthetic alert to each Alertmanager that renders the channel (API v2), labelled so that only the
channel's own test route takes it. `status.lastTest` records time, value and outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import kopf

from .. import kube
from ..api.base import GROUP, VERSION
from ..render.alertmanager import TEST_LABEL
from . import object_status

ANNOTATION = "alertagent.io/test-send"


def _alert(channel: str, namespace: str, value: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": "AlertAgentTestSend", TEST_LABEL: channel, "namespace": namespace, "severity": "none"},
        "annotations": {"summary": f"AlertAgent test notification for {channel}", "test_send": value},
        "startsAt": now.isoformat().replace("+00:00", "Z"),
        "endsAt": (now + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
    }


def send(namespace: str, name: str, value: str) -> tuple[bool, str]:
    """Post the test alert to every cluster rendering the channel (blocking)."""
    clusters = object_status.rendered_in(("NotificationChannel", namespace, name))
    if not clusters:
        return False, "no AlertmanagerCluster renders this channel"
    failures, sent = [], []
    for cluster in clusters:
        cluster_ns, cluster_name = cluster.split("/", 1)
        body = kube.get_object("alertmanagerclusters", cluster_ns, cluster_name)
        if body is None:
            failures.append(f"{cluster}: not found")
            continue
        url = body["spec"]["alertmanager"]["url"].rstrip("/")
        try:
            response = httpx.post(
                f"{url}/api/v2/alerts", json=[_alert(f"{namespace}/{name}", namespace, value)], timeout=10
            )
            response.raise_for_status()
            sent.append(cluster)
        except httpx.HTTPError as err:
            failures.append(f"{cluster}: {err.__class__.__name__}: {err}")
    if failures:
        return False, "; ".join(failures)
    return True, f"test alert accepted by {', '.join(sent)}"


@kopf.on.event(GROUP, VERSION, "notificationchannels")
def test_send(body: kopf.Body, type: str, namespace: str, name: str, **_: Any) -> None:
    value = body.metadata.annotations.get(ANNOTATION)
    last = (body.get("status") or {}).get("lastTest") or {}
    if type == "DELETED" or not value or last.get("value") == value:
        return
    ok, message = send(namespace, name, value)
    result = {
        "time": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "value": value,
        "result": "Succeeded" if ok else "Failed",
        "message": message[:1000],
    }
    kube.patch_status("notificationchannels", namespace, name, {"lastTest": result})
    if not ok:
        kopf.warn(body, reason="TestSendFailed", message=message[:1024])
