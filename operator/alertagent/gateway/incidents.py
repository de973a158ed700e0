"""The incident engine's service in the gateway: per AlertmanagerCluster with an incidents section in
its channels file, every replica polls Alertmanager's API v2, reads the service graph the operator
publishes, correlates and follows incidents (`incidents.alerts`, `correlate`, `track`); the replica
holding the cluster's Lease also writes them as Incident resources (`incidents.record`).

- Lease `<cluster>-incidents` (coordination.k8s.io/v1) in the cluster's namespace; holder identity is
  the pod name. The holder renews it every `renew_interval` (5 s); another replica takes it over once
  it expired: `renewTime + leaseDurationSeconds` (15 s) passed, or the replica saw it unchanged for
  that long (so a clock skewed between nodes cannot keep a dead holder's Lease alive). A leader that
  could not renew for a lease duration stops writing. On SIGTERM the holder releases it (empty
  holder), so another replica takes over at its next attempt rather than after expiry.
- Alertmanager: `GET /api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true` every
  `pollInterval`. When it cannot be read, the state stays as it was (nothing resolves for it), the
  failure is logged once and counted.
- The graph: ConfigMap `alertagent-service-graph` (and its parts) in the operator's namespace; its
  metadata is read every poll and the whole graph again only when its content-hash annotation changes.
  Without one, every service is its own incident.
- A new leader reads the cluster's Incidents back (label `alertagent.io/cluster=<ns>.<name>`) before
  its first write, so names, timelines and notification counts survive a failover; every replica
  reads them once at start, so their own names agree.

`IncidentBook` is what the rest of the gateway reads (message enrichment, incident notifications).
Kubernetes calls are blocking and go through `asyncio.to_thread`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from pydantic import ValidationError

from ..api.analysis import IncidentAnalysis
from ..clients.gatewaykube import GatewayKube, GatewayKubeError
from ..common.labels import CLUSTER_LABEL, COMPONENT_LABEL, CONTENT_HASH_ANNOTATION, MANAGED_BY
from ..discovery.snapshot import Graph
from ..discovery.store import IncompleteGraphError, assemble
from ..incidents import record, track
from ..incidents.alerts import GettableAlert, Labels, alert_views
from ..incidents.correlate import correlate
from ..plans import lease
from ..plans.lease import LeaseOptions
from ..render.robots.models import IncidentSettings
from .metrics import IncidentMetrics

MIN_POLL_SECONDS = 1.0  # the shortest poll interval, whatever the cluster asks for
log = logging.getLogger("alertagent.gateway.incidents")

Subscriber = Callable[[str, list[track.Incident]], Awaitable[None]]
ALERTS_QUERY = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
EMPTY_GRAPH = Graph.build([], [], [])
LOGGED_PER_POLL = 10  # incidents opened or resolved logged per poll (the leader's); a storm is summed up


# -- the book --------------------------------------------------------------------------------------


class IncidentBook:
    """The incidents of every cluster this gateway follows, keyed by cluster key `<namespace>/<name>`."""

    def __init__(self, metrics: IncidentMetrics | None = None, clock: Callable[[], float] = time.time) -> None:
        self.metrics = metrics
        self.clock = clock
        self._incidents: dict[str, list[track.Incident]] = {}
        self._leader: dict[str, bool] = {}
        self._settings: dict[str, IncidentSettings] = {}
        self._sent: dict[str, dict[str, record.Sent]] = {}
        self._seen: dict[str, int] = {}  # alerts seen (counted by the leader), for the ratio
        self._notified: dict[str, int] = {}
        self._subscribers: list[Subscriber] = []
        self._changed: dict[str, set[str]] = {}  # incidents whose notifications or analysis changed, by cluster
        self._analyses: dict[str, dict[str, IncidentAnalysis]] = {}  # cluster -> incident name -> analysis
        self._alerts: dict[str, dict[str, GettableAlert]] = {}  # cluster -> the last poll's alerts by fingerprint
        self._graphs: dict[str, Graph] = {}  # cluster -> the service graph its engine uses
        self._writers: dict[str, Callable[[str], Awaitable[None]]] = {}  # cluster -> its engine's write_now

    def root_incident(self, cluster: str, fingerprint: str) -> track.Incident | None:
        """The firing incident with more than one service whose root alerts include the alert
        `fingerprint` (Alertmanager's), else None."""
        for incident in self._incidents.get(cluster, []):
            if incident.state == track.FIRING and incident.services > 1 and fingerprint in incident.root_fingerprints:
                return incident
        return None

    def incidents(self, cluster: str) -> list[track.Incident]:
        """The cluster's incidents after the last poll (firing and resolved, until retention), sorted by
        start then name."""
        return list(self._incidents.get(cluster, []))

    def clusters(self) -> list[str]:
        """The clusters whose incidents this gateway follows, sorted."""
        return sorted(self._settings)

    def settings(self, cluster: str) -> IncidentSettings | None:
        """The cluster's incident settings (window, hold, update_interval, ... in seconds), or None when
        the gateway runs no incident engine for it."""
        return self._settings.get(cluster)

    def is_leader(self, cluster: str) -> bool:
        """Whether this replica holds the cluster's incidents Lease (only the leader writes and sends
        updates/resolves)."""
        return self._leader.get(cluster, False)

    def subscribe(self, callback: Subscriber) -> None:
        """`callback(cluster, incidents)` is awaited after each poll's advance, on every replica."""
        self._subscribers.append(callback)

    def notified(self, cluster: str, incident_name: str, channel_key: str) -> None:
        """Count one incident notification sent to channel `<ns>/<name>` (the metrics, and the
        Incident's status.notifications, which the leader writes with its next changes)."""
        now = self.clock()
        sent = self._sent.setdefault(cluster, {}).get(incident_name, record.Sent())
        channels = tuple(sorted({*sent.channels, channel_key}))
        self._sent[cluster][incident_name] = record.Sent(sent.count + 1, now, channels)
        self._changed.setdefault(cluster, set()).add(incident_name)
        self._notified[cluster] = self._notified.get(cluster, 0) + 1
        if self.metrics is not None:
            self.metrics.notifications.labels(cluster).inc()
            self.metrics.ratio(cluster, self._seen.get(cluster, 0), self._notified[cluster])

    def sent(self, cluster: str) -> dict[str, record.Sent]:
        """Notifications sent, by incident name."""
        return dict(self._sent.get(cluster, {}))

    def analysis(self, cluster: str, incident_name: str) -> IncidentAnalysis | None:
        """The incident's analysis so far (built-in report, LLM answer), or None."""
        return self._analyses.get(cluster, {}).get(incident_name)

    def analyses(self, cluster: str) -> dict[str, IncidentAnalysis]:
        """Every analysis of the cluster, by incident name."""
        return dict(self._analyses.get(cluster, {}))

    def alerts(self, cluster: str) -> dict[str, GettableAlert]:
        """The alerts of the cluster's last poll, by fingerprint."""
        return dict(self._alerts.get(cluster, {}))

    def graph(self, cluster: str) -> Graph:
        """The service graph the cluster's engine correlates over (empty before it is read)."""
        return self._graphs.get(cluster, EMPTY_GRAPH)

    async def write_now(self, cluster: str, incident_name: str) -> None:
        """Have the leader write the incident's status now (an analysis need not wait out the
        10 s between writes); nothing when this replica does not lead or the Incident is not
        created yet (its create carries it)."""
        writer = self._writers.get(cluster)
        if writer is not None:
            await writer(incident_name)

    def set_analysis(self, cluster: str, incident_name: str, analysis: IncidentAnalysis) -> None:
        """Record an incident's analysis; the leader writes it into the Incident with its next poll."""
        if cluster not in self._settings or incident_name not in {i.name for i in self._incidents.get(cluster, [])}:
            return  # the cluster or the incident is gone meanwhile
        self._analyses.setdefault(cluster, {})[incident_name] = analysis
        self._changed.setdefault(cluster, set()).add(incident_name)

    # -- for the engines -----------------------------------------------------------------------------
    def _attach(self, cluster: str, settings: IncidentSettings) -> None:
        self._settings[cluster] = settings

    def _detach(self, cluster: str) -> None:
        tables: list[dict[str, Any]] = [self._settings, self._incidents, self._leader, self._sent, self._changed]
        for table in [*tables, self._analyses, self._alerts, self._graphs, self._writers]:
            table.pop(cluster, None)

    def _set_leader(self, cluster: str, leader: bool) -> None:
        self._leader[cluster] = leader
        if self.metrics is not None:
            self.metrics.leader.labels(cluster).set(1 if leader else 0)

    def _merge_sent(self, cluster: str, stored: Mapping[str, record.Sent]) -> None:
        """Take the counts written in the Incidents where they are ahead of this replica's."""
        mine = self._sent.setdefault(cluster, {})
        for name, sent in stored.items():
            if sent.count > mine.get(name, record.Sent()).count:
                mine[name] = sent

    def _merge_analyses(self, cluster: str, stored: Mapping[str, IncidentAnalysis]) -> None:
        """Take the analyses written in the Incidents this replica has none of (a new leader)."""
        mine = self._analyses.setdefault(cluster, {})
        for name, analysis in stored.items():
            mine.setdefault(name, analysis)

    def _forget(self, cluster: str, names: set[str]) -> None:
        for name in names:
            self._sent.get(cluster, {}).pop(name, None)
            self._analyses.get(cluster, {}).pop(name, None)

    def _count_seen(self, cluster: str, new: int) -> None:
        self._seen[cluster] = self._seen.get(cluster, 0) + new
        if self.metrics is not None:
            self.metrics.seen.labels(cluster).inc(new)
            self.metrics.ratio(cluster, self._seen[cluster], self._notified.get(cluster, 0))

    def _take_changed(self, cluster: str) -> set[str]:
        return self._changed.pop(cluster, set())

    async def _publish(self, cluster: str, incidents: list[track.Incident]) -> None:
        self._incidents[cluster] = incidents
        names = {i.name for i in incidents}
        sent = self._sent.get(cluster, {})
        self._sent[cluster] = {name: s for name, s in sent.items() if name in names}  # none for incidents gone
        analyses = self._analyses.get(cluster, {})
        self._analyses[cluster] = {name: a for name, a in analyses.items() if name in names}
        for callback in list(self._subscribers):
            try:
                await callback(cluster, list(incidents))
            except Exception:
                log.exception("cluster %s: an incident subscriber failed", cluster)

    def as_json(self) -> dict[str, Any]:
        """GET /api/v1/incidents: per cluster, whether this replica leads and the incidents as their
        Incident status (no URL or secret)."""
        out: dict[str, Any] = {}
        for cluster in self.clusters():
            sent, analyses = self._sent.get(cluster, {}), self._analyses.get(cluster, {})
            out[cluster] = {
                "leader": self.is_leader(cluster),
                "incidents": [
                    {"name": i.name, **record.incident_status(i, sent.get(i.name, record.Sent()), analyses.get(i.name))}
                    for i in self._incidents.get(cluster, [])
                ],
            }
        return out


# -- the Lease (the decisions: plans.lease, shared with the operator's leader election) -------------


DEFAULT_LEASE = LeaseOptions()  # 15 s duration, renewed every 5 s; leadership lasts the duration


def lease_name(cluster: str) -> str:
    """`<cluster name>-incidents` (the cluster key is `namespace/name`)."""
    return f"{cluster.partition('/')[2]}-incidents"


def _labels(cluster: str) -> dict[str, str]:
    return {**MANAGED_BY, COMPONENT_LABEL: "incidents", CLUSTER_LABEL: record.cluster_label(cluster)}


def acquired(
    current: Mapping[str, Any] | None, cluster: str, identity: str, now: float, options: LeaseOptions
) -> dict[str, Any]:
    """The cluster's incidents Lease taken (or first created) by `identity` at `now` (see
    `plans.lease.acquired`)."""
    namespace = cluster.partition("/")[0]
    return lease.acquired(current, namespace, lease_name(cluster), identity, now, options, _labels(cluster))


class Elector(lease.Elector):
    """One replica's side of a cluster's incidents Lease (`plans.lease.Elector`); leadership lasts
    one lease duration after the last renewal (no separate renew deadline)."""

    def __init__(
        self,
        cluster: str,
        identity: str,
        options: LeaseOptions = DEFAULT_LEASE,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        namespace = cluster.partition("/")[0]
        super().__init__(namespace, lease_name(cluster), identity, options, clock, monotonic, _labels(cluster))
        self.cluster = cluster


# -- one cluster's state (pure) --------------------------------------------------------------------


@dataclass
class EngineState:
    """What one replica knows of a cluster's incidents, advanced poll by poll (no I/O)."""

    cluster: str
    settings: IncidentSettings
    write_options: record.WriteOptions = field(default_factory=record.WriteOptions)
    incidents: list[track.Incident] = field(default_factory=list)
    written: dict[str, record.Written] = field(default_factory=dict)  # meaningful on the leader
    pending: set[str] = field(default_factory=set)  # changed since last written
    peak: dict[str, int] = field(default_factory=dict)  # most alerts each incident held
    seen: set[str] = field(default_factory=set)  # alert fingerprints seen
    suppressed: dict[str, set[str]] = field(default_factory=dict)  # reason -> fingerprints counted

    def advance(
        self, alerts: list[GettableAlert], graph: Graph, now: float, taken: frozenset[str] = frozenset()
    ) -> Observed:
        """One poll: Alertmanager's alerts correlated over the graph and matched to the incidents."""
        labels = Labels(self.settings.service_label, self.settings.namespace_label)
        views = alert_views(alerts, graph, labels)
        cascades = correlate(graph, views, self.settings.window)
        before = {i.name: i for i in self.incidents}
        self.incidents = track.advance(self.incidents, cascades, now, track.Options(names=taken))
        fingerprints = {a.fingerprint for a in alerts}
        new_alerts = fingerprints - self.seen
        self.seen = fingerprints  # an alert that ends and fires again is a new one
        suppressed = {"inhibited": set[str](), "silenced": set[str]()}
        for alert in alerts:
            if alert.status.inhibited_by:
                suppressed["inhibited"].add(alert.fingerprint)
            if alert.status.silenced_by:
                suppressed["silenced"].add(alert.fingerprint)
        new_suppressed = {}
        for reason, now_suppressed in suppressed.items():
            counted = self.suppressed.setdefault(reason, set())
            new_suppressed[reason] = len(now_suppressed - counted)
            self.suppressed[reason] = now_suppressed | (counted & fingerprints)
        opened = [i for i in self.incidents if i.name not in before]
        closed = []
        for incident in self.incidents:
            if incident.changed:
                self.pending.add(incident.name)
            if incident.state == track.FIRING:
                self.peak[incident.name] = max(self.peak.get(incident.name, 0), incident.alerts)
            elif before.get(incident.name) is not None and before[incident.name].state == track.FIRING:
                closed.append((incident, self.peak.get(incident.name, incident.alerts)))
        return Observed(opened, closed, len(new_alerts), new_suppressed)

    def expired(self, now: float) -> set[str]:
        """The resolved incidents past retention."""
        retention = self.write_options.retention
        return {
            i.name
            for i in self.incidents
            if i.state == track.RESOLVED and i.resolved is not None and now - i.resolved >= retention
        }

    def plan(
        self, now: float, sent: Mapping[str, record.Sent], analyses: Mapping[str, IncidentAnalysis] | None = None
    ) -> record.WritePlan:
        return record.plan_writes(
            self.incidents,
            self.written,
            self.cluster,
            self.settings.namespaces,
            now,
            sent,
            self.write_options,
            self.pending,
            analyses,
        )

    def wrote(self, write: record.Write, namespace: str, now: float) -> None:
        self.written[write.name] = record.Written(namespace, now, write.digest)
        self.pending.discard(write.name)

    def forget(self, names: set[str]) -> None:
        self.incidents = [i for i in self.incidents if i.name not in names]
        for name in names:
            self.written.pop(name, None)
            self.pending.discard(name)
            self.peak.pop(name, None)

    def load(self, objects: list[dict[str, Any]]) -> dict[str, record.Sent]:
        """Read the cluster's written Incidents back (see `record.adopt`): they are what was written
        (`written`), and every incident is compared with them at the next plan. Returns the
        notification counts they hold."""
        stored: list[track.Incident] = []
        counts: dict[str, record.Sent] = {}
        written: dict[str, record.Written] = {}
        for obj in objects:
            if (obj.get("spec") or {}).get("cluster") != self.cluster:
                continue
            found = record.incident_from_object(obj)
            meta = obj.get("metadata") or {}
            if found is None:  # created, status never written: write it
                written[str(meta.get("name"))] = record.Written(str(meta.get("namespace")), -math.inf, "")
                continue
            incident, stored_sent = found
            stored.append(incident)
            counts[incident.name] = stored_sent
            digest = record.status_digest(
                record.incident_status(incident, stored_sent, record.analysis_from_object(obj))
            )
            written[incident.name] = record.Written(str(meta.get("namespace")), -math.inf, digest)
        self.incidents = record.adopt(self.incidents, stored)
        names = {i.name for i in self.incidents}
        self.written = {name: w for name, w in written.items() if name in names}
        self.pending = set(names)
        for incident in self.incidents:
            if incident.state == track.FIRING:
                self.peak[incident.name] = max(self.peak.get(incident.name, 0), incident.alerts)
        return counts


@dataclass(frozen=True)
class Observed:
    """What one poll changed, for the metrics."""

    opened: list[track.Incident]
    closed: list[tuple[track.Incident, int]]  # resolved this poll, with the most alerts each held
    new_alerts: int
    new_suppressed: dict[str, int]


# -- one cluster's engine (I/O) --------------------------------------------------------------------


@dataclass(frozen=True)
class EngineOptions:
    lease: LeaseOptions = field(default_factory=LeaseOptions)
    writes: record.WriteOptions = field(default_factory=record.WriteOptions)
    request_timeout: float = 10.0  # Alertmanager reads


class _Once:
    """Logs a failure once until it recovers (then says so once)."""

    def __init__(self, cluster: str, what: str) -> None:
        self.cluster, self.what, self.failing = cluster, what, False

    def failed(self, reason: str) -> None:
        if not self.failing:
            log.warning(
                "cluster %s: %s failed: %s (keeping the last state; logged once until it recovers)",
                self.cluster,
                self.what,
                reason,
            )
        self.failing = True

    def ok(self) -> None:
        if self.failing:
            log.info("cluster %s: %s works again", self.cluster, self.what)
        self.failing = False


class ClusterEngine:
    """The engine of one cluster: the Lease loop and the poll loop."""

    def __init__(
        self,
        cluster: str,
        settings: IncidentSettings,
        book: IncidentBook,
        kube: GatewayKube,
        http: httpx.AsyncClient,
        identity: str,
        metrics: IncidentMetrics | None = None,
        options: EngineOptions = EngineOptions(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster, self.settings, self.book, self.kube, self.http = cluster, settings, book, kube, http
        self.metrics, self.options, self.clock = metrics, options, clock
        self.elector = Elector(cluster, identity, options.lease, clock)
        self.state = EngineState(cluster, settings, replace(options.writes, retention=settings.retention))
        self.graph = EMPTY_GRAPH
        self.graph_hash: str | None = None
        self.loaded = False  # this leadership's Incidents read back
        self._was_leader = False
        self._tasks: list[asyncio.Task[None]] = []
        self._alertmanager = _Once(cluster, f"reading Alertmanager's alerts ({self._where()})")
        self._graph_log = _Once(cluster, f"reading the service graph in {settings.graph_namespace}")
        self._lease_log = _Once(cluster, f"the Lease {cluster.partition('/')[0]}/{lease_name(cluster)}")
        self._write_log = _Once(cluster, "writing Incidents")
        self._woken = asyncio.Event()

    def _where(self) -> str:
        url = httpx.URL(self.settings.alertmanager_url)
        return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")  # never userinfo

    async def start(self) -> None:
        self.book._attach(self.cluster, self.settings)
        self.book._writers[self.cluster] = self.write_now
        self._tasks = [asyncio.create_task(self._lease_loop()), asyncio.create_task(self._poll_loop())]

    async def stop(self, release: bool = True) -> None:
        """Stop both loops; with `release`, give the Lease up when this replica holds it."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if release:
            try:
                if await asyncio.wait_for(asyncio.to_thread(self.elector.release, self.kube), 5):
                    log.info("cluster %s: incidents Lease released", self.cluster)
            except (GatewayKubeError, TimeoutError) as err:
                log.warning("cluster %s: the incidents Lease was not released: %s", self.cluster, err)
        self.book._set_leader(self.cluster, False)
        self.book._detach(self.cluster)

    # -- the Lease ---------------------------------------------------------------------------------
    async def _lease_loop(self) -> None:
        while True:
            wait = self.options.lease.renew_interval
            try:
                wait = await asyncio.to_thread(self.elector.step, self.kube)
                self._lease_log.ok()
            except GatewayKubeError as err:
                self._lease_log.failed(str(err))
                if self.metrics:
                    self.metrics.poll_errors.labels(self.cluster, "kubernetes").inc()
            except Exception:
                log.exception("cluster %s: the Lease step failed", self.cluster)
            self._leadership()
            await asyncio.sleep(wait)

    def _leadership(self) -> None:
        leader = self.elector.leader
        if leader != self._was_leader:
            log.info("cluster %s: %s the incidents Lease", self.cluster, "holding" if leader else "no longer holding")
            self.loaded = False  # a new leadership reads the Incidents back first
            if leader:
                self._woken.set()  # write without waiting for the next poll
        self._was_leader = leader
        self.book._set_leader(self.cluster, leader)

    # -- polls -------------------------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        try:  # every replica starts from what was written, so their names agree
            await self._load()
        except GatewayKubeError as err:
            log.warning("cluster %s: the Incidents were not read back at start: %s", self.cluster, err)
        except Exception:
            log.exception("cluster %s: reading the Incidents back failed", self.cluster)
        while True:
            started = time.monotonic()
            self._woken.clear()  # set meanwhile (a new leadership): the next poll comes at once
            try:
                await self.poll()
            except Exception:
                log.exception("cluster %s: an incident poll failed", self.cluster)
            # At least MIN_POLL_SECONDS apart: `pollInterval: 0s` must not become a busy loop.
            left = max(self.settings.poll_interval, MIN_POLL_SECONDS) - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), max(0.0, left))

    async def _load(self) -> None:
        objects = await asyncio.to_thread(self.kube.list_incidents, {CLUSTER_LABEL: record.cluster_label(self.cluster)})
        counts = self.state.load(objects)
        self.book._merge_sent(self.cluster, counts)
        stored = {}
        for obj in objects:
            analysis = record.analysis_from_object(obj)
            if analysis is not None and (obj.get("spec") or {}).get("cluster") == self.cluster:
                stored[str((obj.get("metadata") or {}).get("name"))] = analysis
        self.book._merge_analyses(self.cluster, stored)
        log.info("cluster %s: %d Incidents read back", self.cluster, len(counts))

    async def _read_graph(self) -> None:
        namespace = self.settings.graph_namespace
        try:
            version = await asyncio.to_thread(self.kube.graph_version, namespace)
            if version is None:
                if self.graph_hash != "":
                    log.info(
                        "cluster %s: no service graph in %s: every service is its own incident", self.cluster, namespace
                    )
                self.graph, self.graph_hash = EMPTY_GRAPH, ""
                self._graph_log.ok()
                return
            digest = version.get(CONTENT_HASH_ANNOTATION, "")
            if digest == self.graph_hash:
                return
            parts = await asyncio.to_thread(self.kube.graph_configmaps, namespace)
            self.graph = Graph.from_json(json.loads(assemble(parts)))
            self.graph_hash = digest
            self._graph_log.ok()
            log.info("cluster %s: service graph %s read (%d nodes)", self.cluster, digest[:12], len(self.graph.nodes))
        except (GatewayKubeError, IncompleteGraphError, ValueError, KeyError, TypeError) as err:
            self._graph_log.failed(str(err) or type(err).__name__)
            if self.metrics:
                self.metrics.poll_errors.labels(self.cluster, "graph").inc()

    async def _read_alerts(self) -> list[GettableAlert] | None:
        url = self.settings.alertmanager_url.rstrip("/") + "/api/v2/alerts"
        try:
            response = await self.http.get(url, params=ALERTS_QUERY, timeout=self.options.request_timeout)
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            raw = response.json()
            if not isinstance(raw, list):
                raise ValueError("the answer is not a list")
        except (httpx.HTTPError, ValueError) as err:  # str(err) of httpx may quote the URL: only its kind
            reason = str(err) if isinstance(err, ValueError) else type(err).__name__
            self._alertmanager.failed(reason)
            if self.metrics:
                self.metrics.poll_errors.labels(self.cluster, "alertmanager").inc()
                self.metrics.alertmanager_up.labels(self.cluster).set(0)
            return None
        self._alertmanager.ok()
        if self.metrics:
            self.metrics.alertmanager_up.labels(self.cluster).set(1)
        alerts = []
        for item in raw:
            try:
                alerts.append(GettableAlert.model_validate(item))
            except ValidationError:
                continue  # one malformed alert never hides the others
        return alerts

    async def poll(self) -> None:
        """One poll: read, correlate, publish; the leader writes."""
        await self._read_graph()
        alerts = await self._read_alerts()
        now = self.clock()
        leader = self.elector.leader
        if alerts is not None:
            others = frozenset(
                i.name for c in self.book.clusters() if c != self.cluster for i in self.book.incidents(c)
            )
            observed = self.state.advance(alerts, self.graph, now, others)
            self.book._alerts[self.cluster] = {a.fingerprint: a for a in alerts}
            self.book._graphs[self.cluster] = self.graph
            if leader:
                self._count(observed)
            await self.book._publish(self.cluster, list(self.state.incidents))
        self.state.pending |= self.book._take_changed(self.cluster)
        if leader and not self.loaded:
            try:
                await self._load()
                self.loaded = True
            except GatewayKubeError as err:
                self._write_log.failed(f"reading the Incidents back: {err}")
                return
        if self.metrics is not None:
            firing = sum(1 for i in self.state.incidents if i.state == track.FIRING)
            self.metrics.open.labels(self.cluster).set(firing)
        if not (leader and self.elector.leader):
            self._forget(self.state.expired(now))  # followers write nothing; their memory stays bounded
            return
        plan = self.state.plan(now, self.book.sent(self.cluster), self.book.analyses(self.cluster))
        await self._write(plan, now)

    async def write_now(self, name: str) -> None:
        """Write one incident's status now, outside the poll's plan (`IncidentBook.write_now`)."""
        before = self.state.written.get(name)
        incident = next((i for i in self.state.incidents if i.name == name), None)
        if not (self.elector.leader and self.loaded) or before is None or incident is None:
            return
        sent = self.book.sent(self.cluster).get(name, record.Sent())
        status = record.incident_status(incident, sent, self.book.analysis(self.cluster, name))
        digest = record.status_digest(status)
        if digest != before.digest:
            await self._write(
                record.WritePlan((record.Write("status", name, before.namespace, None, status, digest),)), self.clock()
            )

    def _count(self, observed: Observed) -> None:
        said = [f"incident {i.name} opened: root {i.root}, {i.services} services" for i in observed.opened]
        said += [f"incident {i.name} resolved (at most {peak} alerts)" for i, peak in observed.closed]
        for line in said[:LOGGED_PER_POLL]:
            log.info("cluster %s: %s", self.cluster, line)
        if len(said) > LOGGED_PER_POLL:
            log.info("cluster %s: and %d more incidents opened or resolved", self.cluster, len(said) - LOGGED_PER_POLL)
        self.book._count_seen(self.cluster, observed.new_alerts)
        if self.metrics is None:
            return
        if observed.opened:
            self.metrics.opened.labels(self.cluster).inc(len(observed.opened))
        for _, peak in observed.closed:
            self.metrics.alerts.labels(self.cluster).observe(peak)
        for reason, count in observed.new_suppressed.items():
            if count:
                self.metrics.suppressed.labels(self.cluster, reason).inc(count)

    async def _write(self, plan: record.WritePlan, now: float) -> None:
        forgotten = set(plan.forget) - {w.name for w in plan.writes if w.op == "delete"}
        for write in plan.writes:
            try:
                done = await asyncio.to_thread(self._apply, write)
            except GatewayKubeError as err:
                self._write_log.failed(f"{write.op} {write.namespace}/{write.name}: {err}")
                if self.metrics:
                    self.metrics.poll_errors.labels(self.cluster, "kubernetes").inc()
                break  # the API server is unwell: the rest waits for the next poll
            self._write_log.ok()
            if self.metrics:
                self.metrics.writes.labels(self.cluster, write.op).inc(2 if write.op == "create" else 1)
            if write.op == "delete":
                forgotten.add(write.name)
            elif done is None:  # gone meanwhile: create it again
                self.state.written.pop(write.name, None)
                self.state.pending.add(write.name)
            else:
                self.state.wrote(write, done, now)
        self._forget(forgotten)

    def _forget(self, names: set[str]) -> None:
        if names:
            self.state.forget(names)
            self.book._forget(self.cluster, names)

    def _apply(self, write: record.Write) -> str | None:
        """One write (blocking): the namespace it is in, or None when the Incident was gone."""
        kube, cluster_ns = self.kube, self.cluster.partition("/")[0]
        if write.op == "delete":
            kube.delete_incident(write.namespace, write.name)
            return write.namespace
        if write.op == "status":
            return (
                write.namespace if kube.patch_incident_status(write.namespace, write.name, write.status or {}) else None
            )
        assert write.body is not None
        namespace = write.namespace
        try:
            created = kube.create_incident(namespace, write.body)
        except GatewayKubeError as err:
            if err.status not in (403, 404, 422) or namespace == cluster_ns:
                raise
            # The root's namespace is gone or refuses us: the cluster's own namespace takes it.
            namespace = cluster_ns
            body = dict(write.body)
            body["metadata"] = {**dict(write.body["metadata"]), "namespace": namespace}
            created = kube.create_incident(namespace, body)
        if not created:  # there already: ours (written before this state knew), or another cluster's
            found = kube.get_incident(namespace, write.name) or {}
            theirs = (found.get("spec") or {}).get("cluster")
            if found and theirs != self.cluster:
                log.warning(
                    "cluster %s: Incident %s/%s belongs to cluster %s; not overwriting it",
                    self.cluster,
                    namespace,
                    write.name,
                    theirs,
                )
                return namespace  # counted as written: it is not retried
        return namespace if kube.patch_incident_status(namespace, write.name, write.status or {}) else None


# -- every cluster's engine ------------------------------------------------------------------------


class IncidentService:
    """Runs one `ClusterEngine` per cluster whose channels file has an incidents section, starting,
    restarting (settings changed) and stopping them as the files change."""

    def __init__(
        self,
        settings: Callable[[], Mapping[str, IncidentSettings]],
        book: IncidentBook,
        identity: str,
        connect: Callable[[], GatewayKube],
        metrics: IncidentMetrics | None = None,
        options: EngineOptions = EngineOptions(),
        interval: float = 2.0,
    ) -> None:
        self.settings, self.book, self.identity, self.connect = settings, book, identity, connect
        self.metrics, self.options, self.interval = metrics, options, interval
        self.engines: dict[str, ClusterEngine] = {}
        self.kube: GatewayKube | None = None
        self.http = httpx.AsyncClient(timeout=options.request_timeout)
        self._task: asyncio.Task[None] | None = None
        self._connect_error: str | None = None

    async def start(self) -> None:
        await self.sync()
        self._task = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync()
            except Exception:
                log.exception("starting or stopping incident engines failed")

    async def sync(self) -> None:
        """Match the engines to the clusters' settings now."""
        wanted = dict(self.settings())
        for cluster in sorted(set(self.engines) - set(wanted)):
            log.info("cluster %s: no incidents section any more: its incident engine stops", cluster)
            await self.engines.pop(cluster).stop()
        for cluster, settings in sorted(wanted.items()):
            engine = self.engines.get(cluster)
            if engine is not None and engine.settings == settings:
                continue
            kube = await self._kube()
            if kube is None:
                return
            if engine is not None:
                await self.engines.pop(cluster).stop(release=False)  # keeps leading: the same replica resumes
            engine = ClusterEngine(
                cluster, settings, self.book, kube, self.http, self.identity, self.metrics, self.options
            )
            self.engines[cluster] = engine
            await engine.start()
            log.info(
                "cluster %s: incident engine started (poll every %.0fs, window %.0fs, as %s)",
                cluster,
                settings.poll_interval,
                settings.window,
                self.identity,
            )

    async def _kube(self) -> GatewayKube | None:
        if self.kube is None:
            try:
                self.kube = await asyncio.to_thread(self.connect)
            except GatewayKubeError as err:
                if self._connect_error != str(err):
                    log.error("incident engines cannot start: %s (retrying; --no-incidents turns them off)", err)
                self._connect_error = str(err)
        return self.kube

    async def stop(self) -> None:
        """Stop every engine, releasing the Leases held."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*(engine.stop() for engine in self.engines.values()), return_exceptions=True)
        self.engines.clear()
        await self.http.aclose()
