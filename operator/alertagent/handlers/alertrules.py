"""AlertRule wiring: an index of parsed rules, validation into status and Events, and pokes to the
cluster reconcilers on every change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kopf

from .. import revisions
from ..api.alertrule import AlertRule, ValidationIssue
from ..api.base import GROUP, VERSION
from ..metrics import INVALID_OBJECTS
from ..render.rules import render_rule_file
from ..render.validation import parse_alert_rule
from . import shards
from .triggers import TRIGGERS


@dataclass(frozen=True)
class IndexedRule:
    rule: AlertRule | None  # None when the schema check failed (e.g. CRDs older than the operator)
    issues: tuple[ValidationIssue, ...]
    rule_file: str | None  # rendered once per change, so a reconcile only packs

    @property
    def valid(self) -> bool:
        return self.rule is not None and not self.issues


@kopf.index(GROUP, VERSION, "alertrules")
def alertrule_index(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], IndexedRule]:
    rule, issues = parse_alert_rule(dict(body))
    rendered = render_rule_file(rule) if rule is not None and not issues else None
    return {(namespace, name): IndexedRule(rule, tuple(issues), rendered)}


@kopf.on.event(GROUP, VERSION, "alertrules")
async def poke_clusters(type: str, body: kopf.Body, alertrule_index: kopf.Index[Any, IndexedRule], **_: Any) -> None:
    if TRIGGERS.poke_all_on_change("AlertRule", type, body):
        INVALID_OBJECTS.labels("AlertRule").set(sum(not r.valid for rs in alertrule_index.values() for r in rs))


@kopf.on.event(GROUP, VERSION, "alertrules")
def sync_status(body: kopf.Body, type: str, **_: Any) -> None:
    """Level-based: after any change (spec, or a status write of our own) record the spec as a
    revision if it is new, recompute the status and write it when it differs. A Warning Event goes
    out when the validation errors change."""
    if type == "DELETED":
        revisions.forget(body.metadata.namespace, body.metadata.name)
        return
    shards.write_rule_status(dict(body), announce=True, revision=revisions.record(dict(body)))
