"""A cascading outage replayed on the real test bed, with and without dependency suppression: what the
on-call's DingTalk group receives.

    .venv/bin/python -m benchmarks.bench_incidents_replay [--runs 3] [--hold 30s] [--poll-interval 10s]

The stack (processes on loopback ports): etcd and kube-apiserver with an audit log of every write
(`benchmarks.harness.TestBed`), Alertmanager, Prometheus scraping a local exporter this script
controls, the operator (discovery on), its sidecars next to Prometheus and Alertmanager, the gateway
with its incident engine (channels Secret mounted as the kubelet would, `--kubeconfig`, `--pod-name`)
and one local DingTalk robot stand-in per run (`devstack.robots`: signatures and the real 20 messages
per minute limit checked). Each run has a namespace of its own, so no run reopens another's incident:

- a database `postgres` and 20 services above it in three tiers (8 call the database, 7 call two of
  those, 5 call two of those), plus 5 unrelated services: Services + Deployments whose env vars name
  their callees (`DATABASE_URL=postgres://postgres:5432/...`, `ORDERS_URL=http://orders:8080`), from
  which discovery builds the graph;
- an AlertRule (`PostgresDown`: `pg_up == 0` for 4s; `HighErrorRate`: `app_error_ratio > 0.05` for
  10s; both filtered by the run's namespace; every alert critical, labelled with its service by the
  scrape) and a DingTalk channel (gateway-delivered, groupBy alertname+service, groupWait 5s,
  groupInterval 10s);
- in the "suppression on" runs a SuppressionPolicy with `dependencySuppression` (maxDepth 3); the
  "off" runs have none. Runs alternate on, off, on, ...

The outage: the database goes down and the 5 unrelated services fail at t0, the three tiers at t0+3s,
+5s and +7s; firing in Prometheus, sent to Alertmanager, routed to the gateway. The firing phase ends
once every alert Alertmanager delivered (state `active`, polled every second) is named in some
message and the incident message arrived, plus 15 s; then the services heal top-down and the
database last (as in a real recovery: dependants still alerting when the root resolves would page).

Measured at the robot, per run: initial (firing) notifications, split into the cascade's and the
unrelated services'; incident updates ("Incident grew"); resolves (Alertmanager's and the incident's),
counted separately; whether the incident message names the root and accounts for the 20 impacted
services (the tree lists 15, `render.robots.incidents.TREE_LINES`, and counts the rest); alerts lost
(delivered by Alertmanager, in no message: target 0); seconds from the root alert firing in Prometheus
(the first `ALERTS{alertstate="firing"}` sample of PostgresDown, i.e. its evaluation time) to the
incident message's arrival; and Incident writes (create, status patch, delete of `incidents` as the
API server's audit log records them) during the firing phase, per minute, cross-checked with the
gateway's `alertagent_incident_writes_total`. Medians over the runs of each mode, side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from alertagent.api.alertmanagercluster import AlertmanagerCluster
from alertagent.devstack.agents import metric_value, start_alertmanager_sidecar, start_gateway, start_operator
from alertagent.devstack.agents import start_sidecar as start_rules_sidecar
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget, start_alertmanager, start_prometheus
from alertagent.devstack.mounts import SecretMount
from alertagent.devstack.processes import Process, free_port
from alertagent.devstack.robots import Arrival, Robot
from alertagent.plans.alertmanager import secret_name
from alertagent.plans.gateway import channels_secret_name
from benchmarks.harness import OPERATOR_USER, TestBed, loadavg, machine, wait_for

CLUSTER_NAMESPACE = "default"
DATABASE = "postgres"
TIERS = (
    ("ledger", "accounts", "orders", "payments", "inventory", "catalog", "users", "sessions"),
    ("checkout", "cart", "search", "profile", "billing", "shipping", "pricing"),
    ("web", "mobile-bff", "admin", "partner-api", "storefront"),
)
UNRELATED = ("mail-relay", "reports", "cdn-purger", "metrics-gw", "audit-log")
CASCADE = (DATABASE, *(s for tier in TIERS for s in tier))
TIER_DELAYS = (3.0, 2.0, 2.0)  # seconds after the previous step that each tier starts failing
SIGN_SECRET = "SECbench0123456789abcdef0123456789abcdef0123456789abcdef01234567"
SETTLE = 15.0  # seconds the firing phase goes on after everything expected arrived
TITLE = re.compile(r"^\[(FIRING|RESOLVED|INCIDENT)")


def seconds(duration: str) -> float:
    """`10s`, `1m`, `1m30s` in seconds. Raises ValueError."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    if not parts or not duration:
        raise ValueError(f"{duration!r}: use e.g. 10s, 1m, 1m30s")
    return int(parts.group(1) or 0) * 60.0 + int(parts.group(2) or 0)


