"""The Alertmanager safety net (pure, the checker injected): render the merged alertmanager.yaml, have
the target's own tool check it, and when it refuses, leave out the channels and policies responsible
(found by checking parts alone, see `common.culprits`) so every other object is still rendered."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.culprits import find_culprits
from ..common.identity import ObjectRef
from .alertmanager import RenderedAlertmanager, render_alertmanager
from .receivers import SecretResolver

Member = NotificationChannel | SuppressionPolicy
ConfigCheck = Callable[[str], str | None]  # alertmanager.yaml text → the tool's message (None: accepted)


@dataclass(frozen=True)
class CheckedConfig:
    """The rendered file without its culprits; `culprits` maps each left out object to the tool's
    message; `error` is the tool's message on the final file (None: accepted)."""

    rendered: RenderedAlertmanager
    culprits: dict[ObjectRef, str]
    error: str | None
    kept: frozenset[ObjectRef] = frozenset()  # culprits whose last good version was rendered instead


def render_checked(
    cluster: AlertmanagerCluster,
    channels: Iterable[NotificationChannel],
    policies: Iterable[SuppressionPolicy],
    resolve_secret: SecretResolver,
    check: ConfigCheck,
    last_good: Mapping[ObjectRef, NotificationChannel | SuppressionPolicy] | None = None,
    **options: Any,
) -> CheckedConfig:
    """`render_alertmanager` (with `options`) checked by `check`. Checks O(k log n) parts for k
    culprits among n objects; a refusal that needs two objects together names no culprit and is
    returned as `error`. A culprit that was live (`last_good` holds the version last written) keeps
    that version, when the file with it passes: a broken edit never takes a working receiver away."""
    members: dict[ObjectRef, Member] = {ObjectRef.of(c): c for c in channels}
    members |= {ObjectRef.of(p): p for p in policies}

    def render(refs: Sequence[ObjectRef], using: Mapping[ObjectRef, Member] = members) -> RenderedAlertmanager:
        chosen = [using[r] for r in refs]
        return render_alertmanager(
            cluster,
            [m for m in chosen if isinstance(m, NotificationChannel)],
            [m for m in chosen if isinstance(m, SuppressionPolicy)],
            resolve_secret,
            **options,
        )

    rendered = render(list(members))
    error = check(rendered.text)
    if error is None:
        return CheckedConfig(rendered, {}, None)
    if (own := check(render([]).text)) is not None:
        return CheckedConfig(rendered, {}, own)  # the cluster's own settings are refused: blame no member
    culprits = find_culprits(list(members), lambda part: check(render(part).text))
    if not culprits:
        return CheckedConfig(rendered, culprits, error)
    rendered = render([r for r in members if r not in culprits])
    error = check(rendered.text)
    carried = {r: good for r in culprits if (good := (last_good or {}).get(r)) is not None and good != members[r]}
    if carried and error is None:
        with_last_good = {**members, **carried}
        trial = render([r for r in members if r not in culprits or r in carried], with_last_good)
        if check(trial.text) is None:
            return CheckedConfig(trial, culprits, None, frozenset(carried))
    return CheckedConfig(rendered, culprits, error)
