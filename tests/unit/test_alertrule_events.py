"""AlertRule watch events, as `handlers.resync` hands them to `handlers.alertrules.take_event` (Kopf's
per-object processing is skipped for them): the rule index, the clusters' reconcile and the status
writer's queue."""

from __future__ import annotations

import copy
from typing import Any

from alertagent.common.identity import ObjectRef
from alertagent.handlers.alertrules import take_event
from alertagent.reconcile.queue import Backoff, WorkQueue
from alertagent.reconcile.state import OperatorState, StatusInputs
from alertagent.settings import Settings

REF = ObjectRef("AlertRule", "team", "cpu")


def rule(generation: int = 1, expr: str = "up == 0", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertRule",
        "metadata": {"name": "cpu", "namespace": "team", "uid": "u1", "generation": generation, **meta},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]},
    }


CLUSTER = "team/main"


def fresh_state() -> OperatorState:
    """A state with one cluster whose first reconcile has run (nothing due)."""
    state = OperatorState(settings=Settings(), kube=None, queue=WorkQueue(1.0, 30.0, Backoff()), api=None)  # type: ignore[arg-type]
    state.queue.register(CLUSTER)
    steps, _wait = state.queue.take_due(CLUSTER)
    state.queue.done(CLUSTER, [])
    assert steps and not state.queue.busy()
    return state


def due(state: OperatorState) -> frozenset[str]:
    return state.queue.take_due(CLUSTER)[0]


def live() -> StatusInputs:
    return StatusInputs({}, {}, None)


def take(state: OperatorState, event_type: str | None, body: dict[str, Any], clusters: list[str] | None = None) -> None:
    take_event(state, lambda: clusters or [], live, {"type": event_type, "object": body})


def test_a_listed_rule_is_indexed_without_making_a_reconcile_due() -> None:
    """The first listing after a start is not a change: each cluster's first reconcile renders it."""
    state = fresh_state()
    take(state, None, rule(), ["team/main"])
    (entry,) = state.rule_entries()
    assert entry.ref == REF and entry.valid and "up == 0" in (entry.rule_file or "")
    assert not state.queue.busy()
    assert REF in state.rule_statuses.dirty  # its spec has no recorded revision yet
    assert state.rule_statuses.unrecorded[REF]["metadata"]["generation"] == 1


def test_a_new_spec_is_indexed_again_and_every_cluster_reconciles() -> None:
    state = fresh_state()
    take(state, None, rule())
    state.primed_once = True
    take(state, "MODIFIED", rule(generation=2, expr="up == 1"))
    (entry,) = state.rule_entries()
    assert "up == 1" in (entry.rule_file or "")
    assert due(state) == {"rules", "status"}


def test_a_status_only_event_reuses_the_entry_and_reconciles_nothing() -> None:
    state = fresh_state()
    take(state, None, rule())
    state.primed_once = True
    (before,) = state.rule_entries()
    take(state, "MODIFIED", {**rule(), "status": {"ruleCount": 1}})
    (after,) = state.rule_entries()
    assert after is before and not state.queue.busy()


def test_a_deleted_rule_leaves_the_index_and_the_status_writer() -> None:
    state = fresh_state()
    take(state, None, rule())
    state.primed_once = True
    take(state, "DELETED", rule())
    assert state.rule_entries() == () and REF not in state.rules
    assert REF not in state.rule_statuses.unrecorded and REF not in state.rule_statuses.views
    assert due(state) == {"rules", "status"}  # every cluster renders without it


def test_an_invalid_rule_is_indexed_with_its_issues_and_the_body_is_left_as_it_was() -> None:
    state = fresh_state()
    body = rule(expr="sum(")
    kept = copy.deepcopy(body)
    take(state, None, body)
    (entry,) = state.rule_entries()
    assert not entry.valid and "invalid PromQL" in entry.issues[0].message
    assert body == kept


def test_a_rule_listed_before_kopfs_indexes_are_complete_primes_nothing() -> None:
    """AlertRules are taken as their listing streams in, maybe before the AlertmanagerClusters' is
    indexed: an empty cluster index then is not "no cluster" (member statuses written before the
    first reconcile would regress: `test_after_a_restart_no_status_regresses`)."""
    state = fresh_state()
    take(state, None, rule(), clusters=[])
    assert not state.primed_once
    state.indexes_complete = True
    take(state, "MODIFIED", rule(), clusters=["team/main"])
    assert not state.primed_once  # the cluster has not reconciled since the start
    take(state, "MODIFIED", rule(), clusters=[])
    assert state.primed_once  # no cluster at all: ready