def callees(tier: int, index: int) -> list[str]:
    """Whom service `TIERS[tier][index]` calls: the database (tier 0), else two of the tier below."""
    if tier == 0:
        return [DATABASE]
    below = TIERS[tier - 1]
    step = 1 if tier == 1 else 2
    return sorted({below[index % len(below)], below[(index + step) % len(below)]})


# --- the exporter ---------------------------------------------------------------------------------


class OutageExporter:
    """`/metrics`: for every run namespace, `pg_up{namespace, service="postgres"}` (0 while the database
    is down, as postgres_exporter says) and `app_error_ratio{namespace, service}` of every other
    service (0.5 while it fails)."""

    def __init__(self, namespaces: list[str]) -> None:
        self.namespaces = namespaces
        self.failing: set[tuple[str, str]] = set()  # (namespace, service), the database included
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def set(self, namespace: str, services: tuple[str, ...] | list[str], failing: bool) -> None:
        with self._lock:
            for service in services:
                (self.failing.add if failing else self.failing.discard)((namespace, service))

    def text(self) -> str:
        with self._lock:
            failing = set(self.failing)
        lines = ["# TYPE pg_up gauge"]
        lines += [
            f'pg_up{{namespace="{ns}",service="{DATABASE}"}} {0 if (ns, DATABASE) in failing else 1}'
            for ns in self.namespaces
        ]
        lines.append("# TYPE app_error_ratio gauge")
        for ns in self.namespaces:
            for service in (*CASCADE[1:], *UNRELATED):
                value = 0.5 if (ns, service) in failing else 0.0
                lines.append(f'app_error_ratio{{namespace="{ns}",service="{service}"}} {value}')
        return "\n".join(lines) + "\n"

    def start(self) -> str:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# --- the objects ----------------------------------------------------------------------------------


def workload(namespace: str, name: str, env: dict[str, str], image: str) -> list[dict[str, Any]]:
    """A Service and the Deployment it selects, the Deployment's env naming its callees."""
    labels = {"app": name}
    container: dict[str, Any] = {"name": name, "image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    port = 5432 if name == DATABASE else 8080
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": labels, "ports": [{"port": port}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
    ]


