"""Service discovery on a synthetic cluster (pure, no cluster): 200 namespaces, 5,000 Services, 5,000
workloads, 2,000 ConfigMaps and 500 Ingresses, as plain object dicts from a seeded generator.

Measures the initial `ServiceGraph.from_objects` build (time, peak memory), `snapshot()` and `to_json`,
and the incremental cost of one changed workload, Service and shared ConfigMap.

    .venv/bin/python -m benchmarks.bench_discovery      (under a minute)
"""

from __future__ import annotations

import copy
import gc
import random
import resource
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertagent.discovery.export import to_json
from alertagent.discovery.facts import names_an_address
from alertagent.discovery.graph import ServiceGraph, extract
from alertagent.discovery.snapshot import Graph

Obj = dict[str, Any]

SEED = 20240611
NAMESPACES, SERVICES_PER_NS, CONFIGMAPS_PER_NS = 200, 25, 10  # and 2-3 Ingresses per namespace, 2.5 on average
DATA_PER_NS = 7  # of the 25 Services per namespace: datastores and brokers; the rest are applications
UNSELECTED_SHARE = 0.05  # workloads no Service selects
MISSING_SHARE = 0.03  # addresses naming a Service that does not exist
CROSS_NS_SHARE = 0.15  # addresses into another namespace
BACK_EDGE_SHARE = 0.005  # app -> app calls against the call order (they make the few cycles)
BUILD_RUNS, WORKLOAD_CHANGES, SERVICE_CHANGES, CONFIGMAP_CHANGES, SERVICE_RECREATES = 3, 200, 50, 50, 20
# Arrival orders (the operator's watches interleave): the build must not depend on them.
ORDER_SIZES = (50, NAMESPACES)
BUILD_TARGET_S, WORKLOAD_TARGET_MS = 5.0, 50.0
# Kind order of the operator's watches (handlers/discovery.py WATCHED): the order a full listing arrives in.
KIND_ORDER = ("Service", "Ingress", "ConfigMap", "Deployment", "StatefulSet", "DaemonSet")

TEAMS = ("payments", "checkout", "search", "identity", "platform", "data", "growth", "media", "logistics", "risk")
NS_SUFFIXES = ("prod", "staging", "dev", "eu", "us", "apac", "int", "sandbox")
# Datastore / broker names and the port a client uses.
DATA = {
    "postgres": 5432,
    "postgres-replica": 5432,
    "mysql": 3306,
    "redis": 6379,
    "redis-cache": 6379,
    "mongo": 27017,
    "kafka": 9092,
    "rabbitmq": 5672,
    "elasticsearch": 9200,
    "memcached": 11211,
    "zookeeper": 2181,
    "minio": 9000,
    "nats": 4222,
    "clickhouse": 8123,
    "etcd": 2379,
    "cassandra": 9042,
}
APPS = (
    "api",
    "web",
    "frontend",
    "auth",
    "users",
    "orders",
    "payments",
    "billing",
    "inventory",
    "catalog",
    "search",
    "cart",
    "checkout",
    "shipping",
    "notifications",
    "email",
    "recommendations",
    "reviews",
    "ledger",
    "gateway",
    "admin",
    "reports",
    "analytics",
    "scheduler",
    "media",
    "profile",
    "session",
    "pricing",
    "fraud",
    "accounts",
    "invoices",
    "tax",
    "audit",
    "feature-flags",
    "geo",
    "ratings",
    "webhooks",
    "exports",
    "imports",
    "graphql",
)
PLAIN_ENV: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    ("LOG_LEVEL", lambda r: r.choice(("info", "debug", "warn", "error"))),
    ("LOG_FORMAT", lambda r: r.choice(("json", "text"))),
    ("ENABLE_TRACING", lambda r: r.choice(("true", "false"))),
    ("FEATURE_NEW_CHECKOUT", lambda r: r.choice(("true", "false", "on", "off"))),
    ("REQUEST_TIMEOUT", lambda r: r.choice(("30s", "5s", "1m", "250ms"))),
    ("SHUTDOWN_GRACE_PERIOD", lambda r: r.choice(("15s", "30s"))),
    ("CONFIG_PATH", lambda r: r.choice(("/etc/app/config.yaml", "/etc/x", "/config/app.properties"))),
    ("DATA_DIR", lambda r: "/var/lib/app"),
    ("WORKERS", lambda r: str(r.randint(1, 16))),
    ("PORT", lambda r: r.choice(("8080", "3000", "9090"))),
    ("MAX_CONNECTIONS", lambda r: str(r.choice((10, 50, 100, 200)))),
    ("TZ", lambda r: "UTC"),
    ("GOMAXPROCS", lambda r: str(r.randint(1, 8))),
    ("JAVA_OPTS", lambda r: f"-Xms{r.choice((256, 512))}m -Xmx{r.choice((1024, 2048))}m -XX:+UseG1GC"),
    ("NODE_ENV", lambda r: "production"),
    ("RETRY_BACKOFF", lambda r: "exponential"),
    ("CACHE_TTL_SECONDS", lambda r: str(r.choice((60, 300, 3600)))),
    ("SAMPLING_RATIO", lambda r: r.choice(("0.1", "0.01", "1.0"))),
    ("VERSION", lambda r: f"{r.randint(1, 4)}.{r.randint(0, 30)}.{r.randint(0, 9)}"),
    ("ALLOWED_ORIGINS", lambda r: "https://shop.example.com,https://admin.example.com"),
    ("STRIPE_API", lambda r: "https://api.stripe.com/v1"),
)


