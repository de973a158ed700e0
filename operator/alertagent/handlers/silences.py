"""One-off windows as Alertmanager silences: created before they start, updated when the window or
matchers change, expired when the policy or window goes; never duplicated (found by marker).
Blocking: run in a thread."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.suppressionpolicy import SuppressionPolicy
from ..render.silences import desired_silences, plan_silences
from ..targets.alertmanager import expire_silence, list_silences, post_silence


def reconcile_silences(cluster: AlertmanagerCluster, policies: list[SuppressionPolicy]) -> dict[str, str]:
    """Make Alertmanager's silences match the windows; returns window marker → silence id."""
    url = cluster.spec.alertmanager.url.rstrip("/")
    desired = desired_silences(cluster, policies, datetime.now(UTC))
    with httpx.Client(timeout=10) as http:
        plan = plan_silences(desired, list_silences(http, url))
        ids = dict(plan.keep)
        for want in plan.create:
            ids[want.marker] = post_silence(http, url, want.body())
        for silence_id, want in plan.update:
            ids[want.marker] = post_silence(http, url, want.body(silence_id))
        for silence_id in plan.expire:
            expire_silence(http, url, silence_id)
    return ids