def env_var(service: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", service.upper()) + "_URL"


def run_objects(namespace: str, robot: Robot, suppression: bool) -> list[dict[str, Any]]:
    """Everything of one run's namespace: the services, the rules, the channel (and its Secret), and
    with `suppression` the dependency SuppressionPolicy."""
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    docs += workload(namespace, DATABASE, {}, "postgres:16")
    for tier, services in enumerate(TIERS):
        for index, service in enumerate(services):
            env = {
                ("DATABASE_URL" if callee == DATABASE else env_var(callee)): (
                    f"postgres://app@{DATABASE}:5432/{service}" if callee == DATABASE else f"http://{callee}:8080"
                )
                for callee in callees(tier, index)
            }
            docs += workload(namespace, service, {**env, "LOG_LEVEL": "info"}, f"registry.example/{service}:1.0")
    for service in UNRELATED:
        docs += workload(namespace, service, {"SMTP_HOST": "smtp.example.com"}, f"registry.example/{service}:1.0")
    docs.append(
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertRule",
            "metadata": {"name": "outage", "namespace": namespace, "labels": {"alertagent.io/cluster": "main"}},
            "spec": {
                "groups": [
                    {
                        "name": "outage",
                        "interval": "2s",
                        "rules": [
                            {
                                "alert": "PostgresDown",
                                "expr": f'pg_up{{namespace="{namespace}"}} == 0',
                                "for": "4s",
                                "labels": {"severity": "critical"},
                                "annotations": {"summary": "the database does not answer"},
                            },
                            {
                                "alert": "HighErrorRate",
                                "expr": f'app_error_ratio{{namespace="{namespace}"}} > 0.05',
                                "for": "10s",
                                "labels": {"severity": "critical"},
                                "annotations": {"summary": "{{ $labels.service }}: more than 5% of requests fail"},
                            },
                        ],
                    }
                ]
            },
        }
    )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "robot", "namespace": namespace},
            "stringData": {"url": robot.url, "sign": SIGN_SECRET},
        }
    )
    docs.append(
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "NotificationChannel",
            "metadata": {"name": "oncall", "namespace": namespace},
            "spec": {
                "type": "dingtalk",
                "dingtalk": {
                    "webhookUrl": {"name": "robot", "key": "url"},
                    "signSecret": {"name": "robot", "key": "sign"},
                    "language": "en",
                },
                "route": {
                    "matchers": [{"name": "severity", "value": "critical"}],
                    "groupBy": ["alertname", "service"],
                    "groupWait": "5s",
                    "groupInterval": "10s",
                    "repeatInterval": "1h",
                },
            },
        }
    )
    if suppression:
        docs.append(
            {
                "apiVersion": "alertagent.io/v1alpha1",
                "kind": "SuppressionPolicy",
                "metadata": {"name": "dependencies", "namespace": namespace},
                "spec": {
                    "dependencySuppression": {
                        "sourceMatchers": [{"name": "severity", "value": "critical"}],
                        "maxDepth": 3,
                    }
                },
            }
        )
    return docs


def cluster_object(alertmanager: str, prometheus: str, gateway: str, hold: str, poll: str) -> dict[str, Any]:
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": CLUSTER_NAMESPACE},
        "spec": {
            "alertmanager": {"url": alertmanager},
            "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus}],
            "gateway": {"url": gateway},
            "incidents": {"hold": hold, "pollInterval": poll},
            "selectors": {"alertRules": {"labelSelector": {"matchLabels": {"alertagent.io/cluster": "main"}}}},
        },
    }


# --- one run --------------------------------------------------------------------------------------


@dataclass
class Run:
    namespace: str
    suppression: bool
    robot: Robot
    delivered: set[str] = field(default_factory=set)  # services whose alert Alertmanager showed `active`
    figures: dict[str, Any] = field(default_factory=dict)


def title_of(arrival: Arrival) -> str:
    return str((arrival.body.get("markdown") or {}).get("title") or "")


def kind(arrival: Arrival) -> str:
    """`firing`, `resolved` (Alertmanager's), `update` or `incident-resolved` (the incident engine's)."""
    title = title_of(arrival)
    if title.startswith("[INCIDENT"):
        return "update"
    if title.startswith("[RESOLVED] Incident "):
        return "incident-resolved"
    return "resolved" if title.startswith("[RESOLVED") else "firing"


def text_of(arrival: Arrival) -> str:
    return str((arrival.body.get("markdown") or {}).get("text") or "")


def services_named(text: str) -> set[str]:
    """The services whose alerts a message carries (its `Labels:` lines)."""
    return set(re.findall(r"\bservice=([a-z0-9-]+)", text))


def am_alerts(am_url: str, namespace: str) -> list[dict[str, Any]]:
    alerts = httpx.get(f"{am_url}/api/v2/alerts", timeout=5).json()
    return [a for a in alerts if a["labels"].get("namespace") == namespace]


def fired_at(prometheus_url: str, namespace: str) -> dict[str, float]:
    """When each service's alert fired in Prometheus: the timestamp of its first
    ALERTS{alertstate="firing"} sample (the evaluation that fired it), epoch seconds, by service."""
    query = f'ALERTS{{alertstate="firing",namespace="{namespace}"}}[30m]'
    body = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=10).json()
    return {
        series["metric"].get("service", "?"): min(float(ts) for ts, _ in series["values"])
        for series in body["data"]["result"]
    }


def incident_writes(bed: TestBed, mark: int) -> list[Any]:
    return [w for w in bed.audit.writes(mark) if w.resource.split("/")[0] == "incidents"]


