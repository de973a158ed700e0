"""Writing statuses: the status step of a cluster reconcile, the AlertRule status writer (batched,
see `state.RuleStatuses`) and the per-object writers of channels and policies. The per-object writers
are blocking (Kubernetes API calls): run them in threads; the AlertRule batch (`write_rule_statuses`)
runs on the event loop and writes through `state.api`."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..api.alertrule import RuleTargetStatus
from ..clients import memory, revisions
from ..clients.connection import ApiError
from ..common.hashing import content_hash
from ..common.identity import ObjectRef
from ..metrics import INVALID_OBJECTS
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
    ready_reason,
)
from ..render.validation import template_issues
from ..status import ShardReport
from .queue import Backoff, StepResult
from .state import OperatorState, StatusInputs

log = logging.getLogger(__name__)

TRIM_AFTER = 100  # objects in a status batch after which freed memory is returned to the OS

ReportsOf = Callable[[str], Iterable[ShardReport]]  # rule file name → what the shards say of it


def apply_patch(state: OperatorState, patch: StatusPatch, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Write a planned status, and post its Warning Event on the object. Returns the object as
    written (None: deleted meanwhile, and no Event)."""
    ref = patch.ref
    written = state.kube.patch_status(PLURALS[ref.kind], ref.namespace, ref.name, patch.status)
    if patch.warning is not None and written is not None:
        reason, message = patch.warning
        try:
            state.kube.post_event(written, "Warning", reason, message)
        except ApiError as err:  # the status says it all the same
            log.warning("Event %s on %s not posted: %s", reason, ref, err)
    return written


def write_rule_status(
    state: OperatorState,
    body: Mapping[str, Any],
    entry: IndexedRule,
    reports_of: ReportsOf,
    revision: int | None = None,
    announce: bool = False,
    world: World | None = None,
) -> bool:
    """Recompute an AlertRule's status from `body` (the object, or its `status.status_view`) and write
    it when it changed; the view kept for it then holds what was written. Returns whether it wrote."""
    patch = rule_status_patch(state, body, entry, reports_of, revision, announce, world)
    if patch is not None and (written := apply_patch(state, patch, body)) is not None:
        state.rule_statuses.written(written)
    return patch is not None


def rule_status_patch(
    state: OperatorState,
    body: Mapping[str, Any],
    entry: IndexedRule,
    reports_of: ReportsOf,
    revision: int | None = None,
    announce: bool = False,
    world: World | None = None,
) -> StatusPatch | None:
    """The status write an AlertRule needs (see `write_rule_status`), None when it says it already."""
    reports = list(reports_of(entry.file_name))
    was_stalled = {
        (t.get("cluster"), t.get("evaluator"), t.get("configHash"))
        for t in (body.get("status") or {}).get("targets") or []
        if t.get("state") == "Stalled"
    }

    def stalled(report: ShardReport) -> float | None:
        # The message gives the bound, not the time waited, so it does not change (and rewrite the
        # status) as time goes by. A target the status already shows stalled on this very file stays
        # so: after a restart the operator's clock starts again, and the status must not go back to
        # Pending and then to Stalled.
        again = report.pending and (report.cluster, report.evaluator, report.file_hash) in was_stalled
        return state.settings.pending_warn_seconds if again or state.stalled_for(report) is not None else None

    # A file the target's tool refused can also be in its shard as its last good version (still
    # loaded): the refusal comes first and stands for that target (`status.one_per_target`).
    targets = state.rejections.of(entry.file_name) + [target_of(r, stalled(r), world) for r in reports]
    # An expression only promql-parser refuses may be valid MetricsQL: once a vmalert loaded this very
    # file, each target says whether it loads it; until then the PromQL error stands.
    issues = () if _loaded_as_metricsql(entry, reports) else entry.issues
    placement = None
    if world is not None and entry.rule is not None:
        meta, spec = entry.rule.metadata, entry.rule.spec
        placement = world.place("AlertRule", entry.ref.namespace, meta.labels, spec.targets, spec.cluster_selector)
    return plan_rule_status(body, issues, targets, revision, announce, placement)


