"""AlertmanagerCluster wiring: one debounced reconciler per cluster that renders the AlertRules it
selects into rule ConfigMaps (written only when their hash changed), and a health timer."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kopf

from .. import kube
from ..api.alertmanagercluster import AlertmanagerCluster, TargetHealth
from ..api.alertrule import AlertRule
from ..api.base import GROUP, VERSION
from ..metrics import CLUSTER_HEALTH, RECONCILE_DURATION, RECONCILE_TOTAL, RULE_DISTRIBUTION_TOTAL
from ..render.rules import EvaluatorRules, count_rules, render_evaluator, rule_file_name, selected_rule_files
from ..settings import (
    CONTENT_HASH_ANNOTATION,
    SETTINGS,
    rule_shard_labels,
)
from ..status import cluster_status
from ..targets.probe import probe_cluster
from . import discovery, object_status, operator_reload, shards
from .amconfig import AlertmanagerResult, reconcile_alertmanager
from .silences import reconcile_silences
from .triggers import TRIGGERS, quiet

log = logging.getLogger(__name__)


def _owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AlertmanagerCluster",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _split(indexed: Any) -> tuple[list[AlertRule], dict[int, str], set[str]]:
    """Valid rules, their files as rendered at indexing (by id of the rule), and the file names of
    invalid ones."""
    valid, rendered, invalid = [], {}, set()
    for (namespace, name), entries in indexed.items():
        for entry in entries:
            if entry.valid:
                valid.append(entry.rule)
                rendered[id(entry.rule)] = entry.rule_file
            else:
                invalid.add(rule_file_name(namespace, name))
    return valid, rendered, invalid


def _deployed_files(existing: dict[str, Any]) -> dict[str, str]:
    return {k: v for cm in existing.values() for k, v in (cm.get("data") or {}).items()}


def _write_evaluator(namespace: str, body: dict[str, Any], desired: EvaluatorRules, existing: dict[str, Any]) -> int:
    """Write the shards whose hash changed, then delete surplus shards. Returns writes made."""
    labels = rule_shard_labels(body["metadata"]["name"], desired.evaluator.name)
    writes = 0
    for shard in desired.shards:
        current = existing.get(shard.name)
        annotations = ((current or {}).get("metadata") or {}).get("annotations") or {}
        if current is not None and annotations.get(CONTENT_HASH_ANNOTATION) == shard.hash:
            continue
        data: dict[str, str | None] = dict(shard.data)
        for stale in set((current or {}).get("data") or {}) - shard.data.keys():
            data[stale] = None  # strategic merge patch: null removes the key
        kube.put_config_map(
            namespace,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": shard.name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {CONTENT_HASH_ANNOTATION: shard.hash},
                    "ownerReferences": [_owner_reference(body)],
                },
                "data": data,
            },
            exists=current is not None,
        )
        writes += 1
    for surplus in sorted(existing.keys() - {s.name for s in desired.shards}):
        kube.delete_config_map(namespace, surplus)  # only after every new shard is written
        writes += 1
    return writes


def reconcile_rules(body: dict[str, Any], indexed: Any, namespace_labels: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Render and write the cluster's rule shards (blocking). Returns what changed and rule counts.

    An invalid AlertRule keeps the file currently deployed for it: a broken edit never removes the
    rules that were working; the last good version stays until a valid one replaces it."""
    cluster = AlertmanagerCluster.model_validate(body)
    namespace, name = cluster.metadata.namespace or "", cluster.metadata.name or ""
    key = f"{namespace}/{name}"
    valid, rendered, invalid = _split(indexed)
    selected = selected_rule_files(cluster, valid, namespace_labels, render=lambda r: rendered[id(r)])
    known = {  # rule counts of the valid rules; carried-over files are counted by parsing them
        rule_file_name(r.metadata.namespace or "", r.metadata.name or ""): sum(len(g.rules) for g in r.spec.groups)
        for r in valid
    }
    changed_files: set[str] = set()
    rule_counts: dict[str, int] = {}
    writes = 0
    for evaluator in cluster.spec.rule_evaluators or []:
        existing = kube.list_config_maps(namespace, rule_shard_labels(name, evaluator.name))
        deployed = _deployed_files(existing)
        files = selected | {f: deployed[f] for f in invalid if f in deployed}
        desired = render_evaluator(cluster, evaluator, files)
        for file_name, reason in desired.rejected.items():
            shards.reject(file_name, key, evaluator.name, reason)
        changed_files |= shards.clear_rejections(key, evaluator.name, set(desired.rejected))
        changed_files |= set(desired.rejected)
        writes += _write_evaluator(namespace, body, desired, existing)
        rule_counts[evaluator.name] = sum(
            known[f] if f in known else count_rules(text) for f, text in desired.files.items()
        )
    RULE_DISTRIBUTION_TOTAL.labels(key, "written").inc(writes)
    operator_mode = [
        (ev.name, ev.url.rstrip("/")) for ev in cluster.spec.rule_evaluators or [] if ev.reload_mode == "Operator"
    ]
    return {"changed_files": changed_files, "rules": rule_counts, "writes": writes, "operator_mode": operator_mode}


