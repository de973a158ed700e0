"""One-off maintenance windows as Alertmanager silences (pure): what should exist, and the plan that
turns the silences Alertmanager has into that.

Each silence names its window and the AlertmanagerCluster that made it at the start of its comment:
`alertagent.io/window=<namespace>/<policy>/<window> alertagent.io/cluster=<namespace>/<name> <comment>`
(`createdBy` stays `alertagent`). A cluster plans only its own silences, so several clusters (or
operators) that share one Alertmanager never touch each other's, and a restart finds them again
instead of duplicating them.

Silences made before the comment named the cluster (`alertagent.io/window=… <comment>` only, the
*legacy* format) are adopted, not recreated: a cluster that wants the window rewrites the silence's
comment in place (same id; an active silence keeps the start Alertmanager gave it, so Alertmanager
updates it rather than replacing it). A legacy silence of a window no longer wanted is expired by a
cluster that selects its policy; one whose policy no cluster selects is left to end by itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.suppressionpolicy import SuppressionPolicy

CREATED_BY = "alertagent"
MARKER_PREFIX = "alertagent.io/window="
CLUSTER_PREFIX = "alertagent.io/cluster="
# The silences step's error when Alertmanager does not answer (a transport error or an HTTP 5xx): the
# cluster's status shows it as part of the Alertmanager target's health, not as a render failure.
UNREACHABLE = "Alertmanager did not answer: "


def unreachable_error(detail: str) -> str:
    """The silences step's error for an Alertmanager that does not answer (`detail`: the client's error)."""
    return f"{UNREACHABLE}{detail}"


def unreachable_detail(error: str | None) -> str | None:
    """The client's error when `error` says Alertmanager did not answer; None for any other error."""
    return error[len(UNREACHABLE) :] if error and error.startswith(UNREACHABLE) else None


@dataclass(frozen=True)
class DesiredSilence:
    marker: str  # "<namespace>/<policy>/<window>"
    cluster: str  # the AlertmanagerCluster that owns it, "<namespace>/<name>"
    matchers: tuple[tuple[str, str, bool, bool], ...]  # name, value, isRegex, isEqual
    starts_at: datetime
    ends_at: datetime
    comment: str

    @property
    def full_comment(self) -> str:
        return f"{MARKER_PREFIX}{self.marker} {CLUSTER_PREFIX}{self.cluster} {self.comment}".strip()

    def body(self, silence_id: str | None = None) -> dict[str, Any]:
        """The API v2 `postableSilence` (with `id`: an update of that silence)."""
        body: dict[str, Any] = {
            "matchers": [{"name": n, "value": v, "isRegex": r, "isEqual": e} for n, v, r, e in self.matchers],
            "startsAt": _wire_time(self.starts_at),
            "endsAt": _wire_time(self.ends_at),
            "createdBy": CREATED_BY,
            "comment": self.full_comment,
        }
        if silence_id:
            body["id"] = silence_id
        return body


def _wire_time(time: datetime) -> str:
    return time.isoformat().replace("+00:00", "Z")


def cluster_key(cluster: AlertmanagerCluster) -> str:
    return f"{cluster.metadata.namespace or 'default'}/{cluster.metadata.name}"


def desired_silences(
    cluster: AlertmanagerCluster, policies: Iterable[SuppressionPolicy], now: datetime
) -> list[DesiredSilence]:
    """A silence per one-off window that has not ended, scoped like the policy's routes and owned by
    `cluster`; sorted by window marker."""
    desired = []
    owner = cluster_key(cluster)
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
                    owner,
                    tuple(matchers),
                    window.start,
                    window.end,
                    window.comment or "",
                )
            )
    return sorted(desired, key=lambda d: d.marker)


@dataclass(frozen=True)
class SilenceOwner:
    """Whose silence it is: the window marker and the owning cluster (None: the legacy format, made
    before silences named their cluster)."""

    marker: str
    cluster: str | None


def owner_of(silence: Mapping[str, Any]) -> SilenceOwner | None:
    """The owner an AlertAgent silence names at the start of its comment; None for anyone else's."""
    comment = silence.get("comment") or ""
    if silence.get("createdBy") != CREATED_BY or not comment.startswith(MARKER_PREFIX):
        return None
    marker, _, rest = comment[len(MARKER_PREFIX) :].partition(" ")
    token = rest.split(" ", 1)[0]
    cluster = token[len(CLUSTER_PREFIX) :] if token.startswith(CLUSTER_PREFIX) else None
    return SilenceOwner(marker, cluster)


def _same(silence: Mapping[str, Any], want: DesiredSilence) -> bool:
    """Whether the silence already is what we want. Alertmanager starts a silence whose start is past
    at the time it is created (silence/silence.go, `Silences.Set`: startsAt is clamped to now), so an
    active silence that started at or after the window's start has the right start: asking again would
    make Alertmanager expire it and create another, every reconcile."""
    return _same_except_comment(silence, want) and silence.get("comment") == want.full_comment