def unconfirmed(report: ShardReport, world: World | None) -> bool:
    """The report's evaluator has `reloadMode: None`: nothing reports on its shards (by design)."""
    cluster = world.clusters.get(report.cluster) if world is not None else None
    evaluators = (cluster.spec.rule_evaluators or []) if cluster is not None else []
    return any(e.name == report.evaluator and e.reload_mode == "None" for e in evaluators)


def target_of(report: ShardReport, stalled_after: float | None, world: World | None) -> RuleTargetStatus:
    """The target's state; under `reloadMode: None` the operator's part ends with the write: the rule
    is Synced as written, and says that its loading is not confirmed (never Pending, then Stalled)."""
    target = report.target_status(stalled_after)
    if target.state in ("Pending", "Stalled") and unconfirmed(report, world):
        note = "written; reloadMode None: loading is not confirmed"
        return target.model_copy(update={"state": "Synced", "message": note})
    return target


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


# The health probe and the status step both write a cluster's status, each from its own copy of the
# object, which can predate the other's write (its watch event still on its way): the Ready reason
# last written is kept in the cluster's record (`ClusterRecord.announced`, gone with the record when
# the cluster is deleted), so a stale copy never announces a reason twice.
_CLUSTER_WRITES = threading.Lock()


def write_cluster_status(state: OperatorState, key: str, body: Mapping[str, Any]) -> bool:
    """The cluster's status from its last probe and reconcile, written when it changed, with a Warning
    Event when Ready turns to another Failed reason (once per change of reason, not per probe);
    nothing until both happened once since start (so a restart never shows a half-known status).
    Returns whether it wrote; raises ApiError when the write fails."""
    record = state.clusters.get(key)  # none: deleted and forgotten meanwhile (a probe's late write)
    if record is None or record.health is None or not record.reconciled:
        return False
    with _CLUSTER_WRITES:
        patch = plan_cluster_status(
            body, record.health, record.rule_counts, record.errors, record.config, record.announced
        )
        if patch is None:  # the object already says it
            record.announced = ready_reason(body)
            return False
        apply_patch(state, patch, body)
        record.announced = ready_reason({"status": patch.status})
    return True


def refresh_objects(
    state: OperatorState,
    refs: Iterable[ObjectRef],
    rules: Mapping[ObjectRef, IndexedRule],
    reports_of: ReportsOf,
    announce: bool = False,
    world: World | None = None,
) -> tuple[int, set[ObjectRef]]:
    """Rewrite the status of these objects (with `announce`, AlertRules post their Warning Event for
    validation errors too): AlertRules from their last view (`state.RuleStatuses`), others, and rules
    never seen, from a fresh read. One failing object never stops the others. Returns the number
    written and the objects that failed (to retry)."""
    writes, failed = 0, set()
    for ref in sorted(refs):
        try:
            view = state.rule_statuses.view(ref) if ref.kind == "AlertRule" else None
            if ref.kind == "AlertRule" and view is not None and ref in rules:
                revision = _revision(state, view)
                writes += write_rule_status(state, view, rules[ref], reports_of, revision, announce, world)
                continue
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


def _revision(state: OperatorState, view: Mapping[str, Any]) -> int | None:
    meta = view["metadata"]
    known = state.revisions.get((meta["namespace"], meta["name"], meta.get("uid", "")))
    return known[1] if known is not None and known[0] == meta.get("generation") else None


