"""The operator's state: one object, created at start and reached by handlers through Kopf's `memo`
(`memo["state"]`). Nothing else in the operator holds mutable state between events.

Kopf indexes hold what the cluster says (AlertRules, channels, policies, shard reports, namespaces);
this object holds what the operator concluded (each cluster's last results, memberships, rejections)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.alertmanagercluster import TargetHealth
from ..api.alertrule import RuleTargetStatus
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..clients.asyncapi import AsyncApi
from ..clients.kube import Kube
from ..clients.probe import TargetProbes
from ..clients.rulecheck import RuleChecks
from ..common.identity import ObjectRef
from ..discovery.graph import ServiceGraph
from ..discovery.snapshot import Graph
from ..plans.alertmanager import AlertmanagerPlan
from ..plans.placement import World
from ..plans.rules import IndexedRule
from ..plans.status import Memberships
from ..plans.testsend import PendingTestSends
from ..settings import Settings
from ..status import ShardReport, status_view
from .queue import Backoff, WorkQueue

DELETED_CLUSTERS_KEPT = 1024  # deleted clusters' uids remembered (`OperatorState.forget_cluster`)


@dataclass
class ClusterRecord:
    """What the operator knows of one AlertmanagerCluster between reconciles."""

    generation: int | None = None  # last spec generation seen (status writes do not re-render)
    health: list[TargetHealth] | None = None  # None until the first probe
    rule_counts: dict[str, int] | None = None  # evaluator → rules; None until the first rules step
    # Its rule evaluators' types, set by each rules step (failed or not): their tools are started once
    # the operator is primed, a cluster with evaluators being there to receive rules.
    evaluator_types: frozenset[str] = frozenset()
    config: AlertmanagerPlan | None = None  # the last Alertmanager plan; None until the first one
    errors: dict[str, str] = field(default_factory=dict)  # step → why it failed last time
    operator_mode: tuple[tuple[str, str], ...] = ()  # (evaluator, url) the operator reloads itself
    refresh: set[ObjectRef] = field(default_factory=set)  # objects whose status the status step rewrites
    reconciled: bool = False  # every step ran once since start (failed or not): its outcome is known
    rules_resynced: float = 0.0  # when a health probe last made the rules step due (monotonic)
    # The selected policies of the last silences step, when it succeeded with nothing to keep in
    # line (no window open or to come, no silence of its own in Alertmanager): probes skip the step
    # while the cluster's config has these policies and its Alertmanager has not restarted.
    silences_idle_for: tuple[SuppressionPolicy, ...] | None = None
    announced: str | None = None  # the Ready reason its status last said (a Warning Event once per change)
    alertmanager_started: str | None = None  # when the Alertmanager last probed started (its `uptime`)
    # The rule shards ("namespace/name" → content hash) the last rules step wrote, and when (monotonic):
    # until the shard index has them, statuses computed from it would say "waiting to be written".
    shards_written: dict[str, str] = field(default_factory=dict)
    shards_written_at: float = 0.0
    rules_checked_seq: int = 0  # the rule entries up to this `rule_seq` were planned (and checked) once


@dataclass
class Rejections:
    """Rule files a cluster's evaluator left out (too large): file name → `cluster/evaluator` → status."""

    by_file: dict[str, dict[str, RuleTargetStatus]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, cluster: str, evaluator: str, rejected: dict[str, str]) -> set[str]:
        """Set this evaluator's rejections; return the files whose rejection changed."""
        target = f"{cluster}/{evaluator}"
        changed = set()
        with self._lock:
            for file_name, by_target in self.by_file.items():
                if file_name not in rejected and by_target.pop(target, None) is not None:
                    changed.add(file_name)
            for file_name, message in rejected.items():
                status = RuleTargetStatus(cluster=cluster, evaluator=evaluator, state="Failed", message=message)
                if self.by_file.setdefault(file_name, {}).get(target) != status:
                    self.by_file[file_name][target] = status
                    changed.add(file_name)
        return changed

    def forget_cluster(self, cluster: str) -> set[str]:
        with self._lock:
            changed = set()
            for file_name, by_target in self.by_file.items():
                for target in [t for t in by_target if t.startswith(f"{cluster}/")]:
                    del by_target[target]
                    changed.add(file_name)
        return changed

    def of(self, file_name: str) -> list[RuleTargetStatus]:
        with self._lock:
            return list(self.by_file.get(file_name, {}).values())


