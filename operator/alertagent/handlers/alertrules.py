"""AlertRule wiring: an index of parsed rules, revisions, status and Events, and a change marks every
cluster's reconcile due."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP, VERSION
from ..clients import revisions
from ..common.identity import ObjectRef
from ..metrics import INVALID_OBJECTS
from ..plans.rules import IndexedRule, index_alert_rule
from ..reconcile.status import write_rule_status
from ..render.validation import template_issues
from ..settings import Settings
from .memo import state_of, world_of


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.index(GROUP, VERSION, "alertrules", registry=registry, id="alertrule_index")
    def alertrule_index(body: kopf.Body, **_: Any) -> dict[ObjectRef, IndexedRule]:
        entry = index_alert_rule(dict(body), dialect_check=template_issues)
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
        """Level-based: after any change (spec, or a status write of our own) record the spec as a
        revision if it is new, recompute the status and write it when it differs."""
        state = state_of(memo)
        ref = ObjectRef.of(dict(body), "AlertRule")
        if state.change_seen(ref, type, dict(body.metadata)):
            state.queue.add_all()
            INVALID_OBJECTS.labels("AlertRule").set(sum(not e.valid for es in alertrule_index.values() for e in es))
        if type == "DELETED":
            revisions.forget(state.revisions, ref.namespace, ref.name)
            return
        entry = next(iter(alertrule_index.get(ref, [])), None)
        primed = state.primed(list(alertmanagercluster_index))
        if not primed:
            state.hold(ref)
        reports = list(rule_shard_index.get(entry.file_name, [])) if entry else []
        world = world_of(alertmanagercluster_index, namespace_labels)

        def sync() -> None:
            revision = revisions.record(state.kube, state.revisions, dict(body))
            if entry is not None and primed:  # before that, the first reconcile of every cluster writes it
                write_rule_status(state, dict(body), entry, lambda _: reports, revision, announce=True, world=world)

        await asyncio.to_thread(sync)
