"""One-off maintenance windows as Alertmanager silences (pure): what should exist, and the plan that
turns the silences Alertmanager has into that. Our silences are found again by a marker at the
start of their comment, so restarts never duplicate them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.suppressionpolicy import SuppressionPolicy

CREATED_BY = "alertagent"
MARKER_PREFIX = "alertagent.io/window="


@dataclass(frozen=True)
class DesiredSilence:
    marker: str  # "<namespace>/<policy>/<window>"
    matchers: tuple[tuple[str, str, bool, bool], ...]  # name, value, isRegex, isEqual
    starts_at: datetime
    ends_at: datetime
    comment: str

    def body(self, silence_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "matchers": [{"name": n, "value": v, "isRegex": r, "isEqual": e} for n, v, r, e in self.matchers],
            "startsAt": self.starts_at.isoformat().replace("+00:00", "Z"),
            "endsAt": self.ends_at.isoformat().replace("+00:00", "Z"),
            "createdBy": CREATED_BY,
            "comment": f"{MARKER_PREFIX}{self.marker} {self.comment}".strip(),
        }
        if silence_id:
            body["id"] = silence_id
        return body


def desired_silences(
    cluster: AlertmanagerCluster, policies: Iterable[SuppressionPolicy], now: datetime
) -> list[DesiredSilence]:
    """A silence per one-off window that has not ended, scoped like the policy's routes."""
    desired = []
    isolate = cluster.spec.namespace_isolation == "OnNamespace"
    for policy in policies:
        namespace = policy.metadata.namespace or ""
        scope = []
        if isolate and namespace != cluster.metadata.namespace:
            scope = [(cluster.spec.namespace_label, namespace, False, True)]
        matchers = scope + [
            (m.name, m.value, m.match_type in ("=~", "!~"), m.match_type in ("=", "=~"))
            for m in policy.spec.matchers or []
        ]
        if not matchers:
            continue  # Alertmanager refuses a silence without matchers; the CRD cannot say so per window
        for window in policy.spec.maintenance_windows or []:
            if window.start is None or window.end is None or window.end <= now:
                continue
            desired.append(
                DesiredSilence(
                    f"{namespace}/{policy.metadata.name}/{window.name}",
                    tuple(matchers),
                    window.start,
                    window.end,
                    window.comment or "",
                )
            )
    return sorted(desired, key=lambda d: d.marker)


def marker_of(silence: dict[str, Any]) -> str | None:
    comment = silence.get("comment") or ""
    if silence.get("createdBy") != CREATED_BY or not comment.startswith(MARKER_PREFIX):
        return None
    return comment[len(MARKER_PREFIX) :].split(" ", 1)[0]


def _same(silence: dict[str, Any], want: DesiredSilence) -> bool:
    """Whether the silence already is what we want. Alertmanager starts a silence whose start is past
    at the time it is created (silence/silence.go, `Silences.Set`: startsAt is clamped to now), so an
    active silence that started at or after the window's start has the right start: asking again would
    make Alertmanager expire it and create another, every reconcile."""
    have = tuple((m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in silence.get("matchers") or [])
    starts_at, wanted_start = _milliseconds(silence["startsAt"]), _milliseconds(want.starts_at)
    active = (silence.get("status") or {}).get("state") == "active"
    return (
        sorted(have) == sorted(want.matchers)
        and (starts_at == wanted_start or (active and starts_at > wanted_start))
        and _milliseconds(silence["endsAt"]) == _milliseconds(want.ends_at)
        and silence.get("comment") == want.body()["comment"]
    )


def _milliseconds(time: str | datetime) -> datetime:
    """A time as Alertmanager's API returns it: to the millisecond."""
    parsed = time if isinstance(time, datetime) else datetime.fromisoformat(time.replace("Z", "+00:00"))
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


@dataclass
class SilencePlan:
    create: list[DesiredSilence]
    update: list[tuple[str, DesiredSilence]]  # (existing id, new contents)
    expire: list[str]  # ids
    keep: dict[str, str]  # marker → id of a silence already right


def plan_silences(desired: list[DesiredSilence], existing: Iterable[dict[str, Any]]) -> SilencePlan:
    """Compare with Alertmanager's silences (only unexpired ones carrying our marker count)."""
    ours: dict[str, list[dict[str, Any]]] = {}
    for silence in existing:
        marker = marker_of(silence)
        if marker is not None and (silence.get("status") or {}).get("state") != "expired":
            ours.setdefault(marker, []).append(silence)
    plan = SilencePlan([], [], [], {})
    wanted = {d.marker: d for d in desired}
    for marker, silences in sorted(ours.items()):
        first, *duplicates = sorted(silences, key=lambda s: s["id"])
        plan.expire += [s["id"] for s in duplicates]
        if marker not in wanted:
            plan.expire.append(first["id"])
        elif _same(first, wanted[marker]):
            plan.keep[marker] = first["id"]
        else:
            plan.update.append((first["id"], wanted[marker]))
    plan.create = [d for m, d in wanted.items() if m not in ours]
    return plan
