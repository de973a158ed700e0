"""AlertRule wiring: an index of parsed rules, revisions, and a change marks every cluster's reconcile
due and the rule's status for the status writer."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP, VERSION
from ..clients import revisions
from ..common.identity import ObjectRef
from ..plans.rules import IndexedRule, index_alert_rule
from ..render.validation import template_issues
from ..settings import Settings
from .memo import state_of, status_inputs

log = logging.getLogger(__name__)

STEPS = ("rules", "status")  # what an AlertRule feeds (alertmanager.yaml and silences never read rules)


def _index_key(body: kopf.Body) -> tuple[Any, ...]:
    """What an index entry is made from besides the spec: a status write (or any event that changes
    none of these) reuses the entry instead of parsing and rendering the rule again."""
    meta = body.metadata
    labels, annotations = tuple(sorted(dict(meta.labels).items())), tuple(sorted(dict(meta.annotations).items()))
    return meta.uid, meta.get("generation"), labels, annotations


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.index(GROUP, VERSION, "alertrules", registry=registry, id="alertrule_index")
    async def alertrule_index(body: kopf.Body, memo: kopf.Memo, **_: Any) -> dict[ObjectRef, IndexedRule]:
        state = state_of(memo)
        ref, key = ObjectRef.of(dict(body), "AlertRule"), _index_key(body)
        known = state.indexed.get(ref)
        if known is not None and known[0] == key:
            return {ref: known[1]}
        entry = index_alert_rule(dict(body), dialect_check=template_issues)
        state.indexed[ref] = (key, entry)
        return {entry.ref: entry}

    @kopf.on.event(GROUP, VERSION, "alertrules", registry=registry, id="alertrule_changed")
    async def alertrule_changed(
        type: str,
        body: kopf.Body,
        memo: kopf.Memo,
        alertrule_index: kopf.Index[ObjectRef, IndexedRule],
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        rule_shard_index: kopf.Index[str, Any],
        namespace_labels: kopf.Index[str, dict[str, str]],
        **_: Any,
    ) -> None:
        """Level-based: a change of spec or labels makes every cluster reconcile; any event whose
        status is not the one last written (or a spec change) marks the status for the writer. A new
        spec is recorded as a revision first."""
        state = state_of(memo)
        ref = ObjectRef.of(dict(body), "AlertRule")
        changed = state.change_seen(ref, type, dict(body.metadata))
        if changed:
            state.queue.add_all(STEPS)
        if type == "DELETED":
            revisions.forget(state.revisions, ref.namespace, ref.name)
            state.rule_statuses.forget(ref)
            state.indexed.pop(ref, None)
            return
        outside_write = state.rule_statuses.seen(dict(body))
        state.primed(list(alertmanagercluster_index))
        if not revisions.known(state.revisions, dict(body)):
            # Recorded by the status writer, once the burst it may be part of is over.
            meta = body.metadata
            kept = {k: meta[k] for k in ("name", "namespace", "uid", "generation") if k in meta}
            state.rule_statuses.unrecorded[ref] = {"metadata": kept, "spec": dict(body.spec)}
            changed = True
        if changed or outside_write:
            inputs = status_inputs(alertrule_index, rule_shard_index, alertmanagercluster_index, namespace_labels)
            state.rule_statuses.mark([ref], inputs)
