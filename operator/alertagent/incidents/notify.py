"""When the gateway tells a channel what about an incident (pure): one message per cascade, never one
per joining service.

The channels are those that received a webhook with one of the incident's root alerts (Alertmanager
decides who is paged; nothing here adds a receiver). For each incident the gateway keeps a `State`:

- **Hold**: a webhook carrying a root alert of a firing incident waits until `started + hold`, and never
  more than `hold` after it was received (`hold_until`), so the cascade has gathered when the message
  goes out (Alertmanager's `group_wait` plays the same part for one group). Its message is the
  channel's normal one, every alert of the payload included, with the incident section added when
  the incident has more than one service. Sending it starts the incident's notifications
  (`first_sent`).
- **Update**: while firing, at most one per `update_interval` seconds (counted from the last message),
  and only when the incident grew materially since the last message showed it (`grew`: a service it
  did not show, a new root, a worse severity); services joining in between make one update.
- **Resolve**: one, when the incident resolves, and only if a first message was sent. A reopened
  incident (a flapping alert) may resolve again later; an incident merged into another hands its
  state over (`merged`) instead of sending a resolve. Alertmanager's own resolved webhook for the root
  alerts, arriving after that resolve went to the channel, is folded into it (`folded`): the channel
  hears the recovery once.

Times are epoch seconds. All functions return new values (states are frozen)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .alerts import severity_rank
from .track import RESOLVED, Incident


@dataclass(frozen=True)
class Options:
    """`hold`: seconds a root alert's first message waits for the cascade, from the incident's start
    (at most this from its receipt); `update_interval`: seconds between two messages about one
    incident at least. The AlertmanagerCluster's spec.incidents.hold and updateInterval."""

    hold: float = 30.0
    update_interval: float = 300.0


@dataclass(frozen=True)
class Shown:
    """What the last message showed of an incident: its root, services and severity rank (lower is
    worse, `alerts.severity_rank`)."""

    root: str
    services: frozenset[str]
    rank: int

    @classmethod
    def of(cls, incident: Incident) -> Shown:
        return cls(incident.root, incident.nodes, severity_rank(incident.severity))


@dataclass(frozen=True)
class State:
    """An incident's notifications: `channels` (`<ns>/<name>`) that received its root alerts'
    webhooks; `first_at` when the first message went out (None: not yet); `last_at` the last message;
    `shown` what that showed; `resolved_sent` whether this firing period's resolve went out; `peak`
    the most services it had while followed; `roots` the root alerts (Alertmanager fingerprints) it
    had while firing."""

    channels: frozenset[str] = frozenset()
    first_at: float | None = None
    last_at: float | None = None
    shown: Shown | None = None
    resolved_sent: bool = False
    peak: int = 0
    roots: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (sorted lists), read back by `from_json`."""
        shown = self.shown
        return {
            "channels": sorted(self.channels),
            "firstAt": self.first_at,
            "lastAt": self.last_at,
            "shown": {"root": shown.root, "services": sorted(shown.services), "rank": shown.rank} if shown else None,
            "resolvedSent": self.resolved_sent,
            "peak": self.peak,
            "roots": sorted(self.roots),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> State:
        """The state `as_json` wrote. Raises KeyError or TypeError on another shape."""
        shown = data.get("shown")
        return cls(
            channels=frozenset(data["channels"]),
            first_at=data.get("firstAt"),
            last_at=data.get("lastAt"),
            shown=Shown(shown["root"], frozenset(shown["services"]), int(shown["rank"])) if shown else None,
            resolved_sent=bool(data.get("resolvedSent")),
            peak=int(data.get("peak", 0)),
            roots=frozenset(data.get("roots") or ()),  # states stored before it have none
        )


@dataclass(frozen=True)
class Decision:
    """A message to send to `channels` (sorted): an `update` or the `resolve`. `previous` is the number
    of services the last message showed, `peak` the most the incident had; `state` is the incident's
    state once it is sent, `unsent` its state if it cannot be sent now (decided again next poll)."""

    kind: Literal["update", "resolve"]
    channels: tuple[str, ...]
    previous: int
    peak: int
    state: State = field(repr=False)
    unsent: State = field(repr=False)


def hold_until(started: float, received: float, hold: float) -> float:
    """When a root alert's webhook received at `received` may go out: `started + hold`, but not before
    it arrived and never later than `received + hold` (a clock skew or an incident that started in the
    future cannot hold it longer)."""
    return min(max(received, started + hold), received + hold)


def first_sent(state: State | None, incident: Incident, channel: str, now: float) -> State:
    """The state once a message with the incident's root alert went to `channel` at `now`. The first
    one (or the first after a resolve was sent) starts the incident's notifications: what it showed is
    what updates compare with. Later ones (another channel, Alertmanager repeating) only add the
    channel."""
    state = state or State()
    channels = state.channels | {channel}
    peak = max(state.peak, incident.services)
    roots = state.roots | incident.root_fingerprints
    if state.first_at is None or state.resolved_sent:
        return State(channels, now, now, Shown.of(incident), False, peak, roots)
    return replace(state, channels=channels, peak=peak, roots=roots)


def observe(state: State, incident: Incident) -> State:
    """The state after a poll saw `incident`: its peak, and a reopened incident (firing again after its
    resolve went out) may be updated and resolved again."""
    reopened = state.resolved_sent and incident.state != RESOLVED
    roots = state.roots | incident.root_fingerprints if incident.state != RESOLVED else state.roots
    return replace(
        state,
        peak=max(state.peak, incident.services),
        resolved_sent=state.resolved_sent and not reopened,
        roots=roots,
    )


def folded(states: Mapping[str, State], channel: str, resolved: Collection[str]) -> str | None:
    """The incident (by name) whose resolve message already told `channel` that the alerts `resolved`
    (fingerprints of an all-resolved webhook) are over: they were all its root alerts. None when there
    is none (the webhook is delivered as usual: e.g. it came before the incident resolved)."""
    if not resolved:
        return None
    wanted = frozenset(resolved)
    for name, state in sorted(states.items()):
        if state.resolved_sent and channel in state.channels and wanted <= state.roots:
            return name
    return None


def grew(incident: Incident, shown: Shown) -> bool:
    """Whether the incident changed enough for an update: a service the last message did not show, a
    new root, or a worse severity. Services recovering, alert counts and start times do not count."""
    return (
        incident.root != shown.root
        or not incident.nodes <= shown.services
        or severity_rank(incident.severity) < shown.rank
    )


def decide(incident: Incident, state: State, now: float, options: Options) -> Decision | None:
    """The message to send about `incident` now, if any (see the module docstring). Call `observe`
    first; only the incident engine's leader sends."""
    if state.first_at is None or not state.channels or state.shown is None:
        return None
    channels = tuple(sorted(state.channels))
    previous = len(state.shown.services)
    if incident.state == RESOLVED:
        # A one-service incident's end is Alertmanager's own resolved message: no second one.
        if state.resolved_sent or incident.merged_into or state.peak < 2:
            return None
        after = replace(state, resolved_sent=True, last_at=now)
        return Decision("resolve", channels, previous, state.peak, after, state)
    if state.resolved_sent or not grew(incident, state.shown):
        return None
    if state.last_at is not None and now - state.last_at < options.update_interval:
        return None
    after = replace(state, last_at=now, shown=Shown.of(incident), peak=max(state.peak, incident.services))
    return Decision("update", channels, previous, after.peak, after, state)


