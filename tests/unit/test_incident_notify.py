"""Incident notification timing (incidents/notify.py, pure): the hold, at most one update per interval
and only on material growth, one resolve; a scripted cascade over the real correlation and tracking."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from alertagent.discovery.facts import Evidence
from alertagent.discovery.snapshot import Edge, Graph, Node
from alertagent.incidents import notify
from alertagent.incidents.alerts import AlertView
from alertagent.incidents.correlate import correlate
from alertagent.incidents.track import FIRING, RESOLVED, Impact, Incident, advance

T0 = 1_800_000_000.0
WINDOW = 300.0


def incident(
    services: int = 3, root: str = "data/db", severity: str = "warning", state: str = FIRING, **fields: object
) -> Incident:
    impacted = tuple(Impact(f"shop/s{i:02d}", 1, 1, 1, root) for i in range(1, services))
    base = Incident(
        name="db-00000000",
        root=root,
        root_alerts=("DatabaseDown",),
        root_fingerprints=frozenset({"fp-root"}),
        impacted=impacted,
        alerts=services,
        suppressed=services - 1,
        fingerprints=frozenset({"fp-root"}),
        severity=severity,
        state=state,
        started=T0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


OPTIONS = notify.Options(hold=30.0, update_interval=60.0)


# --- the hold ---------------------------------------------------------------------------------------


def test_the_hold_ends_at_start_plus_hold_bounded_by_receipt() -> None:
    assert notify.hold_until(T0, T0 + 5, 30) == T0 + 30  # waits for the cascade to gather
    assert notify.hold_until(T0, T0 + 90, 30) == T0 + 90  # already past: at once
    assert notify.hold_until(T0 + 600, T0, 30) == T0 + 30  # a start in the future: never more than hold
    assert notify.hold_until(T0, T0, 0) == T0


# --- updates ----------------------------------------------------------------------------------------


def sent_state(shown: Incident, at: float = T0 + 30, channel: str = "team/oncall") -> notify.State:
    return notify.first_sent(None, shown, channel, at)


def test_nothing_is_sent_before_the_first_message() -> None:
    state = notify.State()
    assert notify.decide(incident(10), state, T0 + 900, OPTIONS) is None
    assert notify.decide(incident(10, state=RESOLVED, resolved=T0 + 800), state, T0 + 900, OPTIONS) is None


def test_growth_makes_one_update_after_the_interval() -> None:
    state = sent_state(incident(3))
    grown = incident(5)
    assert notify.decide(grown, state, T0 + 60, OPTIONS) is None  # 30 s after the first message: too soon
    decision = notify.decide(grown, state, T0 + 90, OPTIONS)
    assert decision is not None and decision.kind == "update"
    assert (decision.channels, decision.previous, decision.peak) == (("team/oncall",), 3, 5)
    assert decision.state.last_at == T0 + 90 and decision.state.shown == notify.Shown.of(grown)
    assert notify.decide(grown, decision.state, T0 + 500, OPTIONS) is None  # nothing new since


@pytest.mark.parametrize(
    ("change", "update"),
    [
        ({"alerts": 9, "suppressed": 8}, False),  # more alerts of the same services
        ({"started": T0 - 100}, False),
        ({"severity": "info"}, False),  # better severity
        ({"severity": "critical"}, True),  # worse severity
        ({"root": "data/disk"}, True),  # a new root
    ],
)
def test_only_material_growth_makes_an_update(change: dict[str, object], update: bool) -> None:
    state = sent_state(incident(3))
    changed = replace(incident(3), **change)  # type: ignore[arg-type]
    assert (notify.decide(changed, state, T0 + 900, OPTIONS) is not None) is update


def test_services_recovering_or_swapping_for_shown_ones_make_no_update() -> None:
    state = sent_state(incident(6))
    fewer = incident(3)
    assert notify.decide(fewer, state, T0 + 900, OPTIONS) is None
    other = replace(incident(3), impacted=(Impact("shop/new", 1, 1, 0, "data/db"),))
    assert notify.decide(other, state, T0 + 900, OPTIONS) is not None  # a service it did not show


# --- resolve ----------------------------------------------------------------------------------------


def test_one_resolve_once_a_first_message_went_out() -> None:
    state = notify.observe(sent_state(incident(4)), incident(7))
    resolved = incident(4, state=RESOLVED, resolved=T0 + 720)
    decision = notify.decide(resolved, state, T0 + 725, OPTIONS)
    assert decision is not None and decision.kind == "resolve" and decision.peak == 7
    assert notify.decide(resolved, decision.state, T0 + 735, OPTIONS) is None


def test_alertmanagers_resolved_root_webhook_after_the_incident_resolve_is_folded_into_it() -> None:
    state = notify.observe(sent_state(incident(4)), incident(4, root_fingerprints=frozenset({"fp-root", "fp-2"})))
    assert state.roots == {"fp-root", "fp-2"}
    states = {"db-00000000": state}
    assert notify.folded(states, "team/oncall", {"fp-root"}) is None  # not resolved yet: delivered as usual
    resolved = incident(4, state=RESOLVED, resolved=T0 + 720, root_fingerprints=frozenset())
    decision = notify.decide(resolved, notify.observe(state, resolved), T0 + 725, OPTIONS)
    assert decision is not None and decision.kind == "resolve"
    states = {"db-00000000": decision.state}
    assert decision.state.roots == {"fp-root", "fp-2"}  # kept once resolved
    assert notify.folded(states, "team/oncall", {"fp-root", "fp-2"}) == "db-00000000"
    assert notify.folded(states, "shop/other", {"fp-root"}) is None  # that channel got no resolve
    assert notify.folded(states, "team/oncall", {"fp-root", "fp-api"}) is None  # not only root alerts
    assert notify.folded(states, "team/oncall", set()) is None


def test_a_one_service_incident_sends_no_resolve_of_its_own() -> None:
    """Its end is Alertmanager's own resolved message: a second one would be noise."""
    state = notify.observe(sent_state(incident(1)), incident(1))
    assert notify.decide(incident(1, state=RESOLVED, resolved=T0 + 90), state, T0 + 95, OPTIONS) is None