def replay(bed: TestBed, run: Run, exporter: OutageExporter, am_url: str, prom_url: str, gw_port: int) -> None:
    """One outage in `run.namespace`; fills `run.figures`."""
    ns, robot = run.namespace, run.robot
    mark = bed.audit.mark()
    writes_metric = metric_value(gw_port, "alertagent_incident_writes_total")
    t0 = time.time()
    exporter.set(ns, [DATABASE, *UNRELATED], True)
    for delay, tier in zip(TIER_DELAYS, TIERS, strict=True):
        time.sleep(delay)
        exporter.set(ns, tier, True)

    def everything_arrived() -> bool:
        for alert in am_alerts(am_url, ns):
            if alert["status"]["state"] == "active":
                run.delivered.add(alert["labels"].get("service", "?"))
        arrivals = [a for a in list(robot.arrivals) if kind(a) == "firing"]
        named = set().union(*(services_named(text_of(a)) for a in arrivals)) if arrivals else set()
        incident = any("🧩 Incident" in text_of(a) for a in arrivals)
        return incident and len(run.delivered) >= 1 + len(UNRELATED) and run.delivered <= named

    wait_for(everything_arrived, 300, 1.0, f"{ns}: every delivered alert in a message")
    settle_until = time.monotonic() + SETTLE
    while time.monotonic() < settle_until:  # alerts Alertmanager delivers meanwhile count too
        everything_arrived()
        time.sleep(1.0)
    storm_end = time.time()
    writes = incident_writes(bed, mark)
    writes_metric = metric_value(gw_port, "alertagent_incident_writes_total") - writes_metric
    firing_phase = list(robot.arrivals)

    # The recovery: the services heal top-down, the database last.
    for tier in reversed(TIERS):
        exporter.set(ns, tier, False)
    exporter.set(ns, UNRELATED, False)
    wait_for(lambda: all(a["labels"]["alertname"] != "HighErrorRate" for a in am_alerts(am_url, ns)), 120, 1.0)
    exporter.set(ns, [DATABASE], False)
    notified = {s for a in firing_phase if kind(a) == "firing" for s in services_named(text_of(a))}

    def resolved() -> bool:
        arrivals = list(robot.arrivals)
        told = {s for a in arrivals if kind(a) == "resolved" for s in services_named(text_of(a))}
        return notified <= told and any(kind(a) == "incident-resolved" for a in arrivals)

    wait_for(resolved, 300, 1.0, f"{ns}: the resolves")
    time.sleep(SETTLE)
    all_arrivals = list(robot.arrivals)

    fired_by_service = fired_at(prom_url, ns)
    fired = fired_by_service.get(DATABASE)
    firing = [a for a in firing_phase if kind(a) == "firing"]
    unrelated_delays = [
        min(a.at for a in firing if service in services_named(text_of(a))) - fired_by_service[service]
        for service in UNRELATED
        if service in fired_by_service and any(service in services_named(text_of(a)) for a in firing)
    ]
    incident_resolves = [a for a in all_arrivals if kind(a) == "incident-resolved"]
    incident_msgs = [a for a in firing if "🧩 Incident" in text_of(a)]
    section = text_of(incident_msgs[0]) if incident_msgs else ""
    listed = set(re.findall(rf"{re.escape(ns)}/([a-z0-9-]+) · \d+ alert", section))
    more = int(m.group(1)) if (m := re.search(r"… and (\d+) more", section)) else 0
    impacted = int(m.group(1)) if (m := re.search(r"(\d+) services? impacted", section)) else 0
    cascade = set(CASCADE)
    run.figures = {
        "initial": len(firing),
        "initial_cascade": sum(1 for a in firing if services_named(text_of(a)) & cascade),
        "initial_unrelated": sum(1 for a in firing if services_named(text_of(a)) & set(UNRELATED)),
        "incident_messages": len(incident_msgs),
        "updates": sum(1 for a in all_arrivals if kind(a) == "update"),
        "resolves_alertmanager": sum(1 for a in all_arrivals if kind(a) == "resolved"),
        "resolves_incident": sum(1 for a in incident_resolves if f"{ns}/{DATABASE}" in title_of(a)),
        "resolves_incident_single": sum(1 for a in incident_resolves if f"{ns}/{DATABASE}" not in title_of(a)),
        "names_root": f"Root cause: **{ns}/{DATABASE}** (PostgresDown)" in section,
        "impacted": impacted,
        "listed": len(listed & cascade),
        "more": more,
        "delivered": len(run.delivered),
        "lost": sorted(run.delivered - {s for a in firing for s in services_named(text_of(a))}),
        "refused": dict(robot.refused),
        "to_incident_message": (incident_msgs[0].at - fired) if incident_msgs and fired else None,
        "last_initial_after_root": (max(a.at for a in firing) - fired) if firing and fired else None,
        "unrelated_delay": statistics.median(unrelated_delays) if unrelated_delays else None,
        "storm_seconds": storm_end - t0,
        "writes": len(writes),
        "writes_by_verb": {v: sum(1 for w in writes if w.verb == v) for v in sorted({w.verb for w in writes})},
        "writes_metric": writes_metric,
        "writes_per_minute": len(writes) / ((storm_end - t0) / 60),
    }