@dataclass
class LeftOut:
    """What each part of each cluster's render left out, and why, as last logged: a reconcile logs
    an (object, reason) only when it is new, so an object left out for the same reason is logged once,
    not on every reconcile. Keys are `(cluster, part)`, e.g. `("monitoring/main", "rules")`; values
    map the object (as the log line names it) to the reason."""

    by_part: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, cluster: str, part: str, left_out: Mapping[str, str]) -> dict[str, str]:
        """Record what `part` of `cluster` leaves out now (object → reason); return the entries to
        log: those not left out last time, or left out then for another reason, sorted by object.
        An object no longer left out is forgotten, so it is logged again if it is left out again."""
        with self._lock:
            before = self.by_part.get((cluster, part), {})
            if left_out:
                self.by_part[cluster, part] = dict(left_out)
            else:
                self.by_part.pop((cluster, part), None)
        return {obj: why for obj, why in sorted(left_out.items()) if before.get(obj) != why}

    def forget_cluster(self, cluster: str) -> None:
        """A deleted cluster: what it left out is logged again if it comes back."""
        with self._lock:
            for key in [k for k in self.by_part if k[0] == cluster]:
                del self.by_part[key]


@dataclass(frozen=True)
class StatusInputs:
    """What AlertRule statuses are computed from, copied from Kopf's indexes on the event loop."""

    rules: Mapping[ObjectRef, IndexedRule]
    reports: Mapping[str, list[ShardReport]]  # rule file → what the shards say of it
    world: World | None = None


def _newer(resource_version: str | None, than: str | None) -> bool:
    """Whether an object version is not older than another (etcd revisions are integers: comparing
    them keeps a late watch event from overwriting what a write returned)."""
    try:
        return int(resource_version or 0) >= int(than or 0)
    except ValueError:
        return True


@dataclass(frozen=True, slots=True)
class StoredView:
    """An AlertRule's `status.status_view` as the operator keeps it between events: compact JSON, one
    string for the status and one for the rest (about 0.8 KiB for a status with three conditions and
    one target, against about 4 KiB as the dicts and strings a JSON decode makes: 1.5 MiB for 500
    AlertRules, 30 MiB for 10,000). Keys are sorted, so equal statuses have equal text."""

    resource_version: str | None
    status: str | None  # None: the object has no status
    rest: str

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> StoredView:
        rest = {k: v for k, v in view.items() if k != "status"}
        status = None if "status" not in view else _compact_json(view["status"])
        return cls(view["metadata"].get("resourceVersion"), status, _compact_json(rest))

    def expand(self) -> dict[str, Any]:
        view: dict[str, Any] = json.loads(self.rest)
        if self.status is not None:
            view["status"] = json.loads(self.status)
        return view


