"""Rule ConfigMaps (shards) as the sidecars report on them: an index of what each shard says of each
rule file (where it goes, whether its target loaded it). Kopf fills indexes before any handler runs,
so after a restart the reports are complete before the first status is written."""

from __future__ import annotations

from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..common.hashing import content_hash
from ..common.identity import ObjectRef
from ..common.labels import (
    CLUSTER_LABEL,
    COMPONENT_LABEL,
    CONTENT_HASH_ANNOTATION,
    EVALUATOR_LABEL,
    LOADED_HASH_ANNOTATION,
    LOADED_TIME_ANNOTATION,
    RULES_COMPONENT,
    SYNC_ERROR_ANNOTATION,
)
from ..plans.rules import IndexedRule
from ..reconcile.status import refresh_in_thread
from ..settings import Settings
from ..status import ShardReport
from .memo import state_of, world_of


def shard_reports(body: kopf.Body) -> dict[str, ShardReport]:
    """What one rule ConfigMap says of each rule file it holds."""
    labels, annotations = body.metadata.labels, body.metadata.annotations
    data = body.get("data") or {}
    cluster = f"{body.metadata.namespace}/{labels.get(CLUSTER_LABEL, '')}"
    shard_hash = annotations.get(CONTENT_HASH_ANNOTATION) or content_hash(data)
    return {
        file_name: ShardReport(
            cluster=cluster,
            evaluator=labels.get(EVALUATOR_LABEL, ""),
            file_hash=content_hash({file_name: text}),
            shard_hash=shard_hash,
            loaded_hash=annotations.get(LOADED_HASH_ANNOTATION),
            loaded_time=annotations.get(LOADED_TIME_ANNOTATION),
            error=annotations.get(SYNC_ERROR_ANNOTATION),
            shard=f"{body.metadata.namespace}/{body.metadata.name}",
        )
        for file_name, text in data.items()
    }


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    shards = {COMPONENT_LABEL: RULES_COMPONENT}

    @kopf.index("", "v1", "configmaps", labels=shards, registry=registry, id="rule_shard_index")
    def rule_shard_index(body: kopf.Body, **_: Any) -> dict[str, ShardReport]:
        return shard_reports(body)

    @kopf.on.event("", "v1", "configmaps", labels=shards, registry=registry, id="shard_changed")
    async def shard_changed(
        body: kopf.Body,
        type: str,
        memo: kopf.Memo,
        rule_shard_index: kopf.Index[str, ShardReport],
        alertrule_index: kopf.Index[ObjectRef, IndexedRule],
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        namespace_labels: kopf.Index[str, dict[str, str]],
        **_: Any,
    ) -> None:
        """A sidecar reported (or the operator rewrote a shard): rewrite the status of its rules."""
        state = state_of(memo)
        shard = f"{body.metadata.namespace}/{body.metadata.name}"
        files = set() if type == "DELETED" else set(body.get("data") or {})
        touched = state.shard_files.get(shard, set()) | files
        state.shard_files[shard] = files
        rules = {e.ref: e for es in alertrule_index.values() for e in es if e.file_name in touched}
        if not state.primed(list(alertmanagercluster_index)):
            state.held |= set(rules)
            return
        reports = {f: list(rule_shard_index.get(f, [])) for f in touched}
        world = world_of(alertmanagercluster_index, namespace_labels)
        await refresh_in_thread(state, rules, rules, reports, world)