# --- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    bed: TestBed
    alertmanager: AlertmanagerTarget
    prometheus: RuleTarget
    exporter: OutageExporter
    gateway_port: int
    operator_port: int
    processes: list[Process]
    mount: SecretMount


def wait_ready(
    runs: list[Run], prometheus: RuleTarget, alertmanager: AlertmanagerTarget, operator_port: int, gateway_port: int
) -> None:
    """Until every run's rules are loaded, Alertmanager routes every run's channel (with the inhibit
    rules of the suppression runs only), the graph has every run's edges and the gateway's incident
    engine leads with every channel."""

    def rules_loaded() -> bool:
        body = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()
        names = [r["name"] for g in body["data"]["groups"] for r in g["rules"]]
        return names.count("PostgresDown") == len(runs)

    def alertmanager_routes() -> bool:
        config = yaml.safe_load(alertmanager.status()["config"]["original"])
        text = yaml.safe_dump(config)
        inhibits = yaml.safe_dump(config.get("inhibit_rules") or [])
        return all(
            f"{r.namespace}/oncall" in text and ((f'"{r.namespace}"' in inhibits) == r.suppression) for r in runs
        )

    def graph_published() -> bool:
        graph = httpx.get(f"http://127.0.0.1:{operator_port}/api/v1/graph", timeout=5).json()
        edges = {(e["from"], e["to"]) for e in graph["edges"] if e.get("selected")}
        expected = sum(len(callees(t, i)) for t, tier in enumerate(TIERS) for i in range(len(tier)))
        return all(sum(1 for a, _ in edges if a.startswith(f"{r.namespace}/")) == expected for r in runs)

    def engine_leads() -> bool:
        state = httpx.get(f"http://127.0.0.1:{gateway_port}/api/v1/incidents", timeout=5).json()
        channels = httpx.get(f"http://127.0.0.1:{gateway_port}/api/v1/channels", timeout=5).text
        leads = bool(state.get(f"{CLUSTER_NAMESPACE}/main", {}).get("leader"))
        return leads and all(f"{r.namespace}/oncall" in channels for r in runs)

    wait_for(rules_loaded, 180, 1.0, "the rules loaded in Prometheus")
    wait_for(alertmanager_routes, 180, 1.0, "Alertmanager routing every run's channel")
    wait_for(graph_published, 180, 1.0, "the service graph")
    wait_for(engine_leads, 120, 1.0, "the gateway's incident engine leading")