def test_a_resolve_is_sent_at_once_even_right_after_an_update() -> None:
    decision = notify.decide(incident(5), sent_state(incident(3)), T0 + 90, OPTIONS)
    assert decision is not None
    resolved = notify.decide(incident(5, state=RESOLVED, resolved=T0 + 95), decision.state, T0 + 95, OPTIONS)
    assert resolved is not None and resolved.kind == "resolve"


def test_a_reopened_incident_updates_and_resolves_again() -> None:
    state = sent_state(incident(3))
    resolve = notify.decide(incident(3, state=RESOLVED, resolved=T0 + 100), state, T0 + 100, OPTIONS)
    assert resolve is not None
    reopened = notify.observe(resolve.state, incident(5))
    assert not reopened.resolved_sent
    update = notify.decide(incident(5), reopened, T0 + 200, OPTIONS)
    assert update is not None and update.kind == "update"
    again = notify.decide(incident(5, state=RESOLVED, resolved=T0 + 300), update.state, T0 + 300, OPTIONS)
    assert again is not None and again.kind == "resolve"


# --- channels, merges, failover, persistence -------------------------------------------------------------


def test_later_root_messages_add_their_channel_without_restarting() -> None:
    state = sent_state(incident(3), channel="team/a")
    later = notify.first_sent(state, incident(6), "team/b", T0 + 40)
    assert later.channels == {"team/a", "team/b"}
    assert (later.first_at, later.last_at, later.shown) == (state.first_at, state.last_at, state.shown)
    assert later.peak == 6


def test_a_merged_incident_hands_its_channels_over_and_sends_no_resolve() -> None:
    source = replace(incident(3), name="api-11111111")
    target = replace(incident(6), name="db-22222222")
    states = {"api-11111111": sent_state(source, channel="team/api")}
    merged_source = replace(source, state=RESOLVED, resolved=T0 + 100, merged_into="db-22222222")
    states, decisions = notify.follow(states, [merged_source, target], T0 + 100, OPTIONS, send=True)
    assert states["db-22222222"].channels == {"team/api"}
    assert [(i.name, d.kind, d.channels) for i, d in decisions] == [("db-22222222", "update", ("team/api",))]
    _, later = notify.follow(states, [merged_source, target], T0 + 500, OPTIONS, send=True)
    assert later == []  # handed over once; the merged one never resolves on its own


def test_followers_keep_states_but_only_the_leader_decides() -> None:
    states = {"db-00000000": sent_state(incident(3))}
    kept, decisions = notify.follow(states, [incident(8)], T0 + 900, OPTIONS, send=False)
    assert decisions == [] and kept["db-00000000"].peak == 8


def test_states_of_incidents_no_longer_listed_are_forgotten_in_time() -> None:
    states = {"db-00000000": sent_state(incident(3))}
    kept, _ = notify.follow(states, [], T0 + 3600, OPTIONS, send=True)
    assert "db-00000000" in kept  # a replica that just started may not list it yet
    gone, _ = notify.follow(states, [], T0 + 30 + notify.FORGET_AFTER, OPTIONS, send=True)
    assert gone == {}