def _compact_json(value: Any) -> str:
    # ASCII escapes: one character above U+00FF would make CPython store the whole text at 2-4 bytes
    # a character
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class RuleStatuses:
    """AlertRule statuses, written by one writer (`reconcile.status.rule_status_writer`) in batches:
    handlers mark the objects whose status may have changed; the writer waits a moment so a burst
    (an object, then its ConfigMap, then its sidecar's report) becomes one write per object, computes
    each status from the last view of the object (no read from the API server) and writes it only when
    it differs. Use it from the event loop."""

    views: dict[ObjectRef, StoredView] = field(default_factory=dict)  # `status.status_view` of each rule
    dirty: set[ObjectRef] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    inputs: Callable[[], StatusInputs] | None = None  # the latest copier of the indexes
    echoes: dict[ObjectRef, str | None] = field(default_factory=dict)  # resourceVersion our last write made
    # New specs the status writer records as revisions first (metadata and spec: the view has no spec)
    unrecorded: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)

    def view(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The last view of an AlertRule (`status.status_view`, a fresh copy), None when none is kept."""
        stored = self.views.get(ref)
        return None if stored is None else stored.expand()

    def seen(self, body: Mapping[str, Any]) -> bool:
        """Keep the view of an object from a watch event, unless a newer one was written meanwhile.
        Returns whether its status differs from what was known (someone else wrote it)."""
        ref = ObjectRef.of(body, "AlertRule")
        known = self.views.get(ref)
        view = StoredView.of(status_view(body))
        if known is not None and not _newer(view.resource_version, known.resource_version):
            return False
        self.views[ref] = view
        return known is None or known.status != view.status

    def written(self, body: Mapping[str, Any]) -> None:
        """The object as a status write returned it."""
        ref = ObjectRef.of(body, "AlertRule")
        self.views[ref] = view = StoredView.of(status_view(body))
        self.echoes[ref] = view.resource_version

    def echo(self, event: Mapping[str, Any]) -> bool:
        """Whether a raw watch event is the echo of a status write of ours: the very version the
        write returned, already in `views` (the event says nothing new, so no handler needs it)."""
        body = event.get("object")
        if event.get("type") != "MODIFIED" or not isinstance(body, dict) or body.get("kind") != "AlertRule":
            return False
        ref = ObjectRef.of(body, "AlertRule")
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version is None or self.echoes.get(ref) != version:
            return False
        del self.echoes[ref]
        return True

    def mark(self, refs: Iterable[ObjectRef], inputs: Callable[[], StatusInputs]) -> None:
        refs = set(refs)
        if refs:
            self.dirty |= refs
            self.inputs = inputs
            self.wake.set()

    def forget(self, ref: ObjectRef) -> None:
        self.views.pop(ref, None)
        self.echoes.pop(ref, None)
        self.unrecorded.pop(ref, None)
        self.dirty.discard(ref)


@dataclass
class DiscoveryState:
    """The service graph as discovery builds it, and the snapshot last published."""

    graph: ServiceGraph = field(default_factory=ServiceGraph)
    published: Graph | None = None  # what the HTTP API serves and rendering uses
    published_json: str | None = None
    loaded: bool = False  # the indexes' initial listings are in the graph
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set when the graph changed
    # Held while the graph changes or a thread takes its snapshot: the loop stays free and the
    # snapshot consistent (appliers wait their turn instead of blocking other handlers).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class OperatorState:
    """Everything the operator keeps between events; see the module docstring."""

    settings: Settings
    kube: Kube
    queue: WorkQueue
    api: AsyncApi  # the same credentials as `kube`, on the event loop: the status writer's writes
    clusters: dict[str, ClusterRecord] = field(default_factory=dict)  # "namespace/name" → record
    memberships: Memberships = field(default_factory=Memberships)
    rejections: Rejections = field(default_factory=Rejections)
    left_out: LeftOut = field(default_factory=LeftOut)  # what renders left out, as last logged
    shard_files: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)  # "ns/shard" → file → signature
    shard_versions: dict[str, dict[str, tuple[float, dict[str, str]]]] = field(default_factory=dict)  # handlers.shards
    seen: dict[ObjectRef, tuple[int, str]] = field(default_factory=dict)  # object → (generation, labels)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # as last seen, for changes
    revisions: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)  # (ns,name,uid) → (gen, rev)
    deliveries: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)  # operator-mode reloads
    discovery: DiscoveryState = field(default_factory=DiscoveryState)
    rule_statuses: RuleStatuses = field(default_factory=RuleStatuses)
    # The rule index (`handlers.alertrules`): AlertRule → (what its entry was made from, the entry,
    # the `rule_seq` it was made at). `rule_seq` counts the entries made since start.
    rules: dict[ObjectRef, tuple[tuple[Any, ...], IndexedRule, int]] = field(default_factory=dict)
    rule_seq: int = 0
    background: list[Any] = field(default_factory=list)  # tasks and servers stopped at cleanup
    primed_once: bool = False  # every cluster reconciled once since start (member statuses may be written)
    indexes_complete: bool = False  # Kopf's indexes hold their first listings (a handler has run)
    held: set[ObjectRef] = field(default_factory=set)  # channels and policies whose status waits for priming
    flushed: bool = False  # the statuses of every object were rewritten once after priming
    verdicts: dict[str, str | None] = field(default_factory=dict)  # output hash → amtool's verdict
    # cluster → channel or policy → the version of it in the last alertmanager.yaml the tool accepted
    last_good: dict[str, dict[ObjectRef, NotificationChannel | SuppressionPolicy]] = field(default_factory=dict)
    rule_checks: RuleChecks = field(default_factory=RuleChecks)  # promtool / vmalert verdicts by content hash
    started: float = field(default_factory=time.monotonic)
    # "ns/shard" whose sidecar has not loaded its current version → (cluster, shard hash, its files):
    # kept by the shard events, so a probe looks at the shards, not at every rule file
    pending_shards: dict[str, tuple[str, str, frozenset[str]]] = field(default_factory=dict)
    # cluster → (shard, shard hash) → when it was first seen waiting for its sidecar (monotonic)
    pending_since: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)
    stalled: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # of those, the ones past the bound
    test_sends: PendingTestSends = field(default_factory=PendingTestSends)  # requested, waiting, sent
    probes: TargetProbes = field(default_factory=TargetProbes)  # the health probes' connections
    # uids of the deleted clusters (the latest `DELETED_CLUSTERS_KEPT`): a health probe in flight
    # when its cluster was forgotten must not bring the cluster's record and metrics back
    deleted_clusters: dict[str, None] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, kube: Kube | None = None) -> OperatorState:
        """The state for one operator run (call it on the event loop that runs the operator)."""
        backoff = Backoff(settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_jitter)
        queue = WorkQueue(
            settings.debounce_seconds,
            settings.debounce_max_seconds,
            backoff,
            quiet_seconds=settings.burst_quiet_seconds,
            prepare_seconds=settings.burst_prepare_seconds,
        )
        kube = kube or Kube(request_timeout_seconds=settings.kube_timeout_seconds)
        api = AsyncApi(kube.connection, settings.api_connections, settings.kube_timeout_seconds)
        # A probe finds the connections of the last one open: they are kept past the health interval.
        probes = TargetProbes(settings.probe_timeout_seconds, settings.health_interval_seconds + 30)
        return cls(settings=settings, kube=kube, queue=queue, api=api, probes=probes)

    def cluster(self, key: str) -> ClusterRecord:
        return self.clusters.setdefault(key, ClusterRecord())

    def forget_cluster(self, key: str, uid: str | None) -> ClusterRecord | None:
        """A deleted cluster (`key` "namespace/name", `uid` its metadata.uid): drop its record and
        its shards' waiting times, and remember the uid (a re-created cluster has another) so that a
        health probe still in flight records nothing. Returns the record it had."""
        if uid:
            self.deleted_clusters[uid] = None
            while len(self.deleted_clusters) > DELETED_CLUSTERS_KEPT:
                del self.deleted_clusters[next(iter(self.deleted_clusters))]
        self.pending_since.pop(key, None)
        self.stalled.pop(key, None)
        return self.clusters.pop(key, None)

    def primed(self, cluster_keys: list[str]) -> bool:
        """Every cluster there is has reconciled once since start (or `priming_max_seconds` passed):
        member statuses are complete, so they can be written without regressing (before that, a
        membership not yet recomputed would read as "not selected"). Once true, stays true."""
        if not self.primed_once:
            waited = time.monotonic() - self.started > self.settings.priming_max_seconds
            done = all(key in self.clusters and self.clusters[key].reconciled for key in cluster_keys)
            self.primed_once = waited or done
        return self.primed_once

    def shards_unseen(self, cluster: str) -> bool:
        """The cluster's last rule ConfigMap writes are not all in the shard index yet (their watch
        events are still on the way: seconds with thousands of rules), for at most
        `status_batch_max_seconds` after the write."""
        record = self.clusters.get(cluster)
        if record is None or not record.shards_written:
            return False
        if time.monotonic() - record.shards_written_at > self.settings.status_batch_max_seconds:
            return False
        return any(digest not in self.shard_versions.get(shard, {}) for shard, digest in record.shards_written.items())

    def note_pending(self, cluster: str) -> set[str]:
        """Record which shards of a cluster wait for their sidecar (`pending_shards`; called
        periodically); return the files in shards that have just waited longer than
        `pending_warn_seconds` (their rules' statuses then name the ConfigMap and the sidecar)."""
        now, bound = time.monotonic(), self.settings.pending_warn_seconds
        mine = {(shard, h): files for shard, (c, h, files) in self.pending_shards.items() if c == cluster}
        before = self.pending_since.get(cluster, {})
        since = {key: before.get(key, now) for key in mine}
        self.pending_since[cluster] = since
        noted = self.stalled.setdefault(cluster, set())
        noted &= set(since)  # a shard that loaded, or changed, may stall again later
        crossed = {key for key, t in since.items() if now - t > bound} - noted
        noted |= crossed
        return {file for key in crossed for file in mine[key]}

    def stalled_for(self, report: ShardReport) -> float | None:
        """How long (seconds) the report's shard has waited for its sidecar, when over the bound."""
        since = self.pending_since.get(report.cluster, {}).get((report.shard, report.shard_hash))
        if since is None or not report.pending:
            return None
        waited = time.monotonic() - since
        return waited if waited > self.settings.pending_warn_seconds else None

    def hold(self, ref: ObjectRef) -> None:
        """An object whose status was not written because the operator is not primed yet."""
        self.held.add(ref)

    def rule_entries(self, since: int = 0) -> tuple[IndexedRule, ...]:
        """Every indexed AlertRule's entry made after `rule_seq` was `since` (0: every entry); a copy,
        taken on the loop, read in a step's thread."""
        return tuple(entry for _key, entry, seq in self.rules.values() if seq > since)

    def change_seen(self, ref: ObjectRef, event_type: str | None, metadata: dict[str, Any]) -> bool:
        """Whether an event may change what clusters render: a new generation (spec), new labels, or a
        deletion. Status-only writes (our own) are not changes, or every write would cause another.
        `event_type` is Kopf's: None for an object a listing returned."""
        seen = (metadata.get("generation", 0), repr(sorted((metadata.get("labels") or {}).items())))
        if event_type == "DELETED":
            self.seen.pop(ref, None)
            return True
        if self.seen.get(ref) == seen:
            return False
        first = ref not in self.seen
        self.seen[ref] = seen
        # The first listing after a start is not a change: Kopf fills the indexes before any handler
        # runs, so each cluster's first reconcile already renders every listed object. (A relist later
        # on is: an object created or changed while the watch was down.)
        return not (event_type is None and first and not self.primed_once)