@contextlib.contextmanager
def stack(work: Path, runs: list[Run], hold: str, poll: str) -> Iterator[Stack]:
    """Bring everything up and wait until the rules are loaded, Alertmanager routes every run's channel
    (with the inhibit rules of the suppression runs), the graph is published and the gateway's
    incident engine leads; stop it all on exit."""
    logs = work / "logs"
    logs.mkdir()
    cleanup = contextlib.ExitStack()
    with cleanup:
        bed = TestBed.start(work)
        cleanup.callback(bed.stop)
        alertmanager = start_alertmanager(work)
        cleanup.callback(alertmanager.stop)
        namespaces = [r.namespace for r in runs]
        exporter = OutageExporter(namespaces)
        address = exporter.start()
        cleanup.callback(exporter.stop)
        scrape = [{"job_name": "services", "honor_labels": True, "static_configs": [{"targets": [address]}]}]
        prometheus = start_prometheus(work, alertmanager.url, scrape)
        cleanup.callback(prometheus.stop)
        processes: list[Process] = []
        cleanup.callback(lambda: [p.stop() for p in reversed(processes)])
        for run in runs:
            run.robot.start()
            cleanup.callback(run.robot.stop)

        gateway_port = free_port()
        cluster = cluster_object(alertmanager.url, prometheus.url, f"http://127.0.0.1:{gateway_port}", hold, poll)
        docs: list[dict[str, Any]] = [cluster]
        for run in runs:
            docs += run_objects(run.namespace, run.robot, run.suppression)
        bed.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([d for d in docs if d["kind"] == "Namespace"]))
        bed.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([d for d in docs if d["kind"] != "Namespace"]))

        model = AlertmanagerCluster.model_validate(cluster)
        operator_port = free_port()
        operator, _ = start_operator(
            bed.plane,
            logs,
            (CLUSTER_NAMESPACE, *namespaces),
            http_port=operator_port,
            kubeconfig=bed.kubeconfigs[OPERATOR_USER],
            env={"ALERTAGENT_HEALTH_INTERVAL_SECONDS": "5"},
        )
        processes.append(operator)
        processes.append(
            start_rules_sidecar(
                bed.plane, logs, CLUSTER_NAMESPACE, "main", "prometheus", prometheus.rules_dir, prometheus.url
            )[0]
        )
        processes.append(
            start_alertmanager_sidecar(
                bed.plane, logs, CLUSTER_NAMESPACE, secret_name(model), alertmanager.config_path, alertmanager.url
            )[0]
        )
        folder = work / "gateway" / "channels"
        mount = SecretMount(bed.plane, CLUSTER_NAMESPACE, channels_secret_name(model), folder).start()
        cleanup.callback(mount.stop)
        gateway, _ = start_gateway(
            logs,
            [folder],
            work / "gateway" / "queue.db",
            gateway_port,
            (
                *("--poll-interval", "0.5", "--kubeconfig", str(bed.plane.kubeconfig)),
                *("--pod-name", "bench-gateway", "--pod-namespace", CLUSTER_NAMESPACE),
            ),
        )
        processes.append(gateway)

        wait_ready(runs, prometheus, alertmanager, operator_port, gateway_port)
        time.sleep(seconds(poll) + 2)  # the whole graph read by the engine (at its next poll)
        yield Stack(bed, alertmanager, prometheus, exporter, gateway_port, operator_port, processes, mount)


# --- the report -----------------------------------------------------------------------------------


