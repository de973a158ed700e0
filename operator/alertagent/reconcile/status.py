"""Writing statuses: the status step of a cluster reconcile, and the per-object writers the event
handlers call. Blocking (Kubernetes API calls): run in threads or sync handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from ..common.hashing import content_hash
from ..common.identity import ObjectRef
from ..plans.alertmanager import IndexedObject, index_object
from ..plans.placement import World
from ..plans.rules import IndexedRule, index_alert_rule
from ..plans.status import (
    PLURALS,
    StatusPatch,
    member_kind,
    plan_cluster_status,
    plan_member_status,
    plan_rule_status,
)
from ..render.validation import template_issues
from ..status import ShardReport
from .queue import StepResult
from .state import OperatorState

log = logging.getLogger(__name__)

ReportsOf = Callable[[str], Iterable[ShardReport]]  # rule file name → what the shards say of it


def apply_patch(state: OperatorState, patch: StatusPatch, body: Mapping[str, Any]) -> None:
    """Write a planned status, and post its Warning Event (through Kopf, on the object)."""
    ref = patch.ref
    state.kube.patch_status(PLURALS[ref.kind], ref.namespace, ref.name, patch.status)
    if patch.warning is not None:
        reason, message = patch.warning
        kopf.warn(dict(body), reason=reason, message=message)


def write_rule_status(
    state: OperatorState,
    body: Mapping[str, Any],
    entry: IndexedRule,
    reports_of: ReportsOf,
    revision: int | None = None,
    announce: bool = False,
    world: World | None = None,
) -> bool:
    """Recompute an AlertRule's status and write it when it changed. Returns whether it wrote."""
    reports = list(reports_of(entry.file_name))
    targets = [r.target_status(state.stalled_for(r)) for r in reports] + state.rejections.of(entry.file_name)
    # An expression only promql-parser refuses may be valid MetricsQL: once a vmalert loaded this very
    # file, each target says whether it loads it; until then the PromQL error stands.
    issues = () if _loaded_as_metricsql(entry, reports) else entry.issues
    placement = None
    if world is not None and entry.rule is not None:
        meta, spec = entry.rule.metadata, entry.rule.spec
        placement = world.place("AlertRule", entry.ref.namespace, meta.labels, spec.targets, spec.cluster_selector)
    patch = plan_rule_status(body, issues, targets, revision, announce, placement)
    if patch is not None:
        apply_patch(state, patch, body)
    return patch is not None


def _loaded_as_metricsql(entry: IndexedRule, reports: list[ShardReport]) -> bool:
    if not entry.metricsql_candidate or entry.rule_file is None:
        return False
    rendered = {content_hash({entry.file_name: text}) for text in entry.rendered_files}  # with tenant labels too
    return any(r.file_hash in rendered and r.target_status().state == "Synced" for r in reports)


def write_member_status(
    state: OperatorState, body: Mapping[str, Any], entry: IndexedObject | None = None, world: World | None = None
) -> bool:
    """Recompute a NotificationChannel's or SuppressionPolicy's status; write it when it changed."""
    ref = ObjectRef.of(body)
    entry = entry or index_object(member_kind(ref), body)
    patch = plan_member_status(entry, body, state.memberships, datetime.now(UTC), world)
    if patch is not None:
        apply_patch(state, patch, body)
    return patch is not None


def write_cluster_status(state: OperatorState, key: str, body: Mapping[str, Any]) -> bool:
    """The cluster's status from its last probe and reconcile; nothing until both happened once since
    start (so a restart never shows a half-known status)."""
    record = state.cluster(key)
    if record.health is None or not record.reconciled:
        return False
    patch = plan_cluster_status(body, record.health, record.rule_counts, record.errors, record.config)
    if patch is not None:
        state.kube.patch_status(PLURALS["AlertmanagerCluster"], patch.ref.namespace, patch.ref.name, patch.status)
    return patch is not None


def refresh_objects(
    state: OperatorState,
    refs: Iterable[ObjectRef],
    rules: Mapping[ObjectRef, IndexedRule],
    reports_of: ReportsOf,
    announce: bool = False,
    world: World | None = None,
) -> tuple[int, set[ObjectRef]]:
    """Rewrite the status of these objects from a fresh read (with `announce`, AlertRules post their
    Warning Event for validation errors too). One failing object never stops the others. Returns the
    number written and the objects that failed (to retry)."""
    writes, failed = 0, set()
    for ref in sorted(refs):
        try:
            body = state.kube.get_object(PLURALS[ref.kind], ref.namespace, ref.name)
            if body is None:
                continue
            if ref.kind == "AlertRule":
                entry = rules.get(ref) or index_alert_rule(body, template_issues)  # created since the inputs
                writes += write_rule_status(state, body, entry, reports_of, announce=announce, world=world)
            else:
                writes += write_member_status(state, body, world=world)
        except Exception as err:
            log.warning("status of %s not written, will retry: %s", ref, err)
            failed.add(ref)
    return writes, failed


async def refresh_in_thread(
    state: OperatorState,
    refs: Iterable[ObjectRef],
    rules: Mapping[ObjectRef, IndexedRule],
    reports: Mapping[str, Iterable[ShardReport]],
    world: World | None = None,
) -> None:
    """`refresh_objects` off the event loop, for event handlers: the objects it could not write are
    held, and written by the next reconcile. `reports` maps rule file → what the shards say of it."""
    _written, failed = await asyncio.to_thread(
        refresh_objects, state, set(refs), rules, lambda f: reports.get(f, []), False, world
    )
    state.held |= failed


def status_step(
    state: OperatorState,
    key: str,
    body: Mapping[str, Any],
    rules: Mapping[ObjectRef, IndexedRule],
    reports_of: ReportsOf,
    announce: bool = False,
    world: World | None = None,
) -> StepResult:
    """The cluster's own status, then (once the operator is primed) the objects whose status the
    other steps changed. Objects that could not be written stay pending and fail the step (retried)."""
    record = state.cluster(key)
    writes = int(write_cluster_status(state, key, body))
    if state.primed_once and record.refresh:
        pending, record.refresh = record.refresh, set()
        written, failed = refresh_objects(state, pending, rules, reports_of, announce, world)
        writes += written
        if failed:
            record.refresh |= failed
            return StepResult("status", error=f"{len(failed)} status writes failed", retry=True, writes=writes)
    return StepResult("status", writes=writes)
