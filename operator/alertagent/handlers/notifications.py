"""NotificationChannel and SuppressionPolicy wiring: indexes of the parsed objects, and pokes to the
cluster reconcilers when one changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kopf
from pydantic import ValidationError

from ..api.base import GROUP, VERSION
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..render.validation import describe, schema_issues
from .triggers import TRIGGERS


@dataclass(frozen=True)
class Parsed:
    model: NotificationChannel | SuppressionPolicy | None
    errors: tuple[str, ...]


def parse(kind: type[NotificationChannel] | type[SuppressionPolicy], body: kopf.Body) -> Parsed:
    try:
        return Parsed(kind.model_validate(dict(body)), ())
    except ValidationError as err:
        return Parsed(None, tuple(describe(i) for i in schema_issues(err)))


@kopf.index(GROUP, VERSION, "notificationchannels")
def channel_index(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], Parsed]:
    return {(namespace, name): parse(NotificationChannel, body)}


@kopf.index(GROUP, VERSION, "suppressionpolicies")
def policy_index(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], Parsed]:
    return {(namespace, name): parse(SuppressionPolicy, body)}


@kopf.on.event(GROUP, VERSION, "notificationchannels")
async def channel_changed(type: str, body: kopf.Body, **_: Any) -> None:
    TRIGGERS.poke_all_on_change("NotificationChannel", type, body)


@kopf.on.event(GROUP, VERSION, "suppressionpolicies")
async def policy_changed(type: str, body: kopf.Body, **_: Any) -> None:
    TRIGGERS.poke_all_on_change("SuppressionPolicy", type, body)


def models(index: Any) -> list[Any]:
    """The valid objects of an index."""
    return [entry.model for entries in index.values() for entry in entries if entry.model is not None]
