"""The incident engine's logic in the gateway, with only time faked: the Lease's bodies and decisions
(expiry by renewTime or by a record seen unchanged, waiting until expiry, leadership lasting one lease
duration), one cluster's state poll by poll (metrics' counts, reading Incidents back), the book, and an
alert storm: thousands of alerts over 500 services make a few incidents and a bounded number of writes
per minute."""

from __future__ import annotations

import asyncio
import math
import zlib
from datetime import UTC, datetime
from typing import Any

from alertagent.discovery.facts import Evidence
from alertagent.discovery.snapshot import Edge, Graph, Node
from alertagent.gateway.incidents import Elector, EngineState, IncidentBook, acquired
from alertagent.incidents import record
from alertagent.incidents.alerts import GettableAlert
from alertagent.incidents.track import FIRING, RESOLVED, Incident
from alertagent.plans.lease import LeaseOptions, lease_expiry, microtime, parse_time, released, renewed
from alertagent.render.robots.models import IncidentSettings

T0 = 1_800_000_000.0
CLUSTER = "monitoring/main"
SETTINGS = IncidentSettings(alertmanager_url="http://am:9093", graph_namespace="alertagent", window=300)


class Clock:
    def __init__(self, wall: float = T0, mono: float = 1000.0) -> None:
        self.wall, self.mono = wall, mono

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def graph(*edges: str) -> Graph:
    pairs = [tuple(e.split(">")) for e in edges]
    names = sorted({n for p in pairs for n in p})
    said = (Evidence("annotation", "test"),)
    return Graph.build(
        [Node(n, "service", n.split("/")[0], n.split("/")[1]) for n in names],
        [Edge(a, b, said) for a, b in pairs],
        [],
    )


def gettable(node: str, name: str, at: float, inhibited: bool = False, silenced: bool = False) -> GettableAlert:
    namespace, service = node.split("/")
    return GettableAlert.model_validate(
        {
            "fingerprint": f"{node}/{name}",
            "labels": {"alertname": name, "service": service, "namespace": namespace, "severity": "critical"},
            "startsAt": datetime.fromtimestamp(at, UTC).isoformat(),
            "status": {
                "state": "suppressed" if inhibited or silenced else "active",
                "inhibitedBy": ["x"] if inhibited else [],
                "silencedBy": ["y"] if silenced else [],
            },
        }
    )


# -- the Lease -------------------------------------------------------------------------------------


def lease_of(holder: str, renew: float, rv: str = "7", duration: int = 15) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "main-incidents", "namespace": "monitoring", "resourceVersion": rv},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": microtime(renew),
            "renewTime": microtime(renew),
            "leaseTransitions": 2,
        },
    }


def test_a_new_lease_names_its_holder_with_micro_times() -> None:
    body = acquired(None, CLUSTER, "gw-a", T0 + 0.25, LeaseOptions())
    assert body["metadata"]["name"] == "main-incidents" and body["metadata"]["namespace"] == "monitoring"
    assert body["spec"]["holderIdentity"] == "gw-a" and body["spec"]["leaseDurationSeconds"] == 15
    assert body["spec"]["renewTime"] == "2027-01-15T08:00:00.250000Z" and body["spec"]["leaseTransitions"] == 0
    assert parse_time(body["spec"]["renewTime"]) == T0 + 0.25


def test_taking_over_counts_a_transition_and_keeps_the_resource_version() -> None:
    taken = acquired(lease_of("gw-a", T0), CLUSTER, "gw-b", T0 + 20, LeaseOptions())
    assert taken["metadata"]["resourceVersion"] == "7"  # a concurrent taker loses with 409
    assert taken["spec"]["holderIdentity"] == "gw-b" and taken["spec"]["leaseTransitions"] == 3
    again = renewed(taken, T0 + 25, LeaseOptions())
    assert again["spec"]["holderIdentity"] == "gw-b" and parse_time(again["spec"]["renewTime"]) == T0 + 25
    gone = released(again, T0 + 26)
    assert gone["spec"]["holderIdentity"] == "" and lease_expiry(gone) == -math.inf


def test_another_holders_lease_expires_a_lease_duration_after_its_renewal() -> None:
    clock = Clock()
    elector = Elector(CLUSTER, "gw-b", LeaseOptions(), lambda: clock.wall, lambda: clock.mono)
    lease = lease_of("gw-a", T0)
    elector.observe(lease)
    clock.tick(14.9)
    assert not elector.expired(lease)
    assert 0.1 < elector.wait(lease) < 0.2  # the next attempt just after expiry, not a renew interval later
    clock.tick(0.1)
    assert elector.expired(lease)