@dataclass
class Namespace:
    name: str
    team: str
    data: list[str]  # datastore Services
    apps: list[str]  # application Services
    configmaps: list[str] = field(default_factory=list)

    @property
    def order(self) -> list[str]:
        """Call order: a Service calls those after it (apps first, then datastores)."""
        return [*self.apps, *self.data]


@dataclass
class Cluster:
    objects: list[Obj]
    namespaces: list[Namespace]
    workloads: list[Obj]
    services: list[Obj]
    shared_configmaps: list[tuple[Obj, int]]  # (ConfigMap, how many workloads use it)


class Generator:
    """A deterministic synthetic cluster: same seed, same objects."""

    def __init__(self, seed: int, namespaces: int = NAMESPACES) -> None:
        self.rng = random.Random(seed)
        self.namespace_count = namespaces
        self.namespaces: list[Namespace] = []

    # --- picking what an address names ---------------------------------------------------------------

    def _missing(self) -> str:
        return f"{self.rng.choice(('legacy', 'old', 'v1', 'tmp'))}-{self.rng.choice(APPS)}"

    def _target(self, ns: Namespace, pos: int | None, want_data: bool) -> tuple[str, str | None]:
        """(service, its namespace or None for the caller's) for a caller at `pos` in ns.order (None: a
        datastore anywhere). Calls go to later positions (in any namespace), so the graph is a DAG but
        for the few back edges."""
        r = self.rng
        if r.random() < MISSING_SHARE:
            return self._missing(), None if r.random() < 0.7 else ns.name
        other = r.random() < CROSS_NS_SHARE
        where = r.choice(self.namespaces) if other else ns
        there = where.name if other else None
        if pos is None:
            return r.choice(where.data), there
        if pos > 0 and r.random() < BACK_EDGE_SHARE:
            return where.order[r.randrange(pos)], there
        start = max(pos + 1, len(where.apps)) if want_data else pos + 1
        if start < len(where.order):
            return r.choice(where.order[start:]), there
        return ns.order[pos], None  # the last in line names itself (PUBLIC_URL and the like): no edge

    def _host(self, name: str, namespace: str | None, caller_ns: str) -> str:
        """The host part in one of the forms people write."""
        r = self.rng
        ns = namespace or caller_ns
        form = r.random()
        if namespace is None and form < 0.45:
            return name
        if form < 0.7:
            return f"{name}.{ns}"
        if form < 0.85:
            return f"{name}.{ns}.svc"
        return f"{name}.{ns}.svc.cluster.local"

    def address(self, ns: Namespace, pos: int | None) -> tuple[str, str]:
        """(env var name, value) naming one Service, in a form that suits what it is."""
        r = self.rng
        want_data = r.random() < 0.45
        name, namespace = self._target(ns, pos, want_data)
        base = name.split("-")[0]
        host = self._host(name, namespace, ns.name)
        env = name.upper().replace("-", "_")
        if base == "postgres":
            return f"{env}_URL", f"postgres://app:s3cr3t@{host}:5432/{r.choice(APPS)}?sslmode=disable"
        if base == "mysql":
            return f"{env}_DSN", f"app:s3cr3t@tcp({host}:3306)/{r.choice(APPS)}?parseTime=true"
        if base == "redis":
            return f"{env}_URL", f"redis://{host}:6379/{r.randint(0, 15)}"
        if base in ("kafka", "zookeeper", "cassandra", "nats"):
            port = DATA.get(name, 9092)
            pods = ",".join(f"{name}-{i}.{host}:{port}" for i in range(3))
            return f"{env}_BROKERS" if base == "kafka" else f"{env}_SERVERS", pods
        if base == "mongo":
            return "MONGODB_URI", f"mongodb://app:pw@{host}:27017/{r.choice(APPS)}?replicaSet=rs0"
        if base == "rabbitmq":
            return "AMQP_URL", f"amqp://guest:guest@{host}:5672/"
        if name in DATA:
            port = DATA[name]
            return f"{env}_ADDR", r.choice((f"{host}:{port}", f"http://{host}:{port}"))
        form = r.random()
        if form < 0.45:
            return f"{env}_URL", f"http://{host}:{r.choice((80, 8080, 8000))}{r.choice(('', '/api/v1', '/healthz'))}"
        if form < 0.6:
            return f"{env}_GRPC_ADDR", f"{host}:{r.choice((9090, 50051))}"
        if form < 0.75:
            return f"{env}_SERVICE_HOST", host
        if form < 0.9:
            return f"{env}_ENDPOINT", f"https://{host}:8443"
        return f"{env}_UPSTREAM", f"grpc://{host}:9090"

    # --- objects -------------------------------------------------------------------------------------

    def namespaces_and_services(self) -> list[Obj]:
        r = self.rng
        for i in range(self.namespace_count):
            team = TEAMS[i % len(TEAMS)]
            name = f"{team}-{r.choice(NS_SUFFIXES)}-{i:03d}"
            data = r.sample(sorted(DATA), DATA_PER_NS)
            apps = r.sample(APPS, SERVICES_PER_NS - DATA_PER_NS)
            self.namespaces.append(Namespace(name, team, data, apps))
        services = []
        for ns in self.namespaces:
            services += [self.service(ns, svc, pos) for pos, svc in enumerate(ns.order)]
        return services

    def service(self, ns: Namespace, name: str, pos: int) -> Obj:
        r = self.rng
        annotations: dict[str, str] = {}
        if r.random() < 0.4:
            annotations["alertagent.io/team"] = ns.team
            annotations["alertagent.io/tier"] = "data" if name in DATA else r.choice(("frontend", "backend"))
        if r.random() < 0.25:
            annotations["alertagent.io/criticality"] = r.choice(("critical", "high", "medium", "low"))
            annotations["alertagent.io/sla-target"] = r.choice(("99.9", "99.95", "99.5"))
        if name not in DATA and r.random() < 0.3:
            annotations["alertagent.io/dependencies"] = self.dependencies(ns, pos)
        port = DATA.get(name, 8080)
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": ns.name,
                "labels": {"app": name, "team": ns.team},
                "annotations": annotations,
            },
            "spec": {
                "type": "ClusterIP",
                "selector": {"app": name},
                "ports": [{"name": "tcp" if name in DATA else "http", "port": port, "targetPort": port}],
            },
        }

    def dependencies(self, ns: Namespace, pos: int) -> str:
        deps = []
        for _ in range(self.rng.randint(1, 3)):
            name, namespace = self._target(ns, pos, self.rng.random() < 0.4)
            deps.append(f"{namespace}/{name}" if namespace else name)
        return ", ".join(dict.fromkeys(deps))

    def configmaps(self) -> list[Obj]:
        configmaps = []
        for ns in self.namespaces:
            configmaps.append(self._configmap(ns, "shared-env", None, self._env_data(ns, None, 4)))
            configmaps.append(self._configmap(ns, "nginx-conf", ns.apps[0], {"nginx.conf": self._nginx(ns)}))
            for app in self.rng.sample(ns.apps, CONFIGMAPS_PER_NS - 2):
                pos = ns.order.index(app)
                configmaps.append(self._configmap(ns, f"{app}-config", app, self._app_files(ns, pos)))
        return configmaps

    def _configmap(self, ns: Namespace, name: str, app: str | None, data: dict[str, str]) -> Obj:
        ns.configmaps.append(name)
        labels = {"app": app} if app else {"app.kubernetes.io/part-of": ns.team}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns.name, "labels": labels},
            "data": data,
        }

    def _env_data(self, ns: Namespace, pos: int | None, addresses: int) -> dict[str, str]:
        data = dict(self.address(ns, pos) for _ in range(addresses))
        for key, value in self.rng.sample(PLAIN_ENV, 3):
            data[key] = value(self.rng)
        return data

    def _nginx(self, ns: Namespace) -> str:
        ups = self.rng.sample(ns.apps[1:], 3)  # the edge proxy (apps[0]) in front of the others
        blocks = "".join(
            f"upstream {u} {{\n  server {self._host(u, None, ns.name)}:8080 max_fails=3;\n  keepalive 16;\n}}\n"
            for u in ups
        )
        locations = "".join(
            f"  location /{u}/ {{\n    proxy_pass http://{u};\n    proxy_read_timeout 30s;\n  }}\n" for u in ups
        )
        return f"worker_processes auto;\n{blocks}server {{\n  listen 8080;\n{locations}}}\n"

    def _app_files(self, ns: Namespace, pos: int) -> dict[str, str]:
        r = self.rng
        form = r.random()
        if form < 0.35:
            db, db_ns = self._target(ns, pos, True)
            up, up_ns = self._target(ns, pos, False)
            return {
                "application.yaml": (
                    "server:\n  port: 8080\nspring:\n  datasource:\n"
                    f"    url: jdbc:postgresql://{self._host(db, db_ns, ns.name)}:5432/app\n"
                    "    username: app\n    hikari:\n      maximum-pool-size: 20\n"
                    f"clients:\n  upstream:\n    base-url: http://{self._host(up, up_ns, ns.name)}:8080\n"
                    "    timeout: 5s\nlogging:\n  level:\n    root: INFO\n"
                ),
                "log.level": "info",
            }
        if form < 0.65:
            lines = [f"{k.lower().replace('_', '.')}={v}" for k, v in (self.address(ns, pos) for _ in range(2))]
            lines += ["cache.ttl=300", "feature.beta=false", "threads=8", "locale=en_US"]
            return {"app.properties": "\n".join(lines) + "\n", "JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=75"}
        return self._env_data(ns, pos, r.randint(1, 3))

    def workloads(self) -> list[Obj]:
        workloads = []
        for ns in self.namespaces:
            shared_users = set(self.rng.sample(range(len(ns.apps)), self.rng.randint(5, 10)))
            for pos, svc in enumerate(ns.order):
                workloads.append(self.workload(ns, svc, pos, pos in shared_users))
        return workloads

    def _kind(self, data: bool) -> str:
        x = self.rng.random()
        if data:
            return "StatefulSet" if x < 0.6 else "Deployment"
        return "DaemonSet" if x < 0.14 else "StatefulSet" if x < 0.18 else "Deployment"

    def workload(self, ns: Namespace, svc: str, pos: int, shared: bool) -> Obj:
        r = self.rng
        kind = self._kind(svc in DATA)
        unselected = r.random() < UNSELECTED_SHARE
        app = f"{svc}-{r.choice(('migrate', 'batch', 'canary'))}" if unselected else svc
        main = self.container(ns, svc, pos, "app")
        containers = [main]
        if r.random() < 0.3:
            containers.append(self.sidecar(ns, pos))
        volumes: list[Obj] = []
        own = f"{svc}-config"
        if own in ns.configmaps:
            if r.random() < 0.5:
                volumes.append({"name": "config", "configMap": {"name": own}})
                main["volumeMounts"] = [{"name": "config", "mountPath": "/etc/app"}]
            elif r.random() < 0.6:
                main["envFrom"] = [{"configMapRef": {"name": own}}]
        if shared:
            main.setdefault("envFrom", []).append({"configMapRef": {"name": "shared-env"}, "prefix": "SHARED_"})
        if pos == 0:
            volumes.append({"name": "nginx", "projected": {"sources": [{"configMap": {"name": "nginx-conf"}}]}})
        pod: Obj = {"containers": containers, "volumes": volumes, "serviceAccountName": svc}
        if svc in DATA and r.random() < 0.3:
            wait = f"until nc -z {svc} {DATA[svc]}; do sleep 1; done"
            pod["initContainers"] = [{"name": "wait", "image": "busybox:1.36", "command": ["sh", "-c", wait]}]
        spec: Obj = {
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app, "team": ns.team, "version": "v1"}}, "spec": pod},
        }
        if kind != "DaemonSet":
            spec["replicas"] = r.randint(1, 5)
        if kind == "StatefulSet":
            spec["serviceName"] = svc
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": svc, "namespace": ns.name, "labels": {"app": app}},
            "spec": spec,
        }

    def container(self, ns: Namespace, svc: str, pos: int, name: str) -> Obj:
        r = self.rng
        count = r.randint(5, 15)
        env: list[Obj] = []
        if r.random() < 0.15:  # $(VAR) references into a URL
            db, db_ns = self._target(ns, pos, True)
            env += [
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{svc}-db", "key": "password"}}},
                {"name": "DB_HOST", "value": self._host(db, db_ns, ns.name)},
                {"name": "DB_PORT", "value": "5432"},
                {"name": "DATABASE_URL", "value": "postgres://app:$(DB_PASSWORD)@$(DB_HOST):$(DB_PORT)/app"},
            ]
        if r.random() < 0.3:
            env.append({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
        own = f"{svc}-config"
        if own in ns.configmaps and r.random() < 0.3:
            ref = {"name": own, "key": "log.level", "optional": True}
            env.append({"name": "LOG_LEVEL_OVERRIDE", "valueFrom": {"configMapKeyRef": ref}})
        addresses = min(count - len(env), r.randint(2, 5))
        env += [{"name": k, "value": v} for k, v in (self.address(ns, pos) for _ in range(max(addresses, 0)))]
        for key, value in r.sample(PLAIN_ENV, max(count - len(env), 0)):
            env.append({"name": key, "value": value(r)})
        env = list({e["name"]: e for e in reversed(env)}.values())  # one var per name, the first kept
        r.shuffle(env)
        args = ["--port=8080", f"--log-level={r.choice(('info', 'debug'))}", "--config=/etc/app/config.yaml"]
        if r.random() < 0.4:
            up, up_ns = self._target(ns, pos, False)
            args.append(f"--upstream=http://{self._host(up, up_ns, ns.name)}:8080")
        if r.random() < 0.2:
            args += ["--metrics-addr", ":9102", "--shutdown-timeout=30s"]
        image = f"registry.example.com/{ns.team}/{svc}:{r.randint(1, 9)}.{r.randint(0, 40)}.{r.randint(0, 9)}"
        return {
            "name": name,
            "image": image,
            "args": args,
            "env": env,
            "ports": [{"name": "http", "containerPort": 8080}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
        }

    def sidecar(self, ns: Namespace, pos: int) -> Obj:
        r = self.rng
        env = [
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317"},
            {"name": "LOG_LEVEL", "value": "warn"},
            {"name": "BUFFER_SIZE", "value": "64Ki"},
            {"name": "FLUSH_INTERVAL", "value": "5s"},
            {"name": "STATSD_HOST", "value": "statsd"},
        ]
        key, value = self.address(ns, pos)
        env.append({"name": key, "value": value})
        return {
            "name": r.choice(("log-shipper", "envoy", "cloudsql-proxy")),
            "image": "sidecar:1.2.3",
            "env": env,
            "args": ["--admin-port=9901", "--drain-time=10s"],
        }

    def ingresses(self) -> list[Obj]:
        half = self.namespace_count // 2
        counts = [3] * half + [2] * (self.namespace_count - half)
        self.rng.shuffle(counts)
        ingresses = []
        for ns, count in zip(self.namespaces, counts, strict=True):
            for name in ("public", "internal", "admin")[:count]:
                ingresses.append(self.ingress(ns, name))
        return ingresses

    def ingress(self, ns: Namespace, name: str) -> Obj:
        r = self.rng
        rules = []
        for h in range(r.randint(1, 2)):
            paths = []
            for _ in range(r.randint(2, 4)):
                backend = self._missing() if r.random() < MISSING_SHARE else r.choice(ns.apps[:8])
                paths.append(
                    {
                        "path": f"/{backend}",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": backend, "port": {"number": 8080}}},
                    }
                )
            rules.append({"host": f"{name}{h}.{ns.name}.example.com", "http": {"paths": paths}})
        spec: Obj = {
            "ingressClassName": "nginx",
            "rules": rules,
            "tls": [{"hosts": [x["host"] for x in rules], "secretName": f"{name}-tls"}],
        }
        if r.random() < 0.3:
            spec["defaultBackend"] = {"service": {"name": ns.apps[0], "port": {"number": 8080}}}
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns.name},
            "spec": spec,
        }

    def cluster(self) -> Cluster:
        services = self.namespaces_and_services()
        configmaps = self.configmaps()
        workloads = self.workloads()
        ingresses = self.ingresses()
        objects = sorted([*services, *ingresses, *configmaps, *workloads], key=lambda o: KIND_ORDER.index(o["kind"]))
        users = Counter(
            (w["metadata"]["namespace"])
            for w in workloads
            for c in w["spec"]["template"]["spec"]["containers"]
            for source in c.get("envFrom") or []
            if source["configMapRef"]["name"] == "shared-env"
        )
        shared = [
            (cm, users[cm["metadata"]["namespace"]]) for cm in configmaps if cm["metadata"]["name"] == "shared-env"
        ]
        return Cluster(objects, self.namespaces, workloads, services, shared)


# --- measuring -------------------------------------------------------------------------------------------


def _ms(latencies: Sequence[float]) -> str:
    """`median / p95 / max` in ms (the p95 rule of benchmarks.common.latency_summary, which prints seconds)."""
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(ordered) * 1e3:.2f} / {p95 * 1e3:.2f} / {ordered[-1] * 1e3:.2f} ms"


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _verdict(value: float, target: float) -> str:
    return "ok" if value < target else "OVER"