async def refresh_in_thread(
    state: OperatorState,
    refs: Iterable[ObjectRef],
    inputs: Callable[[], StatusInputs],
) -> None:
    """For event handlers: AlertRules are marked for the status writer; the status of channels and
    policies is rewritten off the event loop (those it could not write are held, and written by the
    next reconcile). `inputs` copies what statuses are computed from (called on the event loop)."""
    refs = set(refs)
    state.rule_statuses.mark({r for r in refs if r.kind == "AlertRule"}, inputs)
    if members := {r for r in refs if r.kind != "AlertRule"}:
        now = inputs()
        _written, failed = await asyncio.to_thread(
            refresh_objects, state, members, now.rules, lambda f: now.reports.get(f, []), False, now.world
        )
        state.held |= failed


async def write_rule_statuses(
    state: OperatorState, refs: Iterable[ObjectRef], current: Callable[[], StatusInputs]
) -> tuple[set[ObjectRef], set[ObjectRef]]:
    """The status writer's batch, on the event loop: the revisions of new specs first (statuses name
    them), then every marked AlertRule from its view; those deleted meanwhile are skipped, those whose
    new file awaits its sidecar's report are held (see `ShardReport.awaiting_load`). Writes go out
    `state.api.limit` at a time. Returns the objects that could
    not be written and those held."""
    refs = set(refs)
    await record_revisions(state, refs)
    # Copied only now: recording thousands of revisions takes seconds, in which a reconcile may write
    # the shards; statuses from an older copy said "waiting to be written" and were rewritten at once.
    inputs = current()
    now, hold = time.monotonic(), state.settings.status_sync_hold_seconds
    rules = {ref: inputs.rules[ref] for ref in refs if ref in inputs.rules}  # gone from the index: deleted
    held = {
        ref
        for ref, rule in rules.items()
        if any(
            r.awaiting_load(now, hold) and not unconfirmed(r, inputs.world)
            for r in inputs.reports.get(rule.file_name, [])
        )
        or _awaiting_write(state, rule, inputs)
    }
    views = state.rule_statuses.views
    unseen = {ref for ref in rules if ref not in held and ref not in views}  # never seen: read, in a thread
    failed: set[ObjectRef] = set()

    async def write(ref: ObjectRef) -> None:
        view = state.rule_statuses.view(ref)
        if view is None:  # deleted since the batch began
            return
        try:
            patch = rule_status_patch(
                state, view, rules[ref], lambda f: inputs.reports.get(f, []), _revision(state, view), True, inputs.world
            )
            if patch is None:
                return
            written = await state.api.patch_status(PLURALS["AlertRule"], ref.namespace, ref.name, patch.status)
            if written is None:
                return
            state.rule_statuses.written(written)
            if patch.warning is not None:
                await _post_warning(state, written, patch.warning)
        except Exception as err:
            log.warning("status of %s not written, will retry: %s", ref, err)
            failed.add(ref)

    await state.api.each([ref for ref in sorted(rules) if ref not in held and ref not in unseen], write)
    if unseen:
        _written, not_written = await asyncio.to_thread(
            refresh_objects, state, unseen, inputs.rules, lambda f: inputs.reports.get(f, []), True, inputs.world
        )
        failed |= not_written
    INVALID_OBJECTS.labels("AlertRule").set(sum(not e.valid for e in inputs.rules.values()))
    return failed, held


async def _post_warning(state: OperatorState, about: dict[str, Any], warning: tuple[str, str]) -> None:
    reason, message = warning
    try:
        await state.api.post_event(about, "Warning", reason, message)
    except ApiError as err:  # the status says it all the same
        log.warning("Event %s on %s not posted: %s", reason, ObjectRef.of(about), err)


async def record_revisions(state: OperatorState, refs: Iterable[ObjectRef]) -> None:
    """Record the new specs of these AlertRules as revisions (`clients.revisions`): a new object's
    first spec with one create on the loop, anything else in a thread. One that fails is logged and
    its status written without the new number (its next change records it)."""
    unrecorded = state.rule_statuses.unrecorded

    async def record(item: tuple[ObjectRef, dict[str, Any]]) -> None:
        ref, body = item
        try:
            if not await revisions.record_first(state.api, state.revisions, body):
                await asyncio.to_thread(revisions.record, state.kube, state.revisions, body)
        except Exception as err:
            log.warning("revision of AlertRule %s not recorded: %s", ref, err)
        if unrecorded.get(ref) is body:
            del unrecorded[ref]

    await state.api.each([(ref, unrecorded[ref]) for ref in sorted(refs) if ref in unrecorded], record)