def _same_except_comment(silence: Mapping[str, Any], want: DesiredSilence) -> bool:
    return (
        _matchers(silence) == sorted(want.matchers)
        and (_clamped(silence, want) or _milliseconds(silence["startsAt"]) == _milliseconds(want.starts_at))
        and _milliseconds(silence["endsAt"]) == _milliseconds(want.ends_at)
    )


def _matchers(silence: Mapping[str, Any]) -> list[tuple[str, str, bool, bool]]:
    return sorted((m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in silence.get("matchers") or [])


def _clamped(silence: Mapping[str, Any], want: DesiredSilence) -> bool:
    """An active silence that started after the window's start: Alertmanager clamped its start."""
    active = (silence.get("status") or {}).get("state") == "active"
    return active and _milliseconds(silence["startsAt"]) > _milliseconds(want.starts_at)


def _update(silence: Mapping[str, Any], want: DesiredSilence) -> DesiredSilence:
    """What to post to turn `silence` into `want`. An active silence with a clamped start keeps that
    start: Alertmanager updates a silence in place (same id) only when its matchers and, while it is
    active, its start are unchanged (silence/silence.go, `canUpdate`)."""
    if _clamped(silence, want) and _matchers(silence) == sorted(want.matchers):
        return dataclasses.replace(want, starts_at=_parse(silence["startsAt"]))
    return want


def _parse(time: str | datetime) -> datetime:
    return time if isinstance(time, datetime) else datetime.fromisoformat(time.replace("Z", "+00:00"))


def _milliseconds(time: str | datetime) -> datetime:
    """A time as Alertmanager's API returns it: to the millisecond."""
    parsed = _parse(time)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


@dataclass
class SilencePlan:
    create: list[DesiredSilence]
    update: list[tuple[str, DesiredSilence]]  # (existing id, new contents); adopted legacy silences too
    expire: list[str]  # ids
    keep: dict[str, str]  # marker → id of a silence already right
    adopted: list[str] = field(default_factory=list)  # ids of legacy silences taken over (in `update`)
    # marker → id of the cluster's silence that was expired or deleted outside AlertAgent (in `create`)
    recreated: dict[str, str] = field(default_factory=dict)


def plan_silences(
    cluster: str,
    desired: list[DesiredSilence],
    existing: Iterable[Mapping[str, Any]],
    selected: Collection[str] = (),
    known: Mapping[str, str] | None = None,
) -> SilencePlan:
    """The plan that makes `cluster`'s (`namespace/name`) silences in Alertmanager (`existing`: every
    silence, API v2 shape, expired ones included) what `desired` says. Only unexpired silences count;
    of those, only the cluster's own are updated or expired (duplicates of a window too), never another
    cluster's. Legacy silences (no cluster named) are adopted for a wanted window that has no silence of
    this cluster, or expired when their window is not wanted and their policy (`namespace/name`) is in
    `selected`, the policies this cluster selects. `known` (window marker → id) are the ids this cluster
    recorded last time: a wanted window whose silence is gone or expired is created again and listed
    in `recreated`. Deterministic: ids in sorted order."""
    known = known or {}
    every = {str(s.get("id")): s for s in existing}
    ours: dict[str, list[Mapping[str, Any]]] = {}
    legacy: dict[str, list[Mapping[str, Any]]] = {}
    for silence in every.values():
        owner = owner_of(silence)
        if owner is None or (silence.get("status") or {}).get("state") == "expired":
            continue
        if owner.cluster == cluster:
            ours.setdefault(owner.marker, []).append(silence)
        elif owner.cluster is None:
            legacy.setdefault(owner.marker, []).append(silence)
    plan = SilencePlan([], [], [], {})
    wanted = {d.marker: d for d in desired}
    for marker, silences in sorted(ours.items()):
        first, *duplicates = sorted(silences, key=lambda s: str(s["id"]))
        plan.expire += [str(s["id"]) for s in duplicates]
        if marker not in wanted:
            plan.expire.append(str(first["id"]))
        elif _same(first, wanted[marker]):
            plan.keep[marker] = str(first["id"])
        else:
            plan.update.append((str(first["id"]), _update(first, wanted[marker])))
    for marker, want in sorted(wanted.items()):
        if marker in ours:
            continue
        if marker in legacy:
            first = min(legacy[marker], key=lambda s: str(s["id"]))
            plan.update.append((str(first["id"]), _update(first, want)))
            plan.adopted.append(str(first["id"]))
            continue
        plan.create.append(want)
        before = known.get(marker)
        if before is not None and (every.get(before, {}).get("status") or {}).get("state", "expired") == "expired":
            plan.recreated[marker] = before
    for marker, silences in sorted(legacy.items()):
        if marker not in wanted and "/".join(marker.split("/", 2)[:2]) in selected:
            plan.expire += sorted(str(s["id"]) for s in silences)
    return plan


def expiries_on_delete(cluster: str, existing: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ids of the silences to expire when AlertmanagerCluster `cluster` (`namespace/name`) is deleted:
    the plan for no window at all, so only its own unexpired silences (`existing`: every silence, API v2
    shape); another cluster's and legacy ones (which name no cluster) stay. Sorted."""
    return sorted(plan_silences(cluster, [], existing).expire)
