"""AlertRule wiring: the rule index (`OperatorState.rules`: each rule parsed, validated and rendered
once per spec), revisions, and a change marks every cluster's reconcile due and the rule's status for
the status writer.

AlertRule events skip Kopf's per-object processing: `handlers.resync` hands each one, as its watch
stream delivers it, to `take_event` (a worker, a task and two handler invocations per object cost
~0.3 ms each, most of a restart's work with hundreds of AlertRules). Kopf still lists and watches
AlertRules, for the index registered here, and holds every handler until their listing is complete,
by which time every listed rule is in the index: a cluster's first reconcile renders them all. Against
a Kopf whose watch streams cannot be wrapped (`resync.install` logs it), the same two steps run as
that index handler and an on-event handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP, VERSION
from ..clients import revisions
from ..common.identity import ObjectRef
from ..plans.rules import index_alert_rule
from ..reconcile.state import OperatorState, StatusInputs
from ..render.validation import template_issues
from ..settings import Settings
from ..status import ShardReport
from . import resync
from .memo import state_of, status_inputs

log = logging.getLogger(__name__)

STEPS = ("rules", "status")  # what an AlertRule feeds (alertmanager.yaml and silences never read rules)


def _index_key(meta: dict[str, Any]) -> tuple[Any, ...]:
    """What an index entry is made from besides the spec: a status write (or any event that changes
    none of these) reuses the entry instead of parsing and rendering the rule again."""
    labels = tuple(sorted((meta.get("labels") or {}).items()))
    annotations = tuple(sorted((meta.get("annotations") or {}).items()))
    return meta.get("uid"), meta.get("generation"), labels, annotations


def index(state: OperatorState, body: dict[str, Any]) -> None:
    """Put a listed, added or modified AlertRule in the rule index (parsed again only when its spec,
    labels or annotations changed)."""
    ref, key = ObjectRef.of(body, "AlertRule"), _index_key(body.get("metadata") or {})
    known = state.rules.get(ref)
    if known is None or known[0] != key:
        state.rule_seq += 1
        state.rules[ref] = (key, index_alert_rule(body, dialect_check=template_issues), state.rule_seq)


def changed(
    state: OperatorState,
    event_type: str | None,
    body: dict[str, Any],
    cluster_keys: list[str],
    live: Callable[[], StatusInputs],
) -> None:
    """Level-based, after `index`: a change of spec or labels makes every cluster reconcile; any event
    whose status is not the one last written (or a spec change) marks the status for the writer. A
    new spec is recorded as a revision first. `event_type` is Kopf's (None: listed); `cluster_keys`
    are the clusters in Kopf's index (every cluster there is once `state.indexes_complete`); `live`
    copies what statuses are computed from."""
    meta = body["metadata"]
    ref = ObjectRef.of(body, "AlertRule")
    spec_changed = state.change_seen(ref, event_type, meta)
    if spec_changed:
        state.queue.add_all(STEPS)
    if event_type == "DELETED":
        revisions.forget(state.revisions, ref.namespace, ref.name)
        state.rule_statuses.forget(ref)
        state.rules.pop(ref, None)
        return
    outside_write = state.rule_statuses.seen(body)
    if state.indexes_complete:  # before, the clusters there are are not all known yet
        state.primed(cluster_keys)
    if not revisions.known(state.revisions, body):
        # Recorded by the status writer, once the burst it may be part of is over.
        kept = {k: meta[k] for k in ("name", "namespace", "uid", "generation") if k in meta}
        state.rule_statuses.unrecorded[ref] = {"metadata": kept, "spec": dict(body.get("spec") or {})}
        spec_changed = True
    if spec_changed or outside_write:
        state.rule_statuses.mark([ref], live)


def take_event(
    state: OperatorState,
    cluster_keys: Callable[[], list[str]],
    live: Callable[[], StatusInputs],
    event: dict[str, Any],
) -> None:
    """One raw AlertRule watch event (`{"type": None | "ADDED" | "MODIFIED" | "DELETED", "object":
    body}`), as `handlers.resync` takes it from the stream."""
    event_type, body = event["type"], event["object"]
    if event_type != "DELETED":
        index(state, body)
    changed(state, event_type, body, cluster_keys(), live)


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.on.startup(registry=registry, id="take_alertrule_events")
    def take_alertrule_events(
        settings: kopf.OperatorSettings,
        memo: kopf.Memo,
        rule_shard_index: kopf.Index[str, ShardReport],
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        namespace_labels: kopf.Index[str, dict[str, str]],
        **_: Any,
    ) -> None:
        """Before any watch starts. Kopf's indexes are live views: these stay current."""
        state = state_of(memo)
        live = status_inputs(state, rule_shard_index, alertmanagercluster_index, namespace_labels)

        def take(event: dict[str, Any]) -> None:
            take_event(state, lambda: list(alertmanagercluster_index), live, event)

        state.background.append(resync.take(settings, GROUP, "alertrules", take))

    @kopf.index(GROUP, VERSION, "alertrules", registry=registry, id="alertrule_index")
    async def alertrule_index(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """Registered so that Kopf lists and watches AlertRules and holds every handler until their
        listing is complete; reached only when Kopf's watch streams could not be wrapped."""
        index(state_of(memo), dict(body))

    @kopf.on.event(GROUP, VERSION, "alertrules", registry=registry, id="alertrule_changed")
    async def alertrule_changed(
        type: str,
        body: kopf.Body,
        memo: kopf.Memo,
        rule_shard_index: kopf.Index[str, ShardReport],
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        namespace_labels: kopf.Index[str, dict[str, str]],
        **_: Any,
    ) -> None:
        """Reached only when Kopf's watch streams could not be wrapped."""
        state = state_of(memo)
        live = status_inputs(state, rule_shard_index, alertmanagercluster_index, namespace_labels)
        changed(state, type, dict(body), list(alertmanagercluster_index), live)
