"""Incident notifications in the gateway (the wiring around the pure `incidents.notify`).

- **Receipt** (`receive`, any replica): a webhook payload with a firing alert that is a root of one of
  the cluster's firing incidents (or that the incident engine has not seen yet, so may become one) is
  held until `notify.hold_until` (its incident's start + `hold`, at most `hold` after receipt),
  persisted in the store (`HoldStore`: a restart sends it when due). A later payload of the same
  Alertmanager group to the same channel waits behind it, so a group's messages keep their order.
  Anything else is rendered and queued at once, as without incidents.
- **Release**: the payload is rendered then, with the incident section of each multi-service incident
  it carries a root alert of, and queued like any message: every alert of the payload is in it.
  The channel and the time are recorded in the incident's `notify.State` (stored by cluster and
  incident name) and the send is counted by the book (`notified`: Incident status.notifications and
  the metric).
- **Each poll** (`on_poll`, subscribed to the book): every replica keeps its states current and
  queues the updates and the resolve `notify.follow` decides, to the channels whose root-alert
  webhook it received (Alertmanager sends each notification to one replica, so no channel hears
  twice), counting each with `notified`.

States live in the gateway's store beside the queue (SQLite: they survive a restart of the replica).
A new leader also takes over the channels the Incidents record as notified (`Book.sent`, their
status.notifications), so a failover keeps whom to tell. A store that cannot hold (Redis) sends at
once and keeps the states in memory. A webhook channel forwards Alertmanager's payloads untouched:
no hold, section or notices.

Queueing is asynchronous (a shared store is Redis, reached without blocking the event loop). A poll
and a release hold the notifier's lock while they queue: a poll writes the cluster's states it read
before its sends. A receipt queues its messages without the lock (receipts never wait for each other,
even while the store is slow) and takes it only to record what it sent, so that record lands on top
of a poll's, never under it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from pydantic import ValidationError

from ..api.analysis import IncidentAnalysis
from ..incidents import notify
from ..incidents.track import FIRING, Incident
from ..render.robots import formats
from ..render.robots.formats import RobotRequest
from ..render.robots.models import GatewayChannel, WebhookPayload
from .channels import ChannelSource
from .store import Held, HoldStore, Message, QueueFullError

log = logging.getLogger("alertagent.gateway.notifier")

RETRY_FULL = 1.0  # seconds before a due payload is tried again when the queue is full


class Book(Protocol):
    """What the notifier reads of the incident engine (`gateway.incidents.IncidentBook`)."""

    def incidents(self, cluster: str) -> list[Incident]: ...
    def is_leader(self, cluster: str) -> bool: ...
    def subscribe(self, callback: Callable[[str, list[Incident]], Awaitable[None]]) -> None: ...
    def notified(self, cluster: str, incident_name: str, channel_key: str) -> None: ...
    def sent(self, cluster: str) -> Mapping[str, Sent]: ...
    def analyses(self, cluster: str) -> Mapping[str, IncidentAnalysis]: ...


class Sent(Protocol):
    """An incident's notifications as its Incident records them (`incidents.record.Sent`)."""

    @property
    def last(self) -> float | None: ...
    @property
    def channels(self) -> tuple[str, ...]: ...


class Queue(Protocol):
    """What the notifier uses of the gateway (`delivery.Gateway`)."""

    source: ChannelSource

    async def add_requests(self, channel: GatewayChannel, requests: list[RobotRequest]) -> list[Message]:
        """Persist and queue rendered requests. Raises QueueFullError (and StoreUnavailableError)."""
        ...

    def has_room(self, count: int) -> bool: ...
    def dropped(self, channel: GatewayChannel | None, reason: str) -> None: ...


