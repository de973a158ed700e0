"""Rule ConfigMaps (shards) as the sidecars report on them: an index of what each shard says of each
rule file (where it goes, whether its target loaded it). Kopf fills indexes before any handler runs,
so after a restart the reports are complete before the first status is written."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..common.hashing import content_hash
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
from ..settings import Settings
from ..status import ShardReport
from .memo import state_of, status_inputs

VERSIONS_KEPT = 3  # shard versions whose file hashes are remembered (the loaded one is rarely older)

# "ns/shard" → shard hash → (when the operator first saw it, monotonic seconds; file → file hash)
ShardVersions = dict[str, dict[str, tuple[float, dict[str, str]]]]


def shard_reports(body: kopf.Body, versions: ShardVersions | None = None) -> dict[str, ShardReport]:
    """What one rule ConfigMap says of each rule file it holds. `versions` remembers the file hashes
    of the shard's recent versions (updated here), so a file the loaded version already had is known
    to be loaded."""
    labels, annotations = body.metadata.labels, body.metadata.annotations
    data = body.get("data") or {}
    cluster = f"{body.metadata.namespace}/{labels.get(CLUSTER_LABEL, '')}"
    shard = f"{body.metadata.namespace}/{body.metadata.name}"
    shard_hash = annotations.get(CONTENT_HASH_ANNOTATION) or content_hash(data)
    file_hashes = {file_name: content_hash({file_name: text}) for file_name, text in data.items()}
    loaded_hash = annotations.get(LOADED_HASH_ANNOTATION)
    loaded_files: dict[str, str] = {}
    seen: float | None = None
    if versions is not None:
        known = versions.setdefault(shard, {})
        seen = known.pop(shard_hash, (time.monotonic(), {}))[0]
        known[shard_hash] = (seen, file_hashes)  # newest last
        while len(known) > VERSIONS_KEPT:
            del known[next(iter(known))]
        loaded_files = known.get(loaded_hash or "", (0.0, {}))[1]
    return {
        file_name: ShardReport(
            cluster=cluster,
            evaluator=labels.get(EVALUATOR_LABEL, ""),
            file_hash=file_hash,
            shard_hash=shard_hash,
            loaded_hash=loaded_hash,
            loaded_time=annotations.get(LOADED_TIME_ANNOTATION),
            error=annotations.get(SYNC_ERROR_ANNOTATION),
            shard=shard,
            loaded_file_hash=loaded_files.get(file_name),
            seen_at=seen,
        )
        for file_name, file_hash in file_hashes.items()
    }


def _signatures(shard: str, index: kopf.Index[str, ShardReport], files: Iterable[str]) -> dict[str, tuple[Any, ...]]:
    """What a rule's status reads of its file in this shard: a file whose signature did not change
    needs no status write (a shard rewritten for one file leaves the others' statuses alone)."""
    signatures = {}
    for file_name in files:
        for report in index.get(file_name, []):
            if report.shard == shard:
                signatures[file_name] = (report.file_hash, report.target_status().state, report.error)
    return signatures


def _note_pending(
    pending: dict[str, tuple[str, str, frozenset[str]]],
    shard: str,
    index: kopf.Index[str, ShardReport] | None,
    files: frozenset[str],
) -> None:
    """Keep `OperatorState.pending_shards` for this shard: its entry while its sidecar has not loaded
    its current version (a report of any of its files says: they share the shard's hash and
    annotations), none once loaded, failed or deleted (`index` None)."""
    report = next((r for f in files for r in (index or {}).get(f, []) if r.shard == shard), None)
    if report is not None and report.pending:
        pending[shard] = (report.cluster, report.shard_hash, files)
    else:
        pending.pop(shard, None)


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    shards = {COMPONENT_LABEL: RULES_COMPONENT}

    @kopf.index("", "v1", "configmaps", labels=shards, registry=registry, id="rule_shard_index")
    async def rule_shard_index(body: kopf.Body, memo: kopf.Memo, **_: Any) -> dict[str, ShardReport]:
        return shard_reports(body, state_of(memo).shard_versions)

    @kopf.on.event("", "v1", "configmaps", labels=shards, registry=registry, id="shard_changed")
    async def shard_changed(
        body: kopf.Body,
        type: str,
        memo: kopf.Memo,
        rule_shard_index: kopf.Index[str, ShardReport],
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        namespace_labels: kopf.Index[str, dict[str, str]],
        **_: Any,
    ) -> None:
        """A sidecar reported (or the operator rewrote a shard): mark the status of its rules."""
        state = state_of(memo)
        shard = f"{body.metadata.namespace}/{body.metadata.name}"
        files = frozenset(body.get("data") or {})
        now = {} if type == "DELETED" else _signatures(shard, rule_shard_index, files)
        _note_pending(state.pending_shards, shard, None if type == "DELETED" else rule_shard_index, files)
        before = state.shard_files.get(shard, {})
        touched = {f for f in before.keys() | now.keys() if before.get(f) != now.get(f)}
        state.shard_files[shard] = now
        if type == "DELETED":
            state.shard_files.pop(shard, None)
            state.shard_versions.pop(shard, None)
        if not touched:
            return
        rules = {e.ref for e in state.rule_entries() if e.file_name in touched}
        inputs = status_inputs(state, rule_shard_index, alertmanagercluster_index, namespace_labels)
        state.rule_statuses.mark(rules, inputs)
