"""The incident engine under an alert storm (pure, no cluster): 5,000 alerts across 500 services.

A seeded graph of 500 Services in 10 namespaces (each namespace: 5 datastores, 15 back ends calling
them, 25 front ends calling back ends, 5 unrelated), then a storm: 40 datastores fail and every
service above them alerts (10 alerts each, with staggered starts), and the 50 unrelated services too. Measured per
poll (the engine correlates all alerts every poll interval): `alert_views` + `correlate` + `advance`,
median and max CPU time over the polls of a growing and a steady storm, peak memory (tracemalloc),
and the incidents formed (a few, not thousands) with how many are `changed` (written) per poll.

    .venv/bin/python -m benchmarks.bench_incidents_storm
"""

from __future__ import annotations

import random
import statistics
import time
import tracemalloc
from typing import Any

from alertagent.discovery.facts import Evidence
from alertagent.discovery.snapshot import Edge, Graph, Node
from alertagent.incidents.alerts import alert_views
from alertagent.incidents.correlate import correlate
from alertagent.incidents.track import Incident, advance

SEED = 17
NAMESPACES = 10
DATA, BACK, FRONT, LONE = 5, 15, 25, 5  # per namespace: 50 services
ALERTS_PER_SERVICE = 10
FAILING_DATA = 40  # of the 50 datastores
POLLS = 30
WINDOW = 300.0
T0 = 1_800_000_000.0


def build_graph(rnd: random.Random) -> tuple[Graph, dict[str, list[str]]]:
    nodes, edges = [], []
    said = (Evidence("env", "bench"),)
    above: dict[str, list[str]] = {}  # datastore → every service depending on it (transitively)
    for n in range(NAMESPACES):
        ns = f"team-{n}"
        data = [f"{ns}/db-{i}" for i in range(DATA)]
        back = [f"{ns}/back-{i}" for i in range(BACK)]
        front = [f"{ns}/front-{i}" for i in range(FRONT)]
        lone = [f"{ns}/lone-{i}" for i in range(LONE)]
        for node in data + back + front + lone:
            nodes.append(Node(node, "service", ns, node.split("/")[1]))
        callers_of: dict[str, set[str]] = {}
        for b in back:
            for d in rnd.sample(data, 2):
                edges.append(Edge(b, d, said))
                callers_of.setdefault(d, set()).add(b)
        for f in front:
            for b in rnd.sample(back, 2):
                edges.append(Edge(f, b, said))
                callers_of.setdefault(b, set()).add(f)
        for d in data:
            reached, todo = set(), [d]
            while todo:
                for caller in callers_of.get(todo.pop(), ()):
                    if caller not in reached:
                        reached.add(caller)
                        todo.append(caller)
            above[d] = sorted(reached)
    return Graph.build(nodes, edges, []), above


def storm(rnd: random.Random, above: dict[str, list[str]], failing: list[str], upto: float) -> list[dict[str, Any]]:
    """The alerts that have started by `upto` seconds into the storm (API v2 dicts)."""
    alerts = []
    services: dict[str, float] = {}
    for d in failing:
        services.setdefault(d, 0.0)
        for caller in above[d]:
            services.setdefault(caller, 5.0 + rnd.random() * 120)
    for n in range(NAMESPACES):  # unrelated services alerting at the same time: incidents of their own
        for i in range(LONE):
            services[f"team-{n}/lone-{i}"] = rnd.random() * 120
    for node, start in sorted(services.items()):
        if start > upto:
            continue
        ns, name = node.split("/")
        for k in range(ALERTS_PER_SERVICE):
            alerts.append(
                {
                    "fingerprint": f"{node}-{k}",
                    "labels": {
                        "alertname": f"A{k}",
                        "service": name,
                        "namespace": ns,
                        "severity": "critical" if k == 0 else "warning",
                    },
                    "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + start + k)),
                    "status": {
                        "state": "active" if name.startswith("db") else "suppressed",
                        "inhibitedBy": [],
                        "silencedBy": [],
                    },
                }
            )
    return alerts


def main() -> None:
    rnd = random.Random(SEED)
    graph, above = build_graph(rnd)
    failing = rnd.sample(sorted(above), FAILING_DATA)
    print(f"graph: {len(graph.nodes)} services, {len(graph.edges)} edges; {FAILING_DATA} datastores fail")
    incidents: list[Incident] = []
    times, changed, sizes = [], [], []
    tracemalloc.start()
    for poll in range(POLLS):
        now = (poll + 1) * 10.0  # a poll every 10 s; the storm grows for ~2 minutes, then holds
        raw = storm(random.Random(SEED + 1), above, failing, now)
        start = time.process_time()
        views = alert_views(raw, graph)
        incidents = advance(incidents, correlate(graph, views, WINDOW), T0 + now)
        times.append(time.process_time() - start)
        changed.append(sum(i.changed for i in incidents))
        sizes.append(len(raw))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    firing = [i for i in incidents if i.state == "Firing"]
    print(f"alerts at the peak: {max(sizes)}; incidents: {len(firing)} firing, {len(incidents)} in all")
    print(f"largest incident: {max(i.services for i in firing)} services, {max(i.alerts for i in firing)} alerts")
    print(
        f"CPU per poll: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
        f"(parse + correlate + advance, {POLLS} polls)"
    )
    print(f"incidents changed (written) per poll: max {max(changed)}, total {sum(changed)} over {POLLS} polls")
    print(f"peak memory (tracemalloc, one poll's alerts and the engine state): {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