def test_a_lease_renewed_in_the_future_by_a_skewed_clock_expires_when_seen_unchanged() -> None:
    clock = Clock()
    elector = Elector(CLUSTER, "gw-b", LeaseOptions(), lambda: clock.wall, lambda: clock.mono)
    lease = lease_of("gw-a", T0 + 3600)  # the holder's clock is an hour ahead
    elector.observe(lease)
    clock.tick(10)
    elector.observe(lease)  # the same record: not renewed since
    assert not elector.expired(lease)
    clock.tick(5)
    assert elector.expired(lease)
    renewed_lease = lease_of("gw-a", T0 + 3620, rv="8")
    elector.observe(renewed_lease)  # renewed: the holder lives
    assert not elector.expired(renewed_lease)


def test_an_empty_holder_may_be_taken_at_once() -> None:
    clock = Clock()
    elector = Elector(CLUSTER, "gw-b", LeaseOptions(), lambda: clock.wall, lambda: clock.mono)
    lease = released(lease_of("gw-a", T0), T0)
    elector.observe(lease)
    assert elector.expired(lease)


def test_leadership_lasts_one_lease_duration_after_the_last_renewal() -> None:
    clock = Clock()
    elector = Elector(CLUSTER, "gw-a", LeaseOptions(), lambda: clock.wall, lambda: clock.mono)
    assert not elector.leader
    elector.renewed_at = clock.mono
    clock.tick(14.9)
    assert elector.leader
    clock.tick(0.1)
    assert not elector.leader  # renewals failed for a lease duration: it stops writing


# -- one cluster's state ---------------------------------------------------------------------------


def test_a_poll_counts_new_incidents_alerts_and_suppressed_alerts_once() -> None:
    state = EngineState(CLUSTER, SETTINGS)
    g = graph("shop/api>data/db", "shop/web>shop/api")
    alerts = [
        gettable("data/db", "DbDown", T0),
        gettable("shop/api", "ApiErrors", T0 + 10, inhibited=True),
        gettable("shop/web", "WebErrors", T0 + 20, inhibited=True, silenced=True),
        gettable("other/batch", "BatchLate", T0 + 5),
    ]
    first = state.advance(alerts, g, T0 + 30)
    assert sorted(i.root for i in first.opened) == ["alert:other/batch", "data/db"]  # batch: in no graph
    assert first.new_alerts == 4 and first.new_suppressed == {"inhibited": 2, "silenced": 1}
    again = state.advance(alerts, g, T0 + 40)
    assert again.opened == [] and again.new_alerts == 0 and again.new_suppressed == {"inhibited": 0, "silenced": 0}
    done = state.advance([], g, T0 + 50)
    assert sorted((i.root, peak) for i, peak in done.closed) == [("alert:other/batch", 1), ("data/db", 3)]
    assert {i.state for i in state.incidents} == {RESOLVED}


def test_a_new_leader_reads_the_incidents_back_and_continues_them() -> None:
    g = graph("shop/api>data/db")
    leader = EngineState(CLUSTER, SETTINGS)
    alerts = [gettable("data/db", "DbDown", T0), gettable("shop/api", "ApiErrors", T0 + 10)]
    leader.advance(alerts, g, T0 + 30)
    (incident,) = leader.incidents
    sent = record.Sent(1, T0 + 40, ("team/robot",))
    stored = {
        **record.incident_object(incident, CLUSTER, "data"),
        "status": record.incident_status(incident, sent),
    }
    stored["metadata"] = {**stored["metadata"], "namespace": "data"}
    foreign = {**stored, "metadata": {"name": "x", "namespace": "data"}, "spec": {"cluster": "other/one"}}
    follower = EngineState(CLUSTER, SETTINGS)  # started later: it saw only the api alert
    follower.advance([alerts[1]], g, T0 + 35)
    counts = follower.load([stored, foreign])
    assert counts == {incident.name: sent}
    assert [i.name for i in follower.incidents] == [incident.name]
    assert follower.written[incident.name].namespace == "data"
    follower.advance(alerts, g, T0 + 60)
    (continued,) = follower.incidents
    assert continued.name == incident.name and continued.state == FIRING and continued.services == 2
    plan = follower.plan(T0 + 60, {incident.name: sent})
    assert plan.writes == ()  # what was written already says this


def test_a_replica_that_never_wrote_plans_creates_only_for_what_is_not_written() -> None:
    state = EngineState(CLUSTER, SETTINGS)
    state.advance([gettable("data/db", "DbDown", T0)], graph(), T0 + 10)
    (write,) = state.plan(T0 + 10, {}).writes
    assert write.op == "create" and write.namespace == "data"
    state.wrote(write, "data", T0 + 10)
    assert state.plan(T0 + 20, {}).writes == ()