def _awaiting_write(state: OperatorState, rule: IndexedRule, inputs: StatusInputs) -> bool:
    """A cluster that selects the rule has no report of its file yet and is about to reconcile (a long
    burst of objects), or has just written shards the index does not show yet (thousands of rules):
    its status would say "waiting for the cluster" only to be rewritten then."""
    if inputs.world is None or rule.rule is None:
        return False
    meta, spec = rule.rule.metadata, rule.rule.spec
    placed = inputs.world.place("AlertRule", rule.ref.namespace, meta.labels, spec.targets, spec.cluster_selector)
    written = {r.cluster for r in inputs.reports.get(rule.file_name, [])}
    waiting = [cluster for cluster in placed.selecting if cluster not in written]
    return any(state.queue.busy(cluster) or state.shards_unseen(cluster) for cluster in waiting)


async def rule_status_writer(state: OperatorState) -> None:
    """Write marked AlertRule statuses in batches (see `state.RuleStatuses`): once no cluster reconcile
    has been pending or under way for `status_batch_seconds` (waiting at most `status_batch_max_seconds`
    after the first mark of a batch), once the operator is primed; failed writes are retried with
    backoff. Runs until cancelled."""
    statuses, settings = state.rule_statuses, state.settings
    backoff, attempt = Backoff(settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_jitter), 0
    loop = asyncio.get_running_loop()
    while True:
        await statuses.wake.wait()
        # Wait until no reconcile has been pending or under way for `status_batch_seconds` (their
        # ConfigMap writes change what the statuses say), at most `status_batch_max_seconds`.
        quiet, deadline = settings.status_batch_seconds, loop.time() + settings.status_batch_max_seconds
        last_busy = loop.time()
        while loop.time() < deadline and loop.time() - last_busy < quiet:
            await asyncio.sleep(quiet / 3)
            if state.queue.busy():
                last_busy = loop.time()
        statuses.wake.clear()
        if not state.primed_once or statuses.inputs is None:
            continue  # priming marks every object again
        refs, statuses.dirty = statuses.dirty, set()
        failed, held = await write_rule_statuses(state, refs, statuses.inputs)
        if held:  # their sidecar's report marks them again; if it never comes, the hold runs out
            loop.call_later(settings.status_sync_hold_seconds, statuses.mark, held, statuses.inputs)
        if len(refs) >= TRIM_AFTER:  # a start or a burst: give its garbage back to the OS
            await asyncio.to_thread(memory.trim)
        if failed:
            attempt += 1
            statuses.mark(failed, statuses.inputs)
            await asyncio.sleep(backoff.delay(attempt))
        else:
            attempt = 0


def status_step(
    state: OperatorState,
    key: str,
    body: Mapping[str, Any],
    reports_of: ReportsOf,
    announce: bool = False,
    world: World | None = None,
) -> StepResult:
    """The cluster's own status, then (once the operator is primed) the channels and policies whose
    status the other steps changed (AlertRules go to the status writer). Objects that could not be
    written stay pending and fail the step (retried)."""
    record = state.cluster(key)
    writes = int(write_cluster_status(state, key, body))
    if state.primed_once and record.refresh:
        pending, record.refresh = record.refresh, set()
        written, failed = refresh_objects(state, pending, {}, reports_of, announce, world)
        writes += written
        if failed:
            record.refresh |= failed
            return StepResult("status", error=f"{len(failed)} status writes failed", retry=True, writes=writes)
    return StepResult("status", writes=writes)
