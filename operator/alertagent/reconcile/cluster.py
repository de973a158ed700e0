"""One reconcile of one cluster: the due steps in order (rules, Alertmanager config, silences), each
in a thread and each on its own (one failing never stops the next), then the status step. Returns the
steps' results for the work queue, which retries the failed ones (see `queue`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from ..api.alertmanagercluster import TargetHealth
from ..common.identity import ObjectRef
from ..metrics import CLUSTER_HEALTH, RECONCILE_DURATION, RECONCILE_TOTAL
from . import operator_mode
from .queue import StepResult
from .state import ClusterRecord, OperatorState, StatusInputs
from .status import refresh_in_thread, status_step
from .steps import ClusterInputs, Outcome, alertmanager_step, rules_step, silences_step

log = logging.getLogger(__name__)

STEP_FUNCTIONS: dict[str, Callable[[OperatorState, ClusterInputs], Outcome]] = {
    "rules": rules_step,
    "alertmanager": alertmanager_step,
    "silences": silences_step,
}


async def _run(step: str, state: OperatorState, inputs: ClusterInputs) -> Outcome:
    try:
        return await asyncio.to_thread(STEP_FUNCTIONS[step], state, inputs)
    except Exception as err:  # the contract: an exception is a retryable failure of this step alone
        log.warning("step %s of %s failed, will retry: %s", step, inputs.key, err)
        return Outcome(StepResult(step, error=f"{err.__class__.__name__}: {err}", retry=True))


async def reconcile_cluster(
    state: OperatorState,
    inputs: ClusterInputs,
    steps: Iterable[str],
    live: Callable[[], StatusInputs],
    cluster_keys: list[str],
) -> list[StepResult]:
    """Run the due `steps` of one cluster. `live` copies what statuses are computed from out of the
    indexes (called on the event loop, after the steps: their own writes are in it); `cluster_keys`
    are every cluster there is. AlertRule statuses go to the status writer; the cluster's, its
    channels' and policies' are written by the status step."""
    started = time.monotonic()
    record = state.cluster(inputs.key)
    results = []
    for step in STEP_FUNCTIONS:
        if step not in steps:
            continue
        outcome = await _run(step, state, inputs)
        record.refresh |= outcome.refresh
        results.append(outcome.result)
        _note(record.errors, outcome.result)
        if step == "rules" and outcome.result.ok:
            operator_mode.start(state, inputs.key, record.operator_mode)
    record.reconciled = True  # every step has run once: failed or not, its outcome is in the record
    announce = False
    if state.primed(cluster_keys) and (state.held or not state.flushed):
        # Statuses held back while clusters were reconciling for the first time are written now (all
        # of them, once; only those that differ), with the Warning Events their events would have posted.
        if not state.flushed:
            record.refresh |= {r.ref for r in inputs.rules} | {e.ref for e in (*inputs.channels, *inputs.policies)}
            state.flushed = True
        record.refresh |= state.held
        state.held.clear()
        announce = True
    rule_refs = {ref for ref in record.refresh if ref.kind == "AlertRule"}
    state.rule_statuses.mark(rule_refs, live)
    record.refresh -= rule_refs
    by_file = live().reports if record.refresh else {}  # read only for the objects refreshed (a copy of every index)
    try:
        status = await asyncio.to_thread(
            status_step,
            state,
            inputs.key,
            inputs.body,
            lambda f: by_file.get(f, []),
            announce,
            inputs.world,
        )
    except Exception as err:
        log.warning("status of %s not written, will retry: %s", inputs.key, err)
        status = StepResult("status", error=f"{err.__class__.__name__}: {err}", retry=True)
    _note(record.errors, status)
    results.append(status)
    failed = any(r.retry and not r.ok for r in results)
    RECONCILE_TOTAL.labels("AlertmanagerCluster", "error" if failed else "ok").inc()
    RECONCILE_DURATION.labels("AlertmanagerCluster").observe(time.monotonic() - started)
    return results


PERIODIC = ("alertmanager", "silences", "status")  # what a health probe runs again every time


def periodic_steps(
    record: ClusterRecord,
    health: list[TargetHealth],
    now: float,
    rules_every: float,
    alertmanager_started: str | None = None,
) -> tuple[str, ...]:
    """The steps a health probe makes due (and notes the probe's `alertmanager_started` in `record`).

    - alertmanager and status: every time (Secrets are re-read, windows move with time);
    - silences: every time, except while its last run had nothing to keep in line for the policies
      the cluster's config selects now (no window open or to come, no silence of its own) and the
      Alertmanager has not restarted since (a restart can lose silences, or bring back ones expired
      since its last snapshot);
    - rules (with thousands of rules the costly one, and driven by changes anyway): only when an
      evaluator's version changed (it decides which fields and functions it gets);
    - rules and silences both every `rules_every` seconds, to repair what was changed by hand.

    `now` is monotonic seconds."""
    restarted = alertmanager_started is not None and alertmanager_started != record.alertmanager_started
    if alertmanager_started is not None:
        record.alertmanager_started = alertmanager_started
    versions = {t.name: t.version for t in health if t.type in ("prometheus", "vmalert")}
    before = {t.name: t.version for t in record.health or [] if t.type in ("prometheus", "vmalert")}
    resync = record.health is None or versions != before or now - record.rules_resynced >= rules_every
    config = record.config
    idle = config is not None and record.silences_idle_for == config.policies and not restarted
    steps = tuple(s for s in PERIODIC if not (s == "silences" and idle and not resync))
    if not resync:
        return steps
    record.rules_resynced = now
    return (*steps, "rules")


def _note(errors: dict[str, str], result: StepResult) -> None:
    """Keep the error of a step that failed and will be retried (it goes to the cluster's status)."""
    if result.retry and result.error:
        errors[result.step] = result.error
    else:
        errors.pop(result.step, None)


async def forget_cluster(state: OperatorState, key: str, uid: str | None, live: Callable[[], StatusInputs]) -> None:
    """A deleted cluster (`key` "namespace/name", `uid` its metadata.uid): drop what it rendered and
    its health metrics, and rewrite the status of the objects that named it (channels and policies
    list their clusters; rules their targets). `live` copies what statuses are computed from out of
    the indexes. A health probe still in flight (Kopf lets a running timer finish) sees the uid in
    `state.deleted_clusters` and records nothing."""
    record = state.forget_cluster(key, uid)
    for target in (record.health or []) if record else []:
        with contextlib.suppress(KeyError):
            CLUSTER_HEALTH.remove(key, target.name)
    changed: set[ObjectRef] = state.memberships.forget_cluster(key)
    files = state.rejections.forget_cluster(key)
    state.left_out.forget_cluster(key)
    changed |= {ref for ref, rule in live().rules.items() if rule.file_name in files}
    await refresh_in_thread(state, changed, live)
