"""Discovery precision on a synthetic catalog application (pure, no cluster; issue 16).

One namespace, 200 Services with their Deployments in five layers (web → api → domain → core →
datastores). Each application Service has an intended set of callees (1-4, always in a later layer, so
the truth is acyclic). Every Deployment mounts one catalog ConfigMap (`services.json`, JSON
`{"api-07": {"addr": "api-07", "port": 8080}, ...}`) that lists all 200, so the manifests alone cannot
say which entries a service reads. Half the callers also name their callees in env vars (a few of
those carry one stale env var for a service they no longer call); the other half use only the catalog.
Half the Services have NetworkPolicies stating exactly their true paths: egress of the caller (one
pod-selector peer per callee, plus the collector and DNS) and, for datastores and a third of the
others, ingress of the callee (`app In [...]`). Every service sends OTLP to an OpenTelemetry Collector
whose mounted config health-checks all 200.

Reports: nodes; edges in all, by class and by NetworkPolicy verdict; the edges each selection takes
(default `EdgeSelection`, with `enforce_network_policies=True`, and an opt-in one taking weak edges
too), with true positives, false edges and missed true edges against the intended truth, and the
cycles among them (the default selection must have none); build time (`from_objects` + `snapshot`,
median of runs); the incremental cost of one catalog ConfigMap change, one workload change and one
NetworkPolicy change (the `put`, and the snapshot the operator publishes after it); whether the graph
is the same in another arrival order and after the changes as a rebuild.

    .venv/bin/python -m benchmarks.bench_discovery_catalog      (about 2.5 minutes: each snapshot takes ~3 s)
"""

from __future__ import annotations

import copy
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from alertagent.discovery.confidence import EdgeSelection
from alertagent.discovery.export import to_json
from alertagent.discovery.graph import ServiceGraph, extract
from alertagent.discovery.snapshot import Graph

from .bench_discovery import _ms

Obj = dict[str, Any]

SEED = 20261130
NS = "catalog-app"
CATALOG = "service-catalog"
CATALOG_KEY = "services.json"
COLLECTOR = "otel-collector"
# Layer name → Service count (200 in all); a Service calls only Services of later layers.
LAYERS = (("web", 10), ("api", 30), ("domain", 60), ("core", 50), ("data", 50))
DATASTORES = (("postgres", 5432), ("redis", 6379), ("kafka", 9092))  # the data layer, in turn
NAMED_SHARE = 0.5  # callers whose callees are also named in env vars; the others only use the catalog
STALE_SHARE = 0.15  # of those, callers with one env var naming a Service they no longer call
POLICY_SHARE = 0.5  # Services with NetworkPolicies stating their true paths
INGRESS_SHARE = 1 / 3  # of the application Services with policies, those with an ingress policy too
BUILD_RUNS, CATALOG_CHANGES, WORKLOAD_CHANGES, POLICY_CHANGES = 5, 5, 10, 5
KIND_ORDER = ("Service", "ConfigMap", "Deployment", "NetworkPolicy", "Namespace")  # as the operator lists them


@dataclass
class Svc:
    name: str
    layer: int
    port: int
    kind: str = "app"  # app | postgres | redis | kafka
    callees: list[str] = field(default_factory=list)
    named: bool = False  # its callees are named in env vars
    stale: str | None = None  # an env var names this Service, which it no longer calls
    egress_policy: bool = False
    ingress_policy: bool = False


@dataclass
class App:
    objects: list[Obj]
    services: dict[str, Svc]
    truth: set[tuple[str, str]]  # intended caller → callee calls (node ids), telemetry aside
    catalog: Obj
    deployments: dict[str, Obj]
    policies: list[Obj]


def node(name: str) -> str:
    return f"{NS}/{name}"