def _timed_build(objects: Iterable[Obj]) -> tuple[ServiceGraph, float]:
    started = time.perf_counter()
    graph = ServiceGraph.from_objects(objects)
    return graph, time.perf_counter() - started


def measure_build(objects: list[Obj], rows: list[tuple[str, str, str]]) -> ServiceGraph:
    gc.collect()
    rss_before = _maxrss_mib()
    timings = []
    graph, seconds = _timed_build(objects)  # first: also the RSS figure (maxrss only grows)
    rss_delta = _maxrss_mib() - rss_before
    timings.append(seconds)
    for _ in range(BUILD_RUNS - 1):
        del graph
        gc.collect()
        graph, seconds = _timed_build(objects)
        timings.append(seconds)
    median = statistics.median(timings)
    runs = " / ".join(f"{t:.2f}" for t in timings)
    rows.append(
        (
            "build: from_objects",
            f"median {median:.2f} s (runs {runs} s; first cold caches)",
            f"< {BUILD_TARGET_S:.0f} s {_verdict(median, BUILD_TARGET_S)}",
        )
    )

    started = time.perf_counter()
    facts = [f for o in objects if (f := extract(o)) is not None]
    extract_seconds = time.perf_counter() - started
    split = ServiceGraph()
    started = time.perf_counter()
    for f in facts:
        split.put(f)
    put_seconds = time.perf_counter() - started
    rows.append(("  of which extract / put", f"{extract_seconds:.2f} s / {put_seconds:.2f} s (separate run)", ""))
    del split, facts

    del graph
    gc.collect()
    tracemalloc.start()
    graph = ServiceGraph.from_objects(objects)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(
        ("build: peak memory", f"{peak / 2**20:.1f} MiB peak, {retained / 2**20:.1f} MiB retained (tracemalloc)", "")
    )
    rows.append(("build: RSS growth", f"{rss_delta:.1f} MiB (ru_maxrss over the first build)", ""))

    return graph