def adopt(state: State | None, incident: Incident, channels: Iterable[str], last: float | None) -> State | None:
    """The state of an incident whose notifications another replica sent (its Incident's
    status.notifications: `channels` notified, `last` sent at): a new leader takes over their channels,
    assuming they saw the incident as it is now (so only further growth makes an update) and, for a
    resolved incident last notified after it resolved, that its resolve went out. None when nothing
    was sent."""
    channels = frozenset(channels)
    if state is not None:
        return state if channels <= state.channels else replace(state, channels=state.channels | channels)
    if not channels or last is None:
        return None
    resolved_sent = incident.state == RESOLVED and incident.resolved is not None and last >= incident.resolved
    return State(channels, last, last, Shown.of(incident), resolved_sent, incident.services)


def merged(into: State | None, source: State) -> State:
    """The state of an incident that took over another's alerts (`source`, merged into it): the
    channels of both, the earlier first message, the later last one; what was shown stays the
    target's when it sent one (else the source's, so the merge's growth makes one update)."""
    if into is None or into.first_at is None:
        base = source if into is None else replace(source, channels=source.channels | into.channels)
        return replace(base, peak=max(source.peak, into.peak if into else 0))
    if source.first_at is None:
        return replace(into, channels=into.channels | source.channels)
    last = max((t for t in (into.last_at, source.last_at) if t is not None), default=None)
    return replace(
        into,
        channels=into.channels | source.channels,
        first_at=min(into.first_at, source.first_at),
        last_at=last,
        peak=max(into.peak, source.peak),
    )


FORGET_AFTER = 7 * 86400.0  # seconds a state outlives its last message once the engine no longer lists it


def follow(
    states: Mapping[str, State],
    incidents: Iterable[Incident],
    now: float,
    options: Options,
    send: bool,
    forget_after: float = FORGET_AFTER,
) -> tuple[dict[str, State], list[tuple[Incident, Decision]]]:
    """One poll for a cluster: `states` by incident name, the cluster's `incidents` after the poll.
    Returns the states to keep and, when `send` (the leader), the messages to send, in incident order.
    A merged incident's state is handed to the one that took its alerts. The state of an incident the
    engine no longer lists is kept until `forget_after` seconds after its last message (the engine
    lists resolved incidents until their retention; a replica that just started may not list one
    yet), or dropped at once when its resolve went out."""
    incidents = list(incidents)
    by_name = {i.name: i for i in incidents}
    out = {
        name: state
        for name, state in states.items()
        if name in by_name
        or (not state.resolved_sent and now - (state.last_at or state.first_at or now) < forget_after)
    }
    for incident in incidents:  # a merged incident's state goes to the one that took its alerts
        source = out.get(incident.name)
        target = incident.merged_into
        if source is not None and target in by_name and target != incident.name and source.channels:
            out[target] = merged(out.get(target), source)
            out[incident.name] = replace(source, channels=frozenset())
    decisions = []
    for incident in incidents:
        state = out.get(incident.name)
        if state is None:
            continue
        state = observe(state, incident)
        decision = decide(incident, state, now, options) if send else None
        if decision is not None:
            decisions.append((incident, decision))
            state = decision.state
        out[incident.name] = state
    return out, decisions
