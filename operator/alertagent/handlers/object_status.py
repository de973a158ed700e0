"""Status of NotificationChannels and SuppressionPolicies: which clusters include each one and
whether it rendered there (written level-based: recomputed, patched only when it differs)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import kopf

from .. import kube
from ..api.base import GROUP, VERSION
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..render.alertmanager import GATEWAY_TYPES
from ..render.windows import window_active
from ..status import channel_status, comparable, policy_status
from .notifications import parse

PLURALS = {"NotificationChannel": "notificationchannels", "SuppressionPolicy": "suppressionpolicies"}
ObjectKey = tuple[str, str, str]  # kind, namespace, name

_MEMBERS: dict[ObjectKey, dict[str, str | None]] = {}  # object → cluster → why it was left out (None: rendered)
_SILENCES: dict[str, dict[str, str]] = {}  # cluster → window marker "<ns>/<policy>/<window>" → silence id
_GENERATED: dict[ObjectKey, dict[str, int]] = {}  # policy → cluster → inhibit rules generated from the graph
_LOCK = threading.Lock()


def record_silences(cluster: str, ids: dict[str, str]) -> None:
    with _LOCK:
        _SILENCES[cluster] = dict(ids)


def _silences_of(namespace: str, name: str) -> list[dict[str, str]]:
    prefix = f"{namespace}/{name}/"
    with _LOCK:
        return [
            {"window": marker[len(prefix) :], "cluster": cluster, "id": silence_id}
            for cluster, ids in sorted(_SILENCES.items())
            for marker, silence_id in sorted(ids.items())
            if marker.startswith(prefix)
        ]


def record(
    cluster: str, members: dict[ObjectKey, str | None], generated: dict[str, int] | None = None
) -> set[ObjectKey]:
    """Remember what one cluster rendered (and the inhibit rules it generated per policy); return the
    objects whose membership or generated count changed."""
    changed = set()
    with _LOCK:
        for obj in members:
            if obj[0] != "SuppressionPolicy":
                continue
            count = (generated or {}).get(f"{obj[1]}/{obj[2]}", 0)
            counts = _GENERATED.setdefault(obj, {})
            if counts.get(cluster) != count:
                counts[cluster] = count
                changed.add(obj)
        for obj, by_cluster in _MEMBERS.items():
            if cluster in by_cluster and obj not in members:
                del by_cluster[cluster]
                _GENERATED.get(obj, {}).pop(cluster, None)  # no longer rendered there: nothing generated
                changed.add(obj)
        for obj, problem in members.items():
            by_cluster = _MEMBERS.setdefault(obj, {})
            if cluster not in by_cluster or by_cluster[cluster] != problem:
                by_cluster[cluster] = problem
                changed.add(obj)
    return changed


def rendered_in(obj: ObjectKey) -> list[str]:
    """Clusters whose configuration includes the object."""
    with _LOCK:
        return sorted(c for c, problem in _MEMBERS.get(obj, {}).items() if problem is None)


def compose(kind: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    meta = body["metadata"]
    with _LOCK:
        clusters = dict(_MEMBERS.get((kind, meta["namespace"], meta["name"]), {}))
    model_type = NotificationChannel if kind == "NotificationChannel" else SuppressionPolicy
    parsed = parse(model_type, body)
    errors = list(parsed.errors)
    if kind == "NotificationChannel":
        channel_type = (body.get("spec") or {}).get("type")
        delivery = None if channel_type is None else "Gateway" if channel_type in GATEWAY_TYPES else "Native"
        return channel_status(body, clusters, errors, delivery)
    policy = parsed.model if isinstance(parsed.model, SuppressionPolicy) else None
    windows = policy.spec.maintenance_windows or [] if policy else []
    active = [w.name for w in windows if window_active(w, now)]
    with _LOCK:  # the same graph renders the same rules in every cluster, unless isolation narrows them
        generated = max(_GENERATED.get((kind, meta["namespace"], meta["name"]), {}).values(), default=0)
    inhibit = len(policy.spec.inhibit_rules or []) + generated if policy else 0
    status = policy_status(body, clusters, errors, [w.name for w in windows], active, inhibit)
    return {**status, "silences": _silences_of(meta["namespace"], meta["name"]), "generatedInhibitRules": generated}


def write(kind: str, body: dict[str, Any], announce: bool = False) -> None:
    """Patch the object's status when it differs from what it should be (blocking)."""
    new = compose(kind, body, datetime.now(UTC))
    old = body.get("status") or {}
    if comparable({k: old.get(k) for k in new}) == comparable(new):
        return
    meta = body["metadata"]
    kube.patch_status(PLURALS[kind], meta["namespace"], meta["name"], new)
    message = new["conditions"][0]["message"]
    if (
        announce
        and new["conditions"][0]["status"] == "False"
        and message != (old.get("conditions") or [{}])[0].get("message")
    ):
        kopf.warn(body, reason="Invalid", message=message[:1024])


def refresh(objects: set[ObjectKey]) -> None:
    """Rewrite the status of these objects (blocking)."""
    for kind, namespace, name in sorted(objects):
        body = kube.get_object(PLURALS[kind], namespace, name)
        if body is not None:
            write(kind, body, announce=True)


@kopf.on.event(GROUP, VERSION, "notificationchannels")
def channel_status_changed(body: kopf.Body, type: str, **_: Any) -> None:
    if type != "DELETED":
        write("NotificationChannel", dict(body), announce=True)


@kopf.on.event(GROUP, VERSION, "suppressionpolicies")
def policy_status_changed(body: kopf.Body, type: str, **_: Any) -> None:
    if type != "DELETED":
        write("SuppressionPolicy", dict(body), announce=True)