def _orders(objects: list[Obj]) -> dict[str, list[Obj]]:
    shuffled = objects[:]
    random.Random(SEED + 1).shuffle(shuffled)
    return {
        "kind order": objects,
        "shuffled": shuffled,
        "workloads first": sorted(objects, key=lambda o: -KIND_ORDER.index(o["kind"])),
    }


def measure_order(sizes: Sequence[int], rows: list[tuple[str, str, str]]) -> None:
    """The initial build in other arrival orders (one run each), at smaller sizes unless asked."""
    for namespaces in sizes:
        objects = Generator(SEED, namespaces).cluster().objects
        results, texts = [], set()
        for label, ordered in _orders(objects).items():
            graph, seconds = _timed_build(ordered)
            results.append(f"{label} {seconds:.2f} s")
            texts.add(to_json(graph.snapshot()))
        same = "same graph" if len(texts) == 1 else "GRAPHS DIFFER"
        rows.append((f"build order, {namespaces} ns ({len(objects)} obj)", f"{', '.join(results)}; {same}", ""))


def measure_view(graph: ServiceGraph, rows: list[tuple[str, str, str]]) -> Graph:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        snapshot = graph.snapshot()
        timings.append(time.perf_counter() - started)
    rows.append(("snapshot()", f"median {statistics.median(timings):.3f} s (3 runs)", ""))
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        text = to_json(snapshot)
        timings.append(time.perf_counter() - started)
    rows.append(
        ("to_json", f"median {statistics.median(timings):.3f} s (3 runs), {len(text.encode()) / 2**20:.2f} MiB", "")
    )
    cyclic = sum(len(c) for c in snapshot.cycles)
    largest = max((len(c) for c in snapshot.cycles), default=0)
    rows.append(
        (
            "graph",
            f"{len(snapshot.nodes)} nodes, {len(snapshot.edges)} edges, {len(snapshot.unresolved)} "
            f"unresolved, {len(snapshot.cycles)} cycles ({cyclic} nodes, largest {largest})",
            "",
        )
    )
    kinds = Counter(n.kind for n in snapshot.nodes)
    rows.append(("  nodes by kind", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())), ""))
    evidence = Counter(e.type for edge in snapshot.edges for e in edge.evidence)
    rows.append(("  edge evidence", ", ".join(f"{k} {v}" for k, v in sorted(evidence.items())), ""))
    return snapshot