# -- the book --------------------------------------------------------------------------------------


def test_the_book_finds_the_incident_an_alert_is_the_root_of() -> None:
    book = IncidentBook(clock=lambda: T0 + 99)
    state = EngineState(CLUSTER, SETTINGS)
    g = graph("shop/api>data/db")
    state.advance(
        [gettable("data/db", "DbDown", T0), gettable("shop/api", "ApiErrors", T0 + 5), gettable("x/y", "Lone", T0)],
        g,
        T0 + 10,
    )
    seen: list[tuple[str, int]] = []

    async def subscriber(cluster: str, incidents: list[Incident]) -> None:
        seen.append((cluster, len(incidents)))

    book.subscribe(subscriber)
    book._attach(CLUSTER, SETTINGS)
    asyncio.run(book._publish(CLUSTER, state.incidents))
    assert seen == [(CLUSTER, 2)]
    found = book.root_incident(CLUSTER, "data/db/DbDown")
    assert found is not None and found.root == "data/db"
    assert book.root_incident(CLUSTER, "shop/api/ApiErrors") is None  # not a root
    assert book.root_incident(CLUSTER, "x/y/Lone") is None  # one service: no incident section
    book.notified(CLUSTER, found.name, "team/robot")
    book.notified(CLUSTER, found.name, "team/robot")
    assert book.sent(CLUSTER)[found.name] == record.Sent(2, T0 + 99, ("team/robot",))
    assert book._take_changed(CLUSTER) == {found.name}
    view = book.as_json()[CLUSTER]
    assert view["leader"] is False and "am:9093" not in str(view)
    assert {i["name"]: i["notifications"]["sent"] for i in view["incidents"]}[found.name] == 2


# -- an alert storm ----------------------------------------------------------------------------------


def storm_graph() -> tuple[Graph, list[str]]:
    """10 stacks of 50 services: a database, 9 APIs calling it, 20 services calling the APIs, 20
    front ends calling those."""
    edges, services = [], []
    for s in range(10):
        db = f"stack{s}/db"
        apis = [f"stack{s}/api{i}" for i in range(9)]
        mids = [f"stack{s}/mid{i}" for i in range(20)]
        fronts = [f"stack{s}/web{i}" for i in range(20)]
        edges += [f"{a}>{db}" for a in apis]
        edges += [f"{m}>{apis[i % 9]}" for i, m in enumerate(mids)]
        edges += [f"{f}>{mids[i]}" for i, f in enumerate(fronts)]
        services += [db, *apis, *mids, *fronts]
    return graph(*edges), services


def test_an_alert_storm_makes_a_few_incidents_and_a_bounded_number_of_writes_per_minute() -> None:
    g, services = storm_graph()
    assert len(services) == 500
    options = record.WriteOptions(min_interval=10, max_per_poll=10)
    state = EngineState(CLUSTER, SETTINGS, options)
    # 10 alerts per service (5,000): databases first, then the tiers above them over two minutes.
    tier_start = {"db": 0, "api": 10, "mid": 40, "web": 70}
    starts = {
        node: T0 + tier_start[tier] + (zlib.crc32(node.encode()) % 30 if tier != "db" else 0)
        for node in services
        for tier in tier_start
        if node.split("/")[1].startswith(tier)
    }
    writes: list[float] = []
    for poll in range(0, 300, 10):  # 5 minutes, a poll every 10 s
        now = T0 + poll
        firing = [gettable(node, f"Alert{k}", at) for node, at in starts.items() if at <= now for k in range(10)]
        if poll >= 240:
            firing = []  # the outage ends
        state.advance(firing, g, now)
        if poll == 230:
            peak = max(i.alerts for i in state.incidents)
        for write in state.plan(now, {}).writes:
            state.wrote(write, write.namespace, now)
            writes.append(now)
    assert len(state.incidents) == 10  # one per stack
    assert peak == 500  # 50 services of 10 alerts each, at the height of the storm
    assert all(i.services == 50 and i.state == RESOLVED and i.alerts == 0 for i in state.incidents)
    per_minute = [sum(1 for t in writes if T0 + m * 60 <= t < T0 + (m + 1) * 60) for m in range(5)]
    print(f"storm: 5000 alerts, 500 services -> {len(state.incidents)} incidents; writes per minute {per_minute}")
    assert max(per_minute) <= 60  # at most max_per_poll per poll
    assert sum(per_minute) <= 10 * (1 + 300 / 10)  # no more than one write per incident per poll