def test_a_new_leader_adopts_the_channels_the_incident_records() -> None:
    shown = incident(4)
    adopted = notify.adopt(None, shown, ("team/b", "team/a"), T0 + 50)
    assert adopted is not None and adopted.channels == {"team/a", "team/b"} and adopted.first_at == T0 + 50
    assert notify.decide(shown, adopted, T0 + 900, OPTIONS) is None  # assumed seen as it is
    assert notify.adopt(None, shown, (), None) is None
    resolved = incident(4, state=RESOLVED, resolved=T0 + 40)
    done = notify.adopt(None, resolved, ("team/a",), T0 + 50)
    assert done is not None and done.resolved_sent  # notified after it resolved: its resolve went out
    mine = sent_state(shown, channel="team/c")
    assert notify.adopt(mine, shown, ("team/a",), T0 + 50).channels == {"team/a", "team/c"}  # type: ignore[union-attr]


def test_the_state_survives_json() -> None:
    state = notify.observe(sent_state(incident(3)), incident(9))
    assert notify.State.from_json(state.as_json()) == state
    assert notify.State.from_json(notify.State().as_json()) == notify.State()


# --- a scripted cascade ----------------------------------------------------------------------------------


def cascade_graph() -> Graph:
    """A database, 20 services above it in three tiers (4 call it, 8 call those, 8 call those)."""
    tiers = [[f"t1-{i}" for i in range(4)], [f"t2-{i}" for i in range(8)], [f"t3-{i}" for i in range(8)]]
    names = ["db", *(n for tier in tiers for n in tier)]
    edges = [("t1-" + str(i), "db") for i in range(4)]
    edges += [(f"t2-{i}", f"t1-{i % 4}") for i in range(8)] + [(f"t3-{i}", f"t2-{i}") for i in range(8)]
    said = (Evidence("annotation", "test"),)
    return Graph.build(
        [Node(f"shop/{n}", "service", "shop", n) for n in names],
        [Edge(f"shop/{a}", f"shop/{b}", said) for a, b in edges],
        [],
    )


def alert_of(service: str, at: float) -> AlertView:
    return AlertView(f"shop/{service}", T0 + at, f"fp-{service}", "Down", "critical", suppressed=service != "db")


@pytest.mark.parametrize("interval", [30.0, 60.0, 300.0])
def test_a_cascade_of_20_services_joining_over_2_minutes(interval: float) -> None:
    """The database fails at 0; its alert's webhook reaches the gateway at 5 s and is held until 30 s;
    20 services join over 120 s; everything resolves at 600 s. Polls every 10 s."""
    graph = cascade_graph()
    joining = [n.name for n in graph.nodes if n.name != "db"]
    starts = {"db": 0.0} | {name: 6.0 * (i + 1) for i, name in enumerate(sorted(joining))}  # the last at 120 s
    options = notify.Options(hold=30.0, update_interval=interval)
    received, not_before = T0 + 5, notify.hold_until(T0, T0 + 5, options.hold)
    incidents: list[Incident] = []
    states: dict[str, notify.State] = {}
    messages: list[tuple[float, str, int]] = []  # (time, kind, services shown)
    for now in [T0 + 10.0 * k for k in range(91)]:
        alerts = [alert_of(s, at) for s, at in starts.items() if T0 + at <= now < T0 + 600]
        incidents = advance(incidents, correlate(graph, alerts, WINDOW), now)
        (root,) = [i for i in incidents if "fp-db" in i.root_fingerprints] or [None]
        if root is not None and received <= now and now >= not_before and not states:
            states[root.name] = notify.first_sent(None, root, "team/oncall", now)  # the held webhook goes out
            messages.append((now, "first", root.services))
        states, decisions = notify.follow(states, incidents, now, options, send=True)
        messages += [(now, d.kind, i.services if d.kind == "update" else d.peak) for i, d in decisions]
    kinds = [kind for _, kind, _ in messages]
    assert kinds.count("first") == 1 and kinds[0] == "first" and messages[0][0] == T0 + 30
    assert kinds.count("resolve") == 1 and kinds[-1] == "resolve" and messages[-1][2] == 21
    updates = [m for m in messages if m[1] == "update"]
    assert 1 <= len(updates) <= math.ceil(120 / interval)  # never one per joining service
    times = [at for at, _, _ in messages if at < T0 + 600]
    assert all(b - a >= interval for a, b in itertools.pairwise(times))
    assert updates[-1][2] == 21  # the last update shows the whole cascade
    assert len({i.name for i in incidents}) == 1