def _timed_put(graph: ServiceGraph, obj: Obj) -> tuple[float, bool]:
    started = time.perf_counter()
    facts = extract(obj)
    assert facts is not None
    changed = graph.put(facts)
    return time.perf_counter() - started, changed


def _replace(objects: list[Obj], old: Obj, new: Obj) -> None:
    objects[next(i for i, o in enumerate(objects) if o is old)] = new


def measure_updates(graph: ServiceGraph, cluster: Cluster, rows: list[tuple[str, str, str]]) -> None:
    rng = random.Random(SEED + 2)
    services = [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in cluster.services]

    latencies, unchanged = [], 0
    for old in rng.sample(cluster.workloads, WORKLOAD_CHANGES):
        new = copy.deepcopy(old)
        env = [e for e in new["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e]
        var = rng.choice([e for e in env if names_an_address(e["name"])] or env)
        ns, name = rng.choice(services)
        var["value"] = f"http://{name}.{ns}.svc:8080/v2"
        seconds, changed = _timed_put(graph, new)
        latencies.append(seconds)
        unchanged += not changed
        _replace(cluster.objects, old, new)
    verdict = _verdict(statistics.median(latencies) * 1e3, WORKLOAD_TARGET_MS)
    target = f"< {WORKLOAD_TARGET_MS:.0f} ms {verdict}"
    rows.append((f"one workload env var changed ({WORKLOAD_CHANGES})", f"med/p95/max {_ms(latencies)}", target))

    latencies = []
    for old in rng.sample(cluster.services, SERVICE_CHANGES):
        new = copy.deepcopy(old)
        annotations = new["metadata"]["annotations"]
        ns, name = rng.choice(services)
        annotations["alertagent.io/dependencies"] = ", ".join(
            filter(None, [annotations.get("alertagent.io/dependencies"), f"{ns}/{name}"])
        )
        annotations["alertagent.io/team"] = "reorg"
        seconds, changed = _timed_put(graph, new)
        latencies.append(seconds)
        unchanged += not changed
        _replace(cluster.objects, old, new)
    rows.append((f"one Service annotation changed ({SERVICE_CHANGES})", f"med/p95/max {_ms(latencies)}", ""))

    latencies = []
    picked = rng.sample(cluster.shared_configmaps, CONFIGMAP_CHANGES)
    for old, _ in picked:
        new = copy.deepcopy(old)
        key = rng.choice([k for k in new["data"] if names_an_address(k)] or sorted(new["data"]))
        ns, name = rng.choice(services)
        new["data"][key] = f"{name}.{ns}.svc.cluster.local:8080"
        seconds, changed = _timed_put(graph, new)
        latencies.append(seconds)
        unchanged += not changed
        _replace(cluster.objects, old, new)
    users = [n for _, n in picked]
    rows.append(
        (
            f"one shared ConfigMap changed ({CONFIGMAP_CHANGES})",
            f"med/p95/max {_ms(latencies)} (envFrom by {min(users)}-{max(users)} workloads)",
            "",
        )
    )
    if unchanged:
        rows.append(("  WARNING", f"{unchanged} puts reported no change", ""))


def measure_recreate(graph: ServiceGraph, cluster: Cluster, rows: list[tuple[str, str, str]]) -> None:
    """A Service deleted and created again (a redeploy): its name going live or not recomputes every
    source that looked that name up."""
    removals, creations = [], []
    for obj in random.Random(SEED + 3).sample(cluster.services, SERVICE_RECREATES):
        meta = obj["metadata"]
        started = time.perf_counter()
        graph.remove("Service", meta["namespace"], meta["name"])
        removals.append(time.perf_counter() - started)
        seconds, _ = _timed_put(graph, obj)
        creations.append(seconds)
    rows.append((f"one Service deleted ({SERVICE_RECREATES})", f"med/p95/max {_ms(removals)}", ""))
    rows.append((f"one Service created ({SERVICE_RECREATES})", f"med/p95/max {_ms(creations)}", ""))

    started = time.perf_counter()
    rebuilt = to_json(ServiceGraph.from_objects(cluster.objects).snapshot())
    same = rebuilt == to_json(graph.snapshot())
    rows.append(("incremental == rebuild", f"{'yes' if same else 'NO'} ({time.perf_counter() - started:.2f} s)", ""))


def main() -> None:
    started = time.perf_counter()
    cluster = Generator(SEED).cluster()
    generate_seconds = time.perf_counter() - started
    kinds = Counter(o["kind"] for o in cluster.objects)
    env_vars = [len(c.get("env") or []) for w in cluster.workloads for c in w["spec"]["template"]["spec"]["containers"]]
    print(
        f"input: {len(cluster.objects)} objects in {NAMESPACES} namespaces: "
        + ", ".join(f"{kinds[k]} {k}{'es' if k.endswith('s') else 's'}" for k in KIND_ORDER)
    )
    print(
        f"       {sum(env_vars)} env vars in {len(env_vars)} containers; generated in {generate_seconds:.1f} s "
        f"(not timed below), seed {SEED}"
    )
    rows: list[tuple[str, str, str]] = []
    graph = measure_build(cluster.objects, rows)
    measure_view(graph, rows)
    measure_updates(graph, cluster, rows)
    measure_recreate(graph, cluster, rows)
    measure_order(ORDER_SIZES, rows)
    width = max(len(r[0]) for r in rows)
    result_width = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<{result_width}}  target")
    for label, result, target in rows:
        print(f"{label:<{width}}  {result:<{result_width}}  {target}".rstrip())
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