@kopf.index("", "v1", "namespaces")
def namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}


_HEALTH: dict[str, list[TargetHealth]] = {}  # cluster → last probe results
_RENDERED: dict[str, tuple[dict[str, int], str | None]] = {}  # cluster → (rules per evaluator, last error)
_CONFIG: dict[str, AlertmanagerResult] = {}  # cluster → last alertmanager.yaml reconcile
_GENERATIONS: dict[str, int] = {}  # cluster → last generation seen, so status writes do not re-render


def write_cluster_status(body: dict[str, Any]) -> None:
    meta = body["metadata"]
    key = f"{meta['namespace']}/{meta['name']}"
    rules, error = _RENDERED.get(key, ({}, None))
    config = _CONFIG.get(key, AlertmanagerResult())
    sync_error = f"alertmanager sidecar: {config.sync_error}" if config.sync_error else None
    error = "; ".join(e for e in (error, config.error, sync_error) if e) or None
    status = cluster_status(
        body,
        _HEALTH.get(key, []),
        rules,
        error,
        config.counts,
        config.config_hash,
        (config.loaded_hash, config.loaded_time),
    )
    kube.patch_status("alertmanagerclusters", meta["namespace"], meta["name"], status)


def _probed_version(key: str) -> str | None:
    return next((t.version for t in _HEALTH.get(key, []) if t.type == "alertmanager" and t.version), None)


@kopf.on.event(GROUP, VERSION, "alertmanagerclusters")
async def cluster_changed(namespace: str, name: str, body: kopf.Body, type: str, **_: Any) -> None:
    key = f"{namespace}/{name}"
    generation = body.metadata.get("generation", 0)
    if type == "DELETED" or _GENERATIONS.get(key) != generation:
        _GENERATIONS[key] = generation
        TRIGGERS.poke(key)


@kopf.timer(GROUP, VERSION, "alertmanagerclusters", interval=SETTINGS.health_interval_seconds)
async def probe_health(body: kopf.Body, namespace: str, name: str, **_: Any) -> None:
    key = f"{namespace}/{name}"
    health = await probe_cluster(AlertmanagerCluster.model_validate(dict(body)))
    _HEALTH[key] = health
    for target in health:
        CLUSTER_HEALTH.labels(key, target.name).set(1 if target.reachable else 0)
    await asyncio.to_thread(write_cluster_status, dict(body))
    TRIGGERS.poke(key)  # re-resolves referenced Secrets, so a rotated credential reaches Alertmanager


_NAMESPACE_LABELS: dict[str, dict[str, str]] = {}


