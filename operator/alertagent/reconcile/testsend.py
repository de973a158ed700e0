"""Test-send: post a channel's test alert to every Alertmanager that renders the channel (blocking)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from ..clients.alertmanager import post_alerts
from ..common.identity import ObjectRef
from ..plans.status import PLURALS
from ..plans.testsend import synthetic_alert
from .state import OperatorState


def send_test(state: OperatorState, channel: ObjectRef, value: str) -> tuple[bool, str]:
    """(all accepted, what happened per cluster)."""
    clusters = state.memberships.rendered_in(channel)
    if not clusters:
        return False, "no AlertmanagerCluster renders this channel"
    failures, sent = [], []
    alert = synthetic_alert(channel, value, datetime.now(UTC))
    with httpx.Client(timeout=state.settings.target_timeout_seconds) as http:
        for cluster in clusters:
            ref = ObjectRef.parse_key("AlertmanagerCluster", cluster)
            body = state.kube.get_object(PLURALS[ref.kind], ref.namespace, ref.name)
            if body is None:
                failures.append(f"{cluster}: not found")
                continue
            try:
                post_alerts(http, body["spec"]["alertmanager"]["url"].rstrip("/"), [alert])
                sent.append(cluster)
            except httpx.HTTPError as err:
                failures.append(f"{cluster}: {err.__class__.__name__}: {err}")
    if failures:
        return False, "; ".join(failures)
    return True, f"test alert accepted by {', '.join(sent)}"
