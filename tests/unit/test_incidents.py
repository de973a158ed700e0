"""Incident correlation and tracking (pure): chains, diamonds, cycles, independent outages, a late root,
the root resolving first, flapping; and the properties (arrival order, unrelated alerts)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from alertagent.discovery.facts import Evidence
from alertagent.discovery.snapshot import Edge, Graph, Node
from alertagent.incidents.alerts import AlertView, alert_views
from alertagent.incidents.correlate import Cascade, correlate
from alertagent.incidents.track import FIRING, RESOLVED, Incident, advance

WINDOW = 300.0
T0 = 1_800_000_000.0


def graph(*edges: str, extra: tuple[str, ...] = ()) -> Graph:
    """Edges as "a>b" (a calls b); nodes are Services in namespace shop."""
    pairs = [tuple(e.split(">")) for e in edges]
    names = sorted({n for p in pairs for n in p} | set(extra))
    nodes = [Node(f"shop/{n}", "service", "shop", n) for n in names]
    said = (Evidence("annotation", "test"),)
    return Graph.build(nodes, [Edge(f"shop/{a}", f"shop/{b}", said) for a, b in pairs], [])


def alert(service: str, at: float = 0.0, severity: str = "critical", name: str = "", fp: str = "") -> AlertView:
    return AlertView(
        node=f"shop/{service}",
        started=T0 + at,
        fingerprint=fp or f"{service}-{name or 'Down'}",
        name=name or f"{service.capitalize()}Down",
        severity=severity,
        suppressed=False,
    )


def shape(cascades: list[Cascade]) -> list[tuple[str, list[tuple[str, int]]]]:
    return [(c.root, [(m.node, m.depth) for m in c.members]) for c in cascades]


# --- correlation ----------------------------------------------------------------------------------


def test_a_chain_is_one_cascade_rooted_at_the_bottom() -> None:
    g = graph("web>api", "api>db")
    cascades = correlate(g, [alert("web", 40), alert("api", 20), alert("db", 0)], WINDOW)
    assert shape(cascades) == [("shop/db", [("shop/db", 0), ("shop/api", 1), ("shop/web", 2)])]


def test_services_connected_through_a_quiet_service_are_one_cascade() -> None:
    g = graph("web>api", "api>db")
    assert shape(correlate(g, [alert("web", 30), alert("db", 0)], WINDOW)) == [
        ("shop/db", [("shop/db", 0), ("shop/web", 2)])
    ]


def test_a_diamond_with_two_alerting_roots_picks_the_worse_then_the_earlier() -> None:
    g = graph("api>db1", "api>db2")
    alerts = [alert("api", 30), alert("db1", 10, "warning"), alert("db2", 20, "critical")]
    assert shape(correlate(g, alerts, WINDOW)) == [("shop/db2", [("shop/db2", 0), ("shop/api", 1), ("shop/db1", 0)])]
    same = [alert("api", 30), alert("db1", 10), alert("db2", 20)]
    assert correlate(g, same, WINDOW)[0].root == "shop/db1"


def test_a_cycle_is_one_cascade_and_its_members_are_level() -> None:
    g = graph("a>b", "b>a", "c>a")
    cascades = correlate(g, [alert("a", 10, "warning"), alert("b", 5, "critical"), alert("c", 20)], WINDOW)
    assert [c.root for c in cascades] == ["shop/b"]
    assert {m.node for m in cascades[0].members} == {"shop/a", "shop/b", "shop/c"}


def test_two_independent_outages_at_once_are_two_cascades() -> None:
    g = graph("web>api", "api>db", "shop-ui>cart", "cart>redis")
    alerts = [alert("api", 10), alert("db", 0), alert("cart", 12), alert("redis", 2)]
    assert [c.root for c in correlate(g, alerts, WINDOW)] == ["shop/db", "shop/redis"]


def test_alerts_far_apart_in_time_are_separate_cascades() -> None:
    g = graph("api>db")
    assert [c.root for c in correlate(g, [alert("db", 0), alert("api", WINDOW + 1)], WINDOW)] == ["shop/db", "shop/api"]


def test_alerts_naming_no_node_stand_alone() -> None:
    g = graph("api>db")
    raw = [
        {
            "fingerprint": "1",
            "labels": {"alertname": "DbDown", "service": "db", "namespace": "shop"},
            "startsAt": "2027-01-15T08:00:00Z",
        },
        {
            "fingerprint": "2",
            "labels": {"alertname": "NodeDown", "instance": "n1"},
            "startsAt": "2027-01-15T08:00:05Z",
            "status": {"state": "suppressed", "inhibitedBy": ["x"], "silencedBy": []},
        },
    ]
    views = alert_views(raw, g)
    assert [(v.node, v.suppressed, v.inhibited) for v in views] == [
        ("alert:/NodeDown", True, True),
        ("shop/db", False, False),
    ]
    assert views[1].started == datetime(2027, 1, 15, 8, 0, tzinfo=UTC).timestamp()
    assert [c.root for c in correlate(g, views, WINDOW)] == ["shop/db", "alert:/NodeDown"]


# --- properties -----------------------------------------------------------------------------------

SERVICES = [f"s{i}" for i in range(8)]
edge_lists = st.lists(st.tuples(st.sampled_from(SERVICES), st.sampled_from(SERVICES)), max_size=14)
alert_lists = st.lists(
    st.tuples(st.sampled_from(SERVICES), st.integers(0, 900), st.sampled_from(["critical", "warning", "info"])),
    min_size=1,
    max_size=12,
    unique_by=lambda t: (t[0], t[1]),
)


def _graph_of(edges: list[tuple[str, str]]) -> Graph:
    return graph(*(f"{a}>{b}" for a, b in edges if a != b), extra=tuple(SERVICES))


def _alerts_of(items: list[tuple[str, int, str]]) -> list[AlertView]:
    return [alert(s, at, sev, fp=f"{s}-{at}") for s, at, sev in items]


@settings(max_examples=150, deadline=None)
@given(edge_lists, alert_lists, st.randoms(use_true_random=False))
def test_the_order_of_arrival_does_not_change_the_result(
    edges: list[tuple[str, str]], items: list[tuple[str, int, str]], rnd: random.Random
) -> None:
    g = _graph_of(edges)
    alerts = _alerts_of(items)
    shuffled = list(alerts)
    rnd.shuffle(shuffled)
    assert correlate(g, alerts, WINDOW) == correlate(g, shuffled, WINDOW)


@settings(max_examples=150, deadline=None)
@given(edge_lists, alert_lists, st.integers(0, 900))
def test_an_unrelated_alert_never_changes_an_existing_cascade(
    edges: list[tuple[str, str]], items: list[tuple[str, int, str]], at: int
) -> None:
    g = graph(*(f"{a}>{b}" for a, b in edges if a != b), extra=(*SERVICES, "loner"))
    alerts = _alerts_of(items)
    before = correlate(g, alerts, WINDOW)
    after = correlate(g, [*alerts, alert("loner", at)], WINDOW)
    assert [c for c in after if c.root != "shop/loner"] == before
    assert [c.root for c in after if "shop/loner" in c.nodes] == ["shop/loner"]


@settings(max_examples=100, deadline=None)
@given(edge_lists, alert_lists)
def test_every_alert_is_in_exactly_one_cascade(edges: list[tuple[str, str]], items: list[tuple[str, int, str]]) -> None:
    alerts = _alerts_of(items)
    cascades = correlate(_graph_of(edges), alerts, WINDOW)
    assert sorted(a for c in cascades for a in c.alerts) == sorted(alerts)


# --- tracking over time ---------------------------------------------------------------------------


def run(g: Graph, polls: list[tuple[float, list[AlertView]]]) -> list[list[Incident]]:
    incidents: list[Incident] = []
    history = []
    for now, alerts in polls:
        incidents = advance(incidents, correlate(g, alerts, WINDOW), T0 + now)
        history.append(incidents)
    return history


def test_a_growing_cascade_keeps_one_incident_and_says_who_joined() -> None:
    g = graph("web>api", "api>db")
    history = run(
        g,
        [
            (5, [alert("db", 0)]),
            (30, [alert("db", 0), alert("api", 20)]),
            (60, [alert("db", 0), alert("api", 20), alert("web", 50)]),
        ],
    )
    names = {i.name for step in history for i in step}
    assert len(names) == 1
    last = history[-1][0]
    assert last.root == "shop/db" and [(i.node, i.depth) for i in last.impacted] == [("shop/api", 1), ("shop/web", 2)]
    assert [e.text for e in last.timeline] == [
        "first alert: DbDown on shop/db",
        "shop/api joined (depth 1)",
        "shop/web joined (depth 2)",
    ]
    assert [step[0].changed for step in history] == [True, True, True]
    assert (
        advance(history[-1], correlate(g, [alert("db", 0), alert("api", 20), alert("web", 50)], WINDOW), T0 + 90)[
            0
        ].changed
        is False
    )


def test_a_late_arriving_root_takes_over_the_incident() -> None:
    g = graph("web>api", "api>db")
    history = run(
        g, [(30, [alert("api", 20), alert("web", 25)]), (60, [alert("api", 20), alert("web", 25), alert("db", 50)])]
    )
    assert history[0][0].root == "shop/api"
    last = history[-1]
    assert len(last) == 1 and last[0].name == history[0][0].name and last[0].root == "shop/db"
    assert "root changed: shop/api -> shop/db (a service it depends on alerts)" in [e.text for e in last[0].timeline]


def test_the_root_resolving_before_its_dependants_stays_the_root() -> None:
    g = graph("web>api", "api>db")
    history = run(g, [(30, [alert("db", 0), alert("api", 10)]), (60, [alert("api", 10)]), (90, [])])
    during = history[1][0]
    assert during.root == "shop/db" and during.root_alerts == () and during.state == FIRING
    assert "root resolved: shop/db (services above it still alert)" in [e.text for e in during.timeline]
    done = history[2][0]
    assert (
        done.state == RESOLVED
        and done.resolved == T0 + 90
        and done.timeline[-1].text == "resolved: all alerts are gone"
    )


def test_a_flapping_alert_reopens_the_same_incident() -> None:
    g = graph("api>db")
    history = run(g, [(10, [alert("db", 0)]), (40, []), (70, [alert("db", 65)])])
    assert history[1][0].state == RESOLVED
    assert len(history[2]) == 1 and history[2][0].state == FIRING and history[2][0].name == history[0][0].name
    assert history[2][0].timeline[-1].text == "reopened"


def test_reopened_by_the_services_above_a_quiet_root_they_keep_their_place_under_it() -> None:
    g = graph("web>api", "api>db")
    cascade = [alert("db", 0), alert("api", 5), alert("web", 8)]
    history = run(g, [(10, cascade), (40, []), (70, [alert("api", 65, fp="api-2"), alert("web", 66, fp="web-2")])])
    reopened = history[2][0]
    assert reopened.name == history[0][0].name and reopened.state == FIRING and reopened.root == "shop/db"
    placed = {i.node: (i.depth, i.parent, i.alerts) for i in reopened.impacted}
    assert placed == {"shop/api": (1, "shop/db", 1), "shop/web": (2, "shop/api", 1)}  # not "not depending on"
    texts = [e.text for e in reopened.timeline]
    assert texts[-3:] == ["reopened", "shop/api alerting again", "shop/web alerting again"]


def test_two_independent_outages_are_two_incidents_and_an_unrelated_one_changes_neither() -> None:
    g = graph("api>db", "cart>redis", extra=("lonely",))
    first = run(g, [(30, [alert("db", 0), alert("api", 10), alert("redis", 5), alert("cart", 15)])])[-1]
    assert [i.root for i in first] == ["shop/db", "shop/redis"]
    after = advance(
        first,
        correlate(
            g, [alert("db", 0), alert("api", 10), alert("redis", 5), alert("cart", 15), alert("lonely", 20)], WINDOW
        ),
        T0 + 60,
    )
    assert [i.root for i in after] == ["shop/db", "shop/redis", "shop/lonely"]
    assert [i.changed for i in after] == [False, False, True]


def test_the_timeline_is_bounded_and_keeps_its_first_entry() -> None:
    g = graph(*(f"s{i}>db" for i in range(60)))
    incidents: list[Incident] = []
    alerts = [alert("db", 0)]
    for i in range(60):
        alerts.append(alert(f"s{i}", 1 + i))
        incidents = advance(incidents, correlate(g, alerts, WINDOW), T0 + 10 + i)
    timeline = incidents[0].timeline
    assert len(timeline) == 30 and timeline[0].text == "first alert: DbDown on shop/db"
    assert timeline[-1].text == "shop/s59 joined (depth 1)"


def test_members_know_their_parent_towards_the_root_for_a_tree() -> None:
    g = graph("web>api", "api>db", "mobile>db", "admin>web", "report>cache", "cache>db")
    alerts = [alert(s, i) for i, s in enumerate(["db", "api", "web", "mobile", "admin", "report"])]
    (cascade,) = correlate(g, alerts, WINDOW)
    parents = {m.node: m.parent for m in cascade.members}
    assert parents == {
        "shop/db": None,
        "shop/api": "shop/db",
        "shop/web": "shop/api",
        "shop/admin": "shop/web",
        "shop/mobile": "shop/db",
        "shop/report": "shop/db",  # through cache, which is not alerting
    }


def test_services_that_recover_stay_in_the_record_without_alerts() -> None:
    g = graph("web>api", "api>db")
    history = run(
        g,
        [
            (30, [alert("db", 0), alert("api", 10), alert("web", 20)]),
            (60, [alert("db", 0), alert("api", 10)]),
            (90, [alert("db", 0), alert("api", 10)]),
            (120, []),
        ],
    )
    during = history[2][0]
    assert [(i.node, i.alerts) for i in during.impacted] == [("shop/api", 1), ("shop/web", 0)]
    assert during.services == 3 and during.alerts == 2
    assert [e.text for e in during.timeline].count("shop/web recovered") == 1
    assert history[3][0].state == RESOLVED and history[3][0].services == 3


def test_a_resolved_incident_has_no_alerts_firing_and_keeps_who_was_impacted() -> None:
    g = graph("web>api", "api>db")
    history = run(g, [(30, [alert("db", 0), alert("api", 10), alert("web", 20)]), (60, [])])
    done = history[-1][0]
    assert done.state == RESOLVED and done.alerts == 0 and done.root_alerts == ()
    assert [(i.node, i.alerts) for i in done.impacted] == [("shop/api", 0), ("shop/web", 0)]