@kopf.on.event("", "v1", "namespaces")
async def namespace_changed(type: str, name: str, labels: kopf.Labels, **_: Any) -> None:
    """Namespace labels feed namespace selectors: re-render when they change."""
    current = {} if type == "DELETED" else dict(labels)
    if _NAMESPACE_LABELS.get(name) != current:
        _NAMESPACE_LABELS[name] = current
        TRIGGERS.poke_all()


async def _wait_for_either(trigger: asyncio.Event, stopped: kopf.DaemonStopped) -> None:
    waits = [asyncio.ensure_future(trigger.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


async def _alertmanager_side(
    key: str, body: dict[str, Any], channel_index: Any, policy_index: Any, labels: dict[str, dict[str, str]]
) -> None:
    """alertmanager.yaml into the Secret, one-off windows into silences, channel and policy status."""
    try:
        config = await asyncio.to_thread(
            reconcile_alertmanager,
            body,
            channel_index,
            policy_index,
            labels,
            _probed_version(key),
            discovery.STATE.published,
        )
    except Exception as err:
        log.exception("rendering alertmanager.yaml of %s failed: %s", key, err)
        config = AlertmanagerResult(error=f"rendering alertmanager.yaml failed: {err}")
    if config.written:
        log.info("alertmanager config of %s written (%s)", key, config.config_hash)
    _CONFIG[key] = config
    try:
        silence_ids = await asyncio.to_thread(
            reconcile_silences, AlertmanagerCluster.model_validate(body), config.policies
        )
        object_status.record_silences(key, silence_ids)
    except Exception as err:
        log.warning("silences of %s not reconciled: %s", key, err)
    changed = object_status.record(key, config.members, config.generated)
    policies = {m for m in config.members if m[0] == "SuppressionPolicy"}  # active windows move with time
    await asyncio.to_thread(object_status.refresh, changed | policies)


@kopf.daemon(GROUP, VERSION, "alertmanagerclusters", cancellation_timeout=10)
async def rules_reconciler(
    *,
    body: kopf.Body,
    namespace: str,
    name: str,
    stopped: kopf.DaemonStopped,
    alertrule_index: kopf.Index[Any, Any],
    channel_index: kopf.Index[Any, Any],
    policy_index: kopf.Index[Any, Any],
    namespace_labels: kopf.Index[str, dict[str, str]],
    logger: logging.Logger,
    **_: Any,
) -> None:
    key = f"{namespace}/{name}"
    trigger = TRIGGERS.register(key)
    try:
        while not stopped:
            await _wait_for_either(trigger, stopped)
            if stopped:
                break
            await quiet(trigger, SETTINGS.debounce_seconds, SETTINGS.debounce_max_seconds)
            started = time.monotonic()
            labels = {ns: next(iter(v)) for ns, v in namespace_labels.items()}
            try:
                result = await asyncio.to_thread(reconcile_rules, dict(body), alertrule_index, labels)
            except Exception as err:
                RECONCILE_TOTAL.labels("AlertmanagerCluster", "error").inc()
                logger.exception("rendering rules of %s failed: %s", key, err)
                _RENDERED[key] = (_RENDERED.get(key, ({}, None))[0], f"rendering rules failed: {err}")
                await asyncio.to_thread(write_cluster_status, dict(body))
                await asyncio.sleep(5)
                trigger.set()
                continue
            finally:
                RECONCILE_DURATION.labels("AlertmanagerCluster").observe(time.monotonic() - started)
            RECONCILE_TOTAL.labels("AlertmanagerCluster", "ok").inc()
            if result["writes"]:
                log.info("rule ConfigMaps of %s: %d writes (%s rules)", key, result["writes"], result["rules"])
            _RENDERED[key] = (result["rules"], None)
            operator_reload.start(key, namespace, name, result["operator_mode"])
            await _alertmanager_side(key, dict(body), channel_index, policy_index, labels)
            await asyncio.to_thread(write_cluster_status, dict(body))
            if result["changed_files"]:
                await asyncio.to_thread(shards.refresh_rule_statuses, result["changed_files"], alertrule_index)
    finally:
        TRIGGERS.unregister(key)
        operator_reload.stop(key)
