"""What keeps AlertRule and AlertmanagerCluster status writes to one per real change (pure parts): the
status view the writer keeps, times kept while nothing changed, a file unchanged in a new shard version
still loaded, a fresh shard version held for its sidecar's report, the echo of our own write, listing
events after a start, revisions known from the status, and watch events slimmed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubernetes.client import Configuration

from alertagent.api.alertmanagercluster import AlertmanagerCluster, TargetHealth
from alertagent.api.alertrule import RuleTargetStatus
from alertagent.clients import revisions
from alertagent.clients.asyncapi import AsyncApi
from alertagent.common.identity import ObjectRef
from alertagent.plans.placement import World
from alertagent.plans.rules import index_alert_rule
from alertagent.plans.status import plan_cluster_status, plan_rule_status
from alertagent.reconcile import status
from alertagent.reconcile.queue import Backoff, WorkQueue
from alertagent.reconcile.resync import slimmed
from alertagent.reconcile.state import OperatorState, RuleStatuses, StatusInputs
from alertagent.reconcile.status import _awaiting_write, target_of
from alertagent.settings import Settings
from alertagent.status import ShardReport, alert_rule_status, status_view

BODY: dict[str, Any] = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "AlertRule",
    "metadata": {"name": "r", "namespace": "team-a", "uid": "u1", "generation": 2, "resourceVersion": "10"},
    "spec": {"enabled": True, "groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up"}, {"record": "b"}]}]},
}


def synced(config_hash: str, when: str) -> RuleTargetStatus:
    return RuleTargetStatus.model_validate(
        {"cluster": "m/main", "evaluator": "p", "state": "Synced", "configHash": config_hash, "lastSyncTime": when}
    )


def test_the_status_view_gives_the_status_the_whole_object_gives() -> None:
    targets = [synced("h1", "2026-11-30T10:00:00Z")]
    assert alert_rule_status(status_view(BODY), [], targets, 1) == alert_rule_status(BODY, [], targets, 1)
    assert "groups" in status_view(BODY)["spec"] and "expr" not in str(status_view(BODY))


def test_a_reload_for_another_file_keeps_this_files_sync_time_so_nothing_is_written() -> None:
    first = alert_rule_status(BODY, [], [synced("h1", "2026-11-30T10:00:00Z")], 1)
    body = {**BODY, "status": first}
    assert plan_rule_status(body, [], [synced("h1", "2026-11-30T10:05:00Z")], 1, True) is None
    changed = plan_rule_status(body, [], [synced("h2", "2026-11-30T10:05:00Z")], 1, True)
    assert changed is not None and changed.status["targets"][0]["lastSyncTime"].startswith("2026-11-30T10:05")


def test_a_probe_that_finds_nothing_new_writes_nothing() -> None:
    def health(when: str, version: str = "2.53.0") -> list[TargetHealth]:
        return [
            TargetHealth.model_validate(
                {"name": "p", "type": "prometheus", "reachable": True, "version": version, "lastCheckTime": when}
            )
        ]

    body: dict[str, Any] = {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": "m", "generation": 1},
    }
    first = plan_cluster_status(body, health("2026-11-30T10:00:00Z"), {"p": 3}, {}, None)
    assert first is not None
    later = {**body, "status": first.status}
    assert plan_cluster_status(later, health("2026-11-30T10:00:30Z"), {"p": 3}, {}, None) is None
    upgraded = plan_cluster_status(later, health("2026-11-30T10:01:00Z", "3.0.0"), {"p": 3}, {}, None)
    assert upgraded is not None and upgraded.status["targets"][0]["lastCheckTime"].startswith("2026-11-30T10:01")


def report(**overrides: Any) -> ShardReport:
    values: dict[str, Any] = {
        "cluster": "m/main",
        "evaluator": "p",
        "file_hash": "f2",
        "shard_hash": "s2",
        "loaded_hash": "s1",
        "loaded_time": "2026-11-30T10:00:00+00:00",
        "error": None,
        "shard": "m/rules-0",
    }
    return ShardReport(**{**values, **overrides})


def test_a_file_a_new_shard_version_did_not_change_stays_synced_and_a_changed_one_waits() -> None:
    assert report(loaded_file_hash="f2").target_status().state == "Synced"
    assert report(loaded_file_hash="f1").target_status().state == "Pending"
    assert report(loaded_file_hash="f2", error="reload failed").target_status().state == "Failed"


def test_a_new_file_is_held_for_its_sidecars_report_for_a_bounded_time() -> None:
    fresh = report(loaded_file_hash="f1", seen_at=100.0)
    assert fresh.awaiting_load(now=101.0, hold_seconds=5.0)
    assert not fresh.awaiting_load(now=106.0, hold_seconds=5.0)  # no report came: write Pending
    assert not report(loaded_file_hash="f2", seen_at=100.0).awaiting_load(101.0, 5.0)  # loaded already
    assert not report(loaded_hash="s2", seen_at=100.0).awaiting_load(101.0, 5.0)


def test_a_kept_view_is_compact_json_that_expands_to_the_view_and_compares_statuses_by_content() -> None:
    status = {"conditions": [{"type": "Ready", "status": "True", "message": "loaded ✓"}], "revision": 2}
    body = {**BODY, "metadata": {**BODY["metadata"], "resourceVersion": "7"}, "status": status}
    statuses = RuleStatuses()
    ref = ObjectRef.of(body, "AlertRule")
    statuses.seen(body)
    stored = statuses.views[ref]
    assert isinstance(stored.status, str) and isinstance(stored.rest, str) and stored.resource_version == "7"
    assert statuses.view(ref) == status_view(body)
    statuses.view(ref)["status"]["revision"] = 99  # type: ignore[index]  # a copy: the kept view is unchanged
    assert statuses.view(ref) == status_view(body)
    # The same status with its keys in another order is the same status: no write by someone else.
    reordered = {
        **body,
        "metadata": {**body["metadata"], "resourceVersion": "8"},
        "status": dict(reversed(status.items())),
    }
    assert not statuses.seen(reordered)
    changed = {**body, "metadata": {**body["metadata"], "resourceVersion": "9"}, "status": {**status, "revision": 3}}
    assert statuses.seen(changed)
    without = {k: v for k, v in changed.items() if k != "status"}
    without["metadata"] = {**body["metadata"], "resourceVersion": "10"}
    assert statuses.seen(without) and statuses.views[ref].status is None and "status" not in statuses.view(ref)  # type: ignore[operator]


def test_the_writer_keeps_the_newest_view_and_drops_only_the_echo_of_its_own_write() -> None:
    statuses = RuleStatuses()
    ref = ObjectRef.of(BODY, "AlertRule")
    assert statuses.seen(BODY)  # first sight
    written = {**BODY, "metadata": {**BODY["metadata"], "resourceVersion": "12"}, "status": {"revision": 1}}
    statuses.written(written)
    late = {**BODY, "metadata": {**BODY["metadata"], "resourceVersion": "11"}, "status": {}}
    assert not statuses.seen(late) and statuses.view(ref)["status"] == {"revision": 1}  # older: ignored
    assert not statuses.echo({"type": "MODIFIED", "object": late})
    assert statuses.echo({"type": "MODIFIED", "object": written})
    assert not statuses.echo({"type": "MODIFIED", "object": written})  # once
    theirs = {**written, "metadata": {**BODY["metadata"], "resourceVersion": "13"}, "status": {}}
    assert statuses.seen(theirs)  # someone else changed the status: it is rewritten


def test_the_first_listing_after_a_start_is_not_a_change_but_a_relist_later_is() -> None:
    state = OperatorState(settings=Settings(), kube=None, queue=None, api=None)  # type: ignore[arg-type]
    meta = {"generation": 1, "labels": {}}
    assert not state.change_seen(ObjectRef("AlertRule", "a", "x"), None, meta)
    assert state.change_seen(ObjectRef("AlertRule", "a", "y"), "ADDED", meta)
    state.primed_once = True
    assert state.change_seen(ObjectRef("AlertRule", "a", "z"), None, meta)  # created while the watch was down
    assert not state.change_seen(ObjectRef("AlertRule", "a", "x"), None, meta)


def test_a_revision_the_status_names_for_this_generation_is_known_without_the_api() -> None:
    cache: revisions.RevisionCache = {}
    assert not revisions.known(cache, BODY)
    recorded = {**BODY, "status": {"observedGeneration": 2, "revision": 4}}
    assert revisions.known(cache, recorded) and cache[("team-a", "r", "u1")] == (2, 4)
    assert not revisions.known({}, {**BODY, "status": {"observedGeneration": 1, "revision": 3}})


def test_watch_events_lose_managed_fields_and_the_last_applied_copy_and_nothing_else() -> None:
    event = {
        "type": "ADDED",
        "object": {
            **BODY,
            "metadata": {
                **BODY["metadata"],
                "managedFields": [{"manager": "kubectl"}],
                "labels": {"a": "b"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "me"},
            },
        },
    }
    meta = slimmed(event)["object"]["metadata"]
    assert "managedFields" not in meta and meta["annotations"] == {"keep": "me"} and meta["labels"] == {"a": "b"}


def world(mode: str) -> World:
    cluster = AlertmanagerCluster.model_validate(
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": "m"},
            "spec": {
                "alertmanager": {"url": "http://am:9093"},
                "ruleEvaluators": [{"name": "p", "type": "prometheus", "url": "http://p:9090", "reloadMode": mode}],
            },
        }
    )
    return World({"m/main": cluster}, {})


def test_under_reload_mode_none_a_written_rule_is_synced_and_says_loading_is_not_confirmed() -> None:
    pending = report(loaded_hash=None)
    assert target_of(pending, None, world("Sidecar")).state == "Pending"
    assert target_of(pending, 120.0, world("Sidecar")).state == "Stalled"
    for stalled_after in (None, 120.0):  # never Pending, never Stalled with a Warning
        target = target_of(pending, stalled_after, world("None"))
        assert (target.state, target.message) == ("Synced", "written; reloadMode None: loading is not confirmed")
    assert target_of(report(loaded_hash=None, error="boom"), None, world("None")).state == "Failed"


def test_a_status_waits_while_the_shard_index_lacks_the_clusters_own_last_write() -> None:
    """10,000 AlertRules: the shards' watch events came seconds after the write, and a batch written
    meanwhile said "waiting for AlertmanagerCluster m/main to write the rules", then "Synced": two status
    writes per object instead of one."""
    settings = Settings()
    state = OperatorState(settings=settings, kube=None, queue=WorkQueue(1.0, 30.0, Backoff()), api=None)  # type: ignore[arg-type]
    spec = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]}
    rule = index_alert_rule({**BODY, "metadata": {**BODY["metadata"], "namespace": "m"}, "spec": spec})
    assert rule.valid
    inputs = StatusInputs({rule.ref: rule}, {}, world("Sidecar"))
    assert not _awaiting_write(state, rule, inputs)  # nothing written, nothing pending: it says waiting
    record = state.cluster("m/main")
    record.shards_written, record.shards_written_at = {"m/rules-0": "s2"}, time.monotonic()
    assert state.shards_unseen("m/main") and _awaiting_write(state, rule, inputs)
    state.shard_versions["m/rules-0"] = {"s1": (0.0, {})}
    assert _awaiting_write(state, rule, inputs)  # an older version of the shard is not the write
    state.shard_versions["m/rules-0"]["s2"] = (0.0, {})
    assert not state.shards_unseen("m/main") and not _awaiting_write(state, rule, inputs)
    del state.shard_versions["m/rules-0"]
    record.shards_written_at = time.monotonic() - settings.status_batch_max_seconds - 1
    assert not _awaiting_write(state, rule, inputs)  # the echo never came: say what is known


def test_a_batch_copies_its_inputs_after_recording_the_revisions(monkeypatch: Any) -> None:
    """10,000 AlertRules: recording their revisions took seconds, in which the burst's reconcile wrote
    the shards; statuses computed from a copy made before said "waiting to be written" and were
    rewritten at once (19,999 status writes for 10,000 objects)."""
    order: list[str] = []

    async def record_revisions(_state: Any, _refs: Any) -> None:
        order.append("revisions recorded")

    def current() -> StatusInputs:
        order.append("inputs copied")
        return StatusInputs({}, {}, None)

    monkeypatch.setattr(status, "record_revisions", record_revisions)
    state = OperatorState(settings=Settings(), kube=None, queue=None, api=AsyncApi(Configuration()))  # type: ignore[arg-type]
    assert asyncio.run(status.write_rule_statuses(state, set(), current)) == (set(), set())
    assert order == ["revisions recorded", "inputs copied"]