def table(runs: list[Run]) -> str:
    """The figures side by side: medians over each mode's runs (min-max where they vary)."""

    def cell(mode: bool, key: str, fmt: str = "{:.0f}") -> str:
        values = [r.figures[key] for r in runs if r.suppression == mode and r.figures.get(key) is not None]
        if not values:
            return "-"
        if isinstance(values[0], bool):
            return f"{sum(values)}/{len(values)} runs"
        mid = fmt.format(statistics.median(values))
        low, high = fmt.format(min(values)), fmt.format(max(values))
        return mid if low == high else f"{mid} ({low}-{high})"

    rows = [
        ("initial notifications (firing messages)", "initial", "{:.0f}", "1 + 5"),
        ("  of the cascade (21 services alerting)", "initial_cascade", "{:.0f}", "1"),
        ("  of the 5 unrelated services", "initial_unrelated", "{:.0f}", "5"),
        ("  carrying the incident section", "incident_messages", "{:.0f}", "1"),
        ("incident message names the root", "names_root", "", "yes"),
        ("  impacted services it reports", "impacted", "{:.0f}", "20"),
        ("  listed by name / counted as 'and N more'", "listed", "{:.0f}", ""),
        ("  ", "more", "{:.0f}", ""),
        ("incident updates ('Incident grew')", "updates", "{:.0f}", "0"),
        ("resolves: Alertmanager's", "resolves_alertmanager", "{:.0f}", ""),
        ("resolves: the cascade incident's", "resolves_incident", "{:.0f}", "1"),
        ("resolves: one-service incidents' (unrelated)", "resolves_incident_single", "{:.0f}", ""),
        ("alerts Alertmanager delivered", "delivered", "{:.0f}", ""),
        ("alerts lost (delivered, in no message)", "lost_count", "{:.0f}", "0"),
        ("root firing in Prometheus -> incident message, s", "to_incident_message", "{:.1f}", ""),
        ("root firing -> last initial message, s", "last_initial_after_root", "{:.1f}", ""),
        ("unrelated alert firing -> its message (median), s", "unrelated_delay", "{:.1f}", ""),
        ("firing phase (t0 -> all arrived + 15 s), s", "storm_seconds", "{:.0f}", ""),
        ("Incident writes in the firing phase (audit log)", "writes", "{:.0f}", ""),
        ("  per minute", "writes_per_minute", "{:.1f}", ""),
        ("  gateway's alertagent_incident_writes_total", "writes_metric", "{:.0f}", ""),
        ("robot refusals (rate limit, signature)", "refused_count", "{:.0f}", "0"),
    ]
    for run in runs:
        run.figures["lost_count"] = len(run.figures["lost"])
        run.figures["refused_count"] = sum(run.figures["refused"].values())
    out = ["| figure | suppression on | suppression off | target |", "|---|---:|---:|---|"]
    listed_row = None
    for label, key, fmt, target in rows:
        if key == "listed":
            listed_row = (label, key, fmt)
            continue
        if key == "more" and listed_row:
            on = f"{cell(True, 'listed')} / {cell(True, 'more')}"
            off = f"{cell(False, 'listed')} / {cell(False, 'more')}"
            out.append(f"| {listed_row[0]} | {on} | {off} | 20 in all |")
            continue
        out.append(f"| {label} | {cell(True, key, fmt)} | {cell(False, key, fmt)} | {target} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="outages per mode (default 3)")
    parser.add_argument("--hold", default="30s", help="spec.incidents.hold (default: the product's, 30s)")
    parser.add_argument("--poll-interval", default="10s", help="spec.incidents.pollInterval (default 10s)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    try:
        seconds(args.hold), seconds(args.poll_interval)
    except ValueError as err:
        parser.error(str(err))

    work = Path(tempfile.mkdtemp(prefix="alertagent-bench-incidents-"))
    runs = [
        Run(f"outage-{'on' if suppression else 'off'}-{i + 1}", suppression, Robot("dingtalk", secret=SIGN_SECRET))
        for i in range(args.runs)
        for suppression in (True, False)
    ]
    print(f"machine: {machine()}; load {loadavg()}; work folder {work}")
    print(
        f"{len(CASCADE)} cascade services (1 database, tiers of {', '.join(str(len(t)) for t in TIERS)}) + "
        f"{len(UNRELATED)} unrelated, {args.runs} runs per mode; incidents hold {args.hold}, poll {args.poll_interval}"
    )
    started = time.monotonic()
    with stack(work, runs, args.hold, args.poll_interval) as up:
        print(f"stack up in {time.monotonic() - started:.0f} s")
        for run in runs:
            replay(up.bed, run, up.exporter, up.alertmanager.url, up.prometheus.url, up.gateway_port)
            f = run.figures
            print(
                f"{run.namespace}: {f['initial']} initial ({f['initial_cascade']} cascade, {f['initial_unrelated']} "
                f"unrelated), incident message {f['incident_messages']} (root named {f['names_root']}, "
                f"{f['impacted']} impacted: {f['listed']} listed + {f['more']} more), {f['updates']} updates, "
                f"resolves {f['resolves_alertmanager']} + {f['resolves_incident']} + "
                f"{f['resolves_incident_single']}, lost {f['lost']}, unrelated delay {f['unrelated_delay']:.1f} s, "
                f"root -> incident message {f['to_incident_message']:.1f} s, {f['writes']} Incident writes "
                f"{f['writes_by_verb']} in {f['storm_seconds']:.0f} s (metric {f['writes_metric']:.0f}), "
                f"refused {f['refused']}",
                flush=True,
            )
    print()
    print(table(runs))
    print(f"\ntotal {time.monotonic() - started:.0f} s; load {loadavg()}")
    if not args.keep:
        import shutil  # noqa: PLC0415

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