class IncidentNotifier:
    """See the module docstring. `store` None: nothing is held or persisted. `clock`: Unix seconds."""

    def __init__(
        self, queue: Queue, book: Book, store: HoldStore | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.queue, self.book, self.store, self.clock = queue, book, store, clock
        self.states: dict[str, dict[str, notify.State]] = {}  # cluster -> incident name -> state
        self.held: dict[int, tuple[Held, str]] = {}  # id -> (held payload, its group key)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # see the module docstring

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> int:
        """Load the stored states and held payloads, subscribe to the book, start releasing; the
        number of held payloads loaded."""
        if self.store is not None:
            for (cluster, name), text in self.store.states().items():
                try:
                    self.states.setdefault(cluster, {})[name] = notify.State.from_json(json.loads(text))
                except (ValueError, KeyError, TypeError):
                    log.warning(
                        "incident %s/%s: its stored notification state is unreadable; forgetting it", cluster, name
                    )
                    self.store.save_states(cluster, {name: None})
            for item in self.store.held():
                self.held[item.id] = (item, _group_key(item.payload))
        self.book.subscribe(self.on_poll)
        self._task = asyncio.create_task(self._release_loop())
        if self.held:
            log.info("%d held incident messages to send when due", len(self.held))
        return len(self.held)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- what a cluster is and says ----------------------------------------------------------------
    def cluster(self, channel: GatewayChannel) -> str | None:
        """The cluster of the channel's channels file when it runs the incident engine, else None (also
        for a webhook channel: it forwards Alertmanager's payloads as they arrive, nothing added)."""
        if channel.type == "webhook":
            return None
        cluster = self.queue.source.clusters.get(channel.key)
        return cluster if cluster is not None and cluster in self.queue.source.incidents else None

    def options(self, cluster: str) -> notify.Options:
        settings = self.queue.source.incidents.get(cluster)
        if settings is None:
            return notify.Options()
        return notify.Options(hold=settings.hold, update_interval=settings.update_interval)

    def roots(self, cluster: str, payload: WebhookPayload) -> list[Incident]:
        """The cluster's firing incidents the payload carries a firing root alert of, by start."""
        firing = {a.fingerprint for a in payload.alerts if a.status == "firing" and a.fingerprint}
        if not firing:
            return []
        return [i for i in self.book.incidents(cluster) if i.state == FIRING and i.root_fingerprints & firing]

    def _hold_until(self, cluster: str, payload: WebhookPayload, now: float) -> float:
        """When the payload may go out: the latest hold of the incidents it is a root of, and of its
        firing alerts the engine has not seen yet (they may turn out to be roots)."""
        hold = self.options(cluster).hold
        incidents = self.book.incidents(cluster)
        known = frozenset().union(*(i.fingerprints for i in incidents))
        starts = [i.started for i in self.roots(cluster, payload)]
        starts += [
            a.starts_at.timestamp()
            for a in payload.alerts
            if a.status == "firing" and a.fingerprint and a.fingerprint not in known
        ]
        return max((notify.hold_until(start, now, hold) for start in starts), default=now)

    # -- receipt and release -------------------------------------------------------------------------
    async def receive(self, channel: GatewayChannel, payload: WebhookPayload) -> list[Message]:
        """Queue the payload's messages, or hold it (then no message yet: []). Raises QueueFullError
        (and StoreUnavailableError), or ValueError when the channel's template cannot render it
        (checked before holding)."""
        now = self.clock()
        cluster = self.cluster(channel)
        if cluster is None:
            return await self.queue.add_requests(channel, formats.render_requests(channel, payload))
        if payload.status == "resolved":
            resolved = {a.fingerprint for a in payload.alerts if a.fingerprint}
            if len(resolved) == len(payload.alerts):
                incident = notify.folded(self.states.get(cluster, {}), channel.key, resolved)
                if incident is not None:
                    log.info(
                        "channel %s: Alertmanager's resolved message for incident %s's root alerts is folded into"
                        " the incident's resolve message, already sent",
                        channel.key,
                        incident,
                    )
                    return []
        not_before = self._hold_until(cluster, payload, now) if self.store is not None else now
        group = payload.group_key
        behind = [h.not_before for h, g in self.held.values() if h.channel == channel.key and g == group]
        not_before = max([not_before, *behind])
        if not_before <= now:
            return await self._deliver(channel, payload, cluster, now)
        assert self.store is not None
        formats.render_requests(channel, payload)  # a template error answers now, as without a hold
        if not self.queue.has_room(1):
            raise QueueFullError("the queue is full")
        item = self.store.hold(channel.key, payload.model_dump_json(by_alias=True), not_before, now)
        self.held[item.id] = (item, group)
        self._wake.set()
        log.info(
            "channel %s: holding a message for %.0fs (incident root alerts gathering)", channel.key, not_before - now
        )
        return []

    async def _deliver(
        self, channel: GatewayChannel, payload: WebhookPayload, cluster: str, now: float, holding_lock: bool = False
    ) -> list[Message]:
        roots = self.roots(cluster, payload)
        analyses = self.book.analyses(cluster)
        # A cascade's section names its root and tree; a one-service incident's only carries its analysis.
        sections = [i for i in roots if i.services > 1 or i.name in analyses]
        messages = await self.queue.add_requests(
            channel, formats.render_requests(channel, payload, incidents=sections, analyses=analyses)
        )
        if holding_lock:
            self._record_sent(cluster, channel, roots, sections, now)
        else:
            async with self._lock:
                self._record_sent(cluster, channel, roots, sections, now)
        return messages

    def _record_sent(
        self, cluster: str, channel: GatewayChannel, roots: list[Incident], sections: list[Incident], now: float
    ) -> None:
        """The channel got the first message of `roots` (with the sections of `sections`)."""
        states = self.states.setdefault(cluster, {})
        changed = {}
        for incident in roots:
            states[incident.name] = notify.first_sent(states.get(incident.name), incident, channel.key, now)
            changed[incident.name] = states[incident.name]
        for incident in sections:
            self.book.notified(cluster, incident.name, channel.key)
        self._save(cluster, changed, [])

    async def release_due(self) -> bool:
        """Queue every held payload that is due, oldest hold first; False when the queue filled up
        (the rest wait)."""
        async with self._lock:
            return await self._release_due()

    async def _release_due(self) -> bool:
        now = self.clock()
        due = sorted((h for h, _ in self.held.values() if h.not_before <= now), key=lambda h: (h.not_before, h.id))
        for item in due:
            channel = self.queue.source.channels.get(item.channel)
            entry = self.held.pop(item.id)  # its place in the queue's bound goes to its messages
            try:
                if channel is None:
                    log.warning("channel %s is in no channels file: dropping its held message", item.channel)
                    self.queue.dropped(None, "no channel")
                else:
                    payload = WebhookPayload.model_validate_json(item.payload)
                    cluster = self.cluster(channel)
                    if cluster is None:
                        await self.queue.add_requests(channel, formats.render_requests(channel, payload))
                    else:
                        await self._deliver(channel, payload, cluster, now, holding_lock=True)
            except QueueFullError:
                self.held[item.id] = entry
                return False
            except (ValueError, ValidationError) as err:  # the channel's template changed since receipt
                log.error("channel %s: cannot render a held message (%s): dropping it", item.channel, err)
                self.queue.dropped(channel, "render")
            except Exception:
                self.held[item.id] = entry  # kept (and stored): tried again
                raise
            assert self.store is not None
            self.store.unhold(item.id)
        return True

    async def _release_loop(self) -> None:
        while True:
            try:
                complete = await self.release_due()
            except Exception:
                log.exception("releasing held incident messages failed")
                complete = False
            upcoming = [h.not_before for h, _ in self.held.values()]
            delay = RETRY_FULL if not complete else (max(0.0, min(upcoming) - self.clock()) if upcoming else None)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    # -- polls -------------------------------------------------------------------------------------
    async def on_poll(self, cluster: str, incidents: list[Incident]) -> None:
        """After each poll of `cluster`: keep its states current and queue the updates and resolves due
        to the channels whose root-alert webhook this replica received (Alertmanager sends each to one
        replica, so no channel hears twice); the Lease holder also takes over the channels the
        Incidents record (a failover). A decision the queue has no room for waits for the next poll."""
        async with self._lock:
            await self._on_poll(cluster, incidents)

    async def _on_poll(self, cluster: str, incidents: list[Incident]) -> None:
        now = self.clock()
        before = self.states.get(cluster, {})
        leader = self.book.is_leader(cluster)
        current = dict(before)
        if leader:  # what other replicas sent, as the Incidents record it (a failover)
            sent = self.book.sent(cluster)
            for incident in incidents:
                if (record := sent.get(incident.name)) is not None:
                    adopted = notify.adopt(current.get(incident.name), incident, record.channels, record.last)
                    if adopted is not None:
                        current[incident.name] = adopted
        after, decisions = notify.follow(current, incidents, now, self.options(cluster), send=True)
        for incident, decision in decisions:
            batches = self._render_notices(incident, decision.kind, decision.channels, decision.previous, decision.peak)
            if not self.queue.has_room(sum(len(r) for _, r in batches)):
                log.warning("incident %s: the queue is full; its %s waits a poll", incident.name, decision.kind)
                after[incident.name] = decision.unsent
                continue
            await self._send(cluster, incident, decision.kind, batches)
        self.states[cluster] = after
        changed = {name: state for name, state in after.items() if before.get(name) != state}
        self._save(cluster, changed, [name for name in before if name not in after])

    async def analysis_ready(self, cluster: str, incident: Incident) -> None:
        """An LLM's analysis of `incident` arrived: send it to the channels this replica sent the
        incident's first message to (none yet: the first message will carry it). Best effort: a full
        queue drops it with a warning; the Incident keeps it."""
        state = self.states.get(cluster, {}).get(incident.name)
        if state is None or state.first_at is None:
            return
        analysis = self.book.analyses(cluster).get(incident.name)
        batches = self._render_notices(incident, "analysis", sorted(state.channels), analysis=analysis)
        await self._send(cluster, incident, "analysis", batches)

    async def _send(
        self, cluster: str, incident: Incident, kind: str, batches: list[tuple[GatewayChannel, list[RobotRequest]]]
    ) -> None:
        """Queue each channel's notice and count it; a channel whose queue filled up meanwhile (a shared
        Redis queue) misses it, with a warning."""
        for channel, requests in batches:
            try:
                await self.queue.add_requests(channel, requests)
            except QueueFullError:
                log.warning("channel %s: the queue is full; incident %s's %s is lost", channel.key, incident.name, kind)
                continue
            self.book.notified(cluster, incident.name, channel.key)
        log.info("incident %s: %s sent to %d channels", incident.name, kind, len(batches))

    def _render_notices(
        self,
        incident: Incident,
        kind: str,
        channels: Iterable[str],
        previous: int = 0,
        peak: int = 0,
        analysis: IncidentAnalysis | None = None,
    ) -> list[tuple[GatewayChannel, list[RobotRequest]]]:
        """The `kind` notice (`formats.render_notice`) for each of `channels` that still exists and
        takes notices."""
        out = []
        for key in channels:
            channel = self.queue.source.channels.get(key)
            if channel is None:
                continue  # deleted since: nobody to tell
            try:
                requests = formats.render_notice(channel, kind, incident, previous, peak, analysis)
            except ValueError as err:
                log.error("channel %s: cannot render incident %s's %s: %s", key, incident.name, kind, err)
                continue
            if requests:  # a webhook channel gets Alertmanager's payloads only, no notices
                out.append((channel, requests))
        return out

    def _save(self, cluster: str, changed: dict[str, notify.State], gone: list[str]) -> None:
        if self.store is None or not (changed or gone):
            return
        writes: dict[str, str | None] = {name: json.dumps(s.as_json(), sort_keys=True) for name, s in changed.items()}
        self.store.save_states(cluster, writes | dict.fromkeys(gone))


def _group_key(payload: str) -> str:
    try:
        return str(json.loads(payload).get("groupKey", ""))
    except ValueError:
        return ""