class Generator:
    """A deterministic catalog application: same seed, same objects."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.services: dict[str, Svc] = {}
        self.by_layer: list[list[str]] = []

    def plan(self) -> None:
        r = self.rng
        for layer, (prefix, count) in enumerate(LAYERS):
            names = []
            for i in range(count):
                if prefix == "data":
                    kind, port = DATASTORES[i % len(DATASTORES)]
                    svc = Svc(f"{kind}-{i // len(DATASTORES):02d}", layer, port, kind)
                else:
                    svc = Svc(f"{prefix}-{i:02d}", layer, 8080)
                self.services[svc.name] = svc
                names.append(svc.name)
            self.by_layer.append(names)
        for svc in self.services.values():
            if svc.kind != "app":
                continue
            later = [n for names in self.by_layer[svc.layer + 1 :] for n in names]
            following = self.by_layer[svc.layer + 1]
            callees: list[str] = []
            for _ in range(r.randint(1, 4)):
                pool = following if r.random() < 0.6 else later
                callees.append(r.choice(pool))
            svc.callees = sorted(set(callees))
            svc.named = r.random() < NAMED_SHARE
            if svc.named and r.random() < STALE_SHARE:
                svc.stale = r.choice([n for n in later if n not in svc.callees])
        for name in r.sample(sorted(self.services), round(POLICY_SHARE * len(self.services))):
            svc = self.services[name]
            if svc.kind == "app":
                svc.egress_policy = True
                svc.ingress_policy = svc.layer > 0 and r.random() < INGRESS_SHARE
            else:
                svc.ingress_policy = True

    # --- objects -------------------------------------------------------------------------------------

    def service(self, svc: Svc) -> Obj:
        ports = [{"name": "tcp" if svc.kind != "app" else "http", "port": svc.port, "targetPort": svc.port}]
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": svc.name, "namespace": NS, "labels": {"app": svc.name}},
            "spec": {"type": "ClusterIP", "selector": {"app": svc.name}, "ports": ports},
        }

    def catalog(self) -> Obj:
        entries = {s.name: {"addr": s.name, "port": s.port} for s in self.services.values()}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CATALOG, "namespace": NS, "labels": {"app.kubernetes.io/part-of": NS}},
            "data": {CATALOG_KEY: json.dumps(entries, indent=2, sort_keys=True)},
        }

    def named_env(self, callee: str, prefix: str = "") -> Obj:
        svc = self.services[callee]
        var = prefix + callee.upper().replace("-", "_")
        if svc.kind == "postgres":
            return {"name": f"{var}_DSN", "value": f"postgres://app:s3cr3t@{callee}:5432/app?sslmode=disable"}
        if svc.kind == "redis":
            return {"name": f"{var}_URL", "value": f"redis://{callee}:6379/0"}
        if svc.kind == "kafka":
            return {"name": f"{var}_BROKERS", "value": f"{callee}:9092"}
        return {"name": f"{var}_URL", "value": f"http://{callee}:8080"}

    def deployment(self, svc: Svc) -> Obj:
        env = [
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": f"http://{COLLECTOR}:4317"},
            {"name": "OTEL_SERVICE_NAME", "value": svc.name},
            {"name": "SERVICE_CATALOG", "value": f"/etc/catalog/{CATALOG_KEY}"},
            {"name": "LOG_LEVEL", "value": self.rng.choice(("info", "warn", "debug"))},
        ]
        if svc.named:
            env += [self.named_env(c) for c in svc.callees]
        if svc.stale:
            env.append(self.named_env(svc.stale, "LEGACY_"))
        image = f"registry.example.com/{NS}/{svc.name}:1.{self.rng.randint(0, 40)}.0"
        if svc.kind != "app":
            image = {"postgres": "postgres:16", "redis": "redis:7.2", "kafka": "bitnami/kafka:3.7"}[svc.kind]
        return self._deployment(svc.name, svc.layer, image, env, CATALOG, "/etc/catalog")

    def _deployment(self, name: str, layer: int, image: str, env: list[Obj], configmap: str, path: str) -> Obj:
        tier = LAYERS[layer][0] if layer >= 0 else "observability"
        container = {
            "name": "main",
            "image": image,
            "env": env,
            "ports": [{"containerPort": 8080}],
            "volumeMounts": [{"name": "config", "mountPath": path, "readOnly": True}],
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name, "tier": tier}},
                    "spec": {
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": configmap}}],
                    },
                },
            },
        }

    def collector(self) -> list[Obj]:
        targets = "".join(
            f"      - endpoint: http://{s.name}:{s.port}/healthz\n" for s in self.services.values() if s.kind == "app"
        )
        tcp = "".join(f"      - endpoint: {s.name}:{s.port}\n" for s in self.services.values() if s.kind != "app")
        config = (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\n"
            "      http:\n        endpoint: 0.0.0.0:4318\n"
            f"  httpcheck:\n    targets:\n{targets}"
            f"  tcpcheck:\n    targets:\n{tcp}"
            "processors:\n  batch: {}\nexporters:\n  debug: {}\n"
            "service:\n  pipelines:\n    metrics:\n      receivers: [otlp, httpcheck, tcpcheck]\n"
            "      processors: [batch]\n      exporters: [debug]\n"
        )
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{COLLECTOR}-config", "namespace": NS, "labels": {"app": COLLECTOR}},
            "data": {"config.yaml": config},
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": COLLECTOR, "namespace": NS},
            "spec": {
                "selector": {"app": COLLECTOR},
                "ports": [{"name": "otlp-grpc", "port": 4317}, {"name": "otlp-http", "port": 4318}],
            },
        }
        image = "otel/opentelemetry-collector-contrib:0.98.0"
        deployment = self._deployment(COLLECTOR, -1, image, [], f"{COLLECTOR}-config", "/etc/otelcol-contrib")
        return [configmap, service, deployment]

    def policies(self) -> list[Obj]:
        callers: dict[str, list[str]] = {}
        for svc in self.services.values():
            for callee in svc.callees:
                callers.setdefault(callee, []).append(svc.name)
        dns = {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
        collector = {"podSelector": {"matchLabels": {"app": COLLECTOR}}}
        out = []
        for svc in self.services.values():
            if svc.egress_policy:
                peers = [{"podSelector": {"matchLabels": {"app": c}}} for c in svc.callees]
                egress = [{"to": peers}, {"to": [collector], "ports": [{"port": 4317}]}, dns]
                out.append(self._policy(f"{svc.name}-egress", svc.name, ["Egress"], egress=egress))
            if svc.ingress_policy:
                ingress: list[Obj] = [{"from": [collector]}]
                if callers.get(svc.name):
                    expression: Obj = {"key": "app", "operator": "In", "values": sorted(callers[svc.name])}
                    ingress.insert(0, {"from": [{"podSelector": {"matchExpressions": [expression]}}]})
                out.append(self._policy(f"{svc.name}-ingress", svc.name, ["Ingress"], ingress=ingress))
        return out

    def _policy(self, name: str, app: str, types: list[str], **rules: Any) -> Obj:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": types, **rules},
        }

    def app(self) -> App:
        self.plan()
        catalog = self.catalog()
        deployments = {s.name: self.deployment(s) for s in self.services.values()}
        policies = self.policies()
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NS, "labels": {"kubernetes.io/metadata.name": NS}},
        }
        objects = [
            *(self.service(s) for s in self.services.values()),
            catalog,
            *deployments.values(),
            *self.collector(),
            *policies,
            namespace,
        ]
        objects.sort(key=lambda o: KIND_ORDER.index(o["kind"]))
        truth = {(node(s.name), node(c)) for s in self.services.values() for c in s.callees}
        return App(objects, self.services, truth, catalog, deployments, policies)


# --- measuring -------------------------------------------------------------------------------------------

Rows = list[tuple[str, str]]


def _score(graph: Graph, truth: set[tuple[str, str]]) -> str:
    selected = {(e.caller, e.callee) for e in graph.edges if graph.selected(e)}
    true_positive, false = len(selected & truth), len(selected - truth)
    missed = len(truth - selected)
    largest = max((len(c) for c in graph.cycles), default=0)
    return (
        f"{len(selected)} edges: {true_positive} true, {false} false, {missed} true missed; "
        f"{len(graph.cycles)} cycles (largest {largest})"
    )


def measure_precision(app: App, rows: Rows) -> Graph:
    state = ServiceGraph.from_objects(app.objects)
    graph = state.snapshot()
    services = app.services.values()
    callers = [s for s in services if s.callees]
    named = [s for s in callers if s.named]
    rows.append(
        (
            "input",
            f"{len(app.objects)} objects: {len(app.services)} Services + Deployments mounting `{CATALOG}`, "
            f"collector, {len(app.policies)} NetworkPolicies",
        )
    )
    rows.append(
        (
            "  intended truth",
            f"{len(app.truth)} calls from {len(callers)} callers ({len(named)} also name them in env, "
            f"{sum(bool(s.stale) for s in services)} with a stale env var); "
            f"{sum(s.egress_policy or s.ingress_policy for s in services)} Services with policies "
            f"({sum(s.egress_policy for s in services)} egress, {sum(s.ingress_policy for s in services)} ingress)",
        )
    )
    kinds = Counter(n.kind for n in graph.nodes)
    rows.append(("graph: nodes", f"{len(graph.nodes)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"))
    by_class = Counter(e.cls for e in graph.edges)
    rows.append(("graph: edges", f"{len(graph.edges)}: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))))
    verdicts = Counter(e.verdict or "none" for e in graph.edges)
    rows.append(("  NetworkPolicy verdicts", ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))))
    telemetry = {(e.caller, e.callee) for e in graph.edges if e.cls == "telemetry"}
    collector = node(COLLECTOR)
    expected_telemetry = {(node(s.name), collector) for s in services} | {(collector, node(s.name)) for s in services}
    rows.append(
        (
            "  telemetry edges",
            f"{len(telemetry)} ({'exactly' if telemetry == expected_telemetry else 'NOT'} every service <-> collector)",
        )
    )
    others = {(e.caller, e.callee) for e in graph.edges if e.cls != "telemetry"}
    rows.append(
        (
            "  all non-telemetry edges",
            f"{len(others)}: {len(others & app.truth)} true, {len(others - app.truth)} false, "
            f"{len(app.truth - others)} true missed",
        )
    )
    for label, selection in (
        ("default", EdgeSelection()),
        ("enforce_network_policies", EdgeSelection(enforce_network_policies=True)),
        ("call+weak, enforced (opt-in)", EdgeSelection(0.0, frozenset({"call", "weak"}), True)),
    ):
        rows.append((f"selected: {label}", _score(graph.with_selection(selection), app.truth)))
    return graph


def _median_s(timings: list[float]) -> str:
    return f"median {statistics.median(timings):.3f} s (runs {' / '.join(f'{t:.3f}' for t in timings)})"


def measure_build(app: App, rows: Rows) -> ServiceGraph:
    builds, snapshots, totals = [], [], []
    state = ServiceGraph()
    for _ in range(BUILD_RUNS):
        started = time.perf_counter()
        state = ServiceGraph.from_objects(app.objects)
        built = time.perf_counter()
        state.snapshot()
        done = time.perf_counter()
        builds.append(built - started)
        snapshots.append(done - built)
        totals.append(done - started)
    rows.append(("build: from_objects + snapshot", _median_s(totals)))
    rows.append(("  from_objects", f"median {statistics.median(builds):.3f} s"))
    rows.append(("  snapshot", f"median {statistics.median(snapshots):.3f} s"))
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        text = to_json(state.snapshot())
        timings.append(time.perf_counter() - started)
    rows.append(("  snapshot + to_json", f"median {statistics.median(timings):.3f} s, {len(text) / 2**20:.2f} MiB"))
    return state


def _changes(
    state: ServiceGraph, objects: list[Obj], picks: Iterable[tuple[Obj, Callable[[Obj], None]]]
) -> tuple[list[float], list[float], int]:
    """Apply each change (a copy of the object, edited); (put latencies, snapshot latencies, no-ops)."""
    puts, snapshots, unchanged = [], [], 0
    for old, edit in picks:
        new = copy.deepcopy(old)
        edit(new)
        started = time.perf_counter()
        facts = extract(new)
        assert facts is not None
        changed = state.put(facts)
        put = time.perf_counter()
        state.snapshot()
        puts.append(put - started)
        snapshots.append(time.perf_counter() - put)
        unchanged += not changed
        old.clear()
        old.update(new)  # the object as it is now, in `objects` too: later picks start from it
    return puts, snapshots, unchanged


def measure_changes(state: ServiceGraph, app: App, rows: Rows) -> None:
    rng = random.Random(SEED + 1)
    objects = app.objects  # changed in place
    catalog = app.catalog
    names = sorted(app.services)

    def catalog_edit(new: Obj) -> None:
        # A port change alone changes no address; a new entry does (a Service not deployed yet).
        entries = json.loads(new["data"][CATALOG_KEY])
        name = f"new-{len(entries):03d}"
        entries[name] = {"addr": name, "port": 8080}
        new["data"][CATALOG_KEY] = json.dumps(entries, indent=2, sort_keys=True)

    def workload_edit(new: Obj) -> None:
        env = new["spec"]["template"]["spec"]["containers"][0]["env"]
        callee = rng.choice(names)
        env.append({"name": f"EXTRA_{len(env)}_URL", "value": f"http://{callee}:8080"})

    def policy_edit(new: Obj) -> None:
        spec = new["spec"]
        rules = spec.get("egress") or spec.get("ingress")
        peer = {"podSelector": {"matchLabels": {"app": rng.choice(names)}}}
        rules[0].setdefault("to" if "egress" in spec else "from", []).append(peer)

    edits: list[tuple[str, list[tuple[Obj, Callable[[Obj], None]]]]] = [
        (f"one catalog entry added ({CATALOG_CHANGES})", [(catalog, catalog_edit)] * CATALOG_CHANGES),
        (
            f"one workload env var added ({WORKLOAD_CHANGES})",
            [(d, workload_edit) for d in rng.sample(list(app.deployments.values()), WORKLOAD_CHANGES)],
        ),
        (
            f"one NetworkPolicy peer added ({POLICY_CHANGES})",
            [(p, policy_edit) for p in rng.sample(app.policies, POLICY_CHANGES)],
        ),
    ]
    for label, picks in edits:
        puts, snapshots, unchanged = _changes(state, objects, picks)
        rows.append((label, f"put {_ms(puts)}; + snapshot {_ms(snapshots)}"))
        if unchanged:
            rows.append(("  WARNING", f"{unchanged} puts reported no change"))
    rebuilt = to_json(ServiceGraph.from_objects(objects).snapshot())
    rows.append(("incremental == rebuild", "yes" if rebuilt == to_json(state.snapshot()) else "NO"))


def measure_order(app: App, rows: Rows) -> None:
    shuffled = list(app.objects)
    random.Random(SEED + 2).shuffle(shuffled)
    same = to_json(ServiceGraph.from_objects(shuffled).snapshot()) == to_json(
        ServiceGraph.from_objects(app.objects).snapshot()
    )
    rows.append(("shuffled arrival order", "same graph" if same else "GRAPHS DIFFER"))


def main() -> None:
    started = time.perf_counter()
    app = Generator(SEED).app()
    rows: Rows = []
    measure_precision(app, rows)
    state = measure_build(app, rows)
    measure_order(app, rows)
    measure_changes(state, app, rows)
    width = max(len(label) for label, _ in rows)
    print(f"seed {SEED}; latencies med / p95 / max")
    for label, result in rows:
        print(f"{label:<{width}}  {result}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
