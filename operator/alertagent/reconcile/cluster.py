"""One reconcile of one cluster: the due steps in order (rules, Alertmanager config, silences), each
in a thread and each on its own (one failing never stops the next), then the status step. Returns the
steps' results for the work queue, which retries the failed ones (see `queue`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from ..common.identity import ObjectRef
from ..metrics import RECONCILE_DURATION, RECONCILE_TOTAL
from ..plans.rules import IndexedRule
from ..status import ShardReport
from . import operator_mode
from .queue import StepResult
from .state import OperatorState
from .status import status_step
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
    reports: Mapping[str, list[ShardReport]],
    cluster_keys: list[str],
) -> list[StepResult]:
    """Run the due `steps` of one cluster; `reports` are the shard reports by rule file and
    `cluster_keys` every cluster there is (both copied from the indexes on the event loop)."""
    started = time.monotonic()
    record = state.cluster(inputs.key)
    results = []
    for step in STEP_FUNCTIONS:
        if step not in steps:
            continue
        outcome = await _run(step, state, inputs)
        record.refresh |= outcome.refresh
        results.append(outcome.result)
        if outcome.result.retry and outcome.result.error:
            record.errors[step] = outcome.result.error
        else:
            record.errors.pop(step, None)
        if step == "rules" and outcome.result.ok:
            operator_mode.start(state, inputs.key, record.operator_mode)
    rules: dict[ObjectRef, IndexedRule] = {r.ref: r for r in inputs.rules}
    if not state.primed_once and state.primed(cluster_keys):
        # Statuses held back while clusters were reconciling for the first time are written now.
        state.primed_once = True
        record.refresh |= set(rules) | {e.ref for e in (*inputs.channels, *inputs.policies)}
    try:
        status = await asyncio.to_thread(
            status_step, state, inputs.key, inputs.body, rules, lambda f: reports.get(f, []), state.primed_once
        )
    except Exception as err:
        log.warning("status of %s not written, will retry: %s", inputs.key, err)
        status = StepResult("status", error=f"{err.__class__.__name__}: {err}", retry=True)
    results.append(status)
    failed = any(r.retry and not r.ok for r in results)
    RECONCILE_TOTAL.labels("AlertmanagerCluster", "error" if failed else "ok").inc()
    RECONCILE_DURATION.labels("AlertmanagerCluster").observe(time.monotonic() - started)
    return results
