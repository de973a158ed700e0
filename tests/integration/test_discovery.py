"""Discovery against the real API server: a multi-namespace application is applied, the operator's
published graph (ConfigMap, HTTP API, metrics, `alertagent graph --live`) is checked edge by edge, one
change is applied and followed incrementally; dependency suppression is proven on real Alertmanager.
A catalog application (issue 16: a shared catalog ConfigMap, NetworkPolicies, a telemetry collector, an
ExternalName Service, a CronJob) is checked edge by edge with class, NetworkPolicy verdict and selection."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from alertagent.devstack.agents import BIN, eventually, metric_value, start_alertmanager_sidecar, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.processes import free_port
from tests.conftest import extra_namespaces

GROUP = "alertagent.io/v1alpha1"


def service(name: str, ns: str, headless: bool = False, **annotations: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"port": 80}]}
    if headless:
        spec["clusterIP"] = "None"
    notes = {f"alertagent.io/{k}": v for k, v in annotations.items()}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "annotations": notes},
        "spec": spec,
    }


def workload(name: str, ns: str, kind: str = "Deployment", env: dict[str, str] | None = None, **extra: Any) -> Any:
    container = {"name": "app", "image": "registry.example/app:1", **extra.pop("container", {})}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container], **extra}},
    }
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def application(shop: str, data: str, pay: str) -> list[dict[str, Any]]:
    """14 Services in three namespaces, an Ingress, a DaemonSet no Service selects."""
    shared = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shared-config", "namespace": shop},
        "data": {
            "DATABASE_URL": f"postgres://app:s3cr3t@postgres.{data}.svc.cluster.local:5432/shop",
            "LOG_LEVEL": "info",
            "FEATURE_FLAGS": "true",
        },
    }
    catalog_yaml = f"search:\n  url: http://search.{data}:9200/catalog\n  timeout: 30s\n"
    files = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "catalog-files", "namespace": shop},
        "data": {"catalog.yaml": catalog_yaml},
    }
    paths = [
        {"path": f"/{path}", "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": 80}}}}
        for path, name in (("", "frontend"), ("api", "api"))
    ]
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": shop},
        "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": paths}}]},
    }
    shared_env = {"envFrom": [{"configMapRef": {"name": "shared-config"}}]}
    return [
        shared,
        files,
        ingress,
        service("frontend", shop, tier="business", team="web", criticality="high"),
        workload("frontend", shop, env={"API_URL": "http://api:8080", "PORT": "3000"}),
        service("api", shop, tier="business", team="core"),
        workload(
            "api",
            shop,
            env={"CATALOG_URL": "http://catalog:8080"},
            container={**shared_env, "args": ["serve", f"--payments=grpc://payments.{pay}.svc.cluster.local:9000"]},
        ),
        service("catalog", shop),
        workload(
            "catalog",
            shop,
            container={"volumeMounts": [{"name": "files", "mountPath": "/etc/catalog"}]},
            volumes=[{"name": "files", "configMap": {"name": "catalog-files"}}],
        ),
        service("cart", shop),
        workload("cart", shop, env={"REDIS_ADDR": f"redis-0.redis.{data}:6379"}, container=shared_env),
        service("orders", shop),
        workload(
            "orders",
            shop,
            env={
                "KAFKA_BROKERS": ",".join(f"kafka-{i}.kafka.{data}.svc.cluster.local:9092" for i in (0, 1)),
                "RECOMMENDATIONS_URL": "http://recommendations:8080",
            },
        ),
        service("auth", shop, dependencies=f"{data}/postgres"),
        workload("auth", shop),
        service("notifications", shop),
        workload("notifications", shop, env={"MYSQL_DSN": f"notify:pw@tcp(mysql.{data}:3306)/notify?parseTime=true"}),
        workload("log-agent", shop, kind="DaemonSet", container={"command": ["agent", "--endpoint=http://api:8080"]}),
        service("postgres", data, tier="infrastructure", team="dba", criticality="critical"),
        workload("postgres", data, kind="StatefulSet"),
        service("redis", data, headless=True, tier="infrastructure"),
        workload("redis", data, kind="StatefulSet"),
        service("kafka", data, headless=True),
        workload("kafka", data, kind="StatefulSet"),
        service("mysql", data),
        workload("mysql", data),
        service("search", data),
        workload("search", data, kind="StatefulSet"),
        service("payments", pay, tier="business", team="payments"),
        workload("payments", pay, env={"DB_HOST": "postgres", "DB_URL": f"postgres.{data}.svc:5432"}),
        service("fraud", pay),
        workload("fraud", pay, env={"PAYMENTS_ADDR": "payments:9000"}),
    ]


def expected_edges(shop: str, data: str, pay: str) -> dict[tuple[str, str], set[str]]:
    return {
        (f"{shop}/ingress/web", f"{shop}/frontend"): {"ingress"},
        (f"{shop}/ingress/web", f"{shop}/api"): {"ingress"},
        (f"{shop}/frontend", f"{shop}/api"): {"env"},
        (f"{shop}/api", f"{shop}/catalog"): {"env"},
        (f"{shop}/api", f"{data}/postgres"): {"envFrom"},
        (f"{shop}/api", f"{pay}/payments"): {"args"},
        (f"{shop}/catalog", f"{data}/search"): {"configmap"},
        (f"{shop}/cart", f"{data}/redis"): {"env"},
        (f"{shop}/cart", f"{data}/postgres"): {"envFrom"},
        (f"{shop}/orders", f"{data}/kafka"): {"env"},
        (f"{shop}/auth", f"{data}/postgres"): {"annotation"},
        (f"{shop}/notifications", f"{data}/mysql"): {"env"},
        (f"{shop}/daemonset/log-agent", f"{shop}/api"): {"args"},
        (f"{pay}/payments", f"{data}/postgres"): {"env"},
        (f"{pay}/fraud", f"{pay}/payments"): {"env"},
    }


def edges_of(doc: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {(e["from"], e["to"]): {ev["type"] for ev in e["evidence"]} for e in doc["edges"]}


@pytest.fixture
def app_namespaces(api_client: client.ApiClient, namespace: str) -> Iterator[tuple[str, str, str]]:
    names = (namespace, f"{namespace[:50]}-data", f"{namespace[:50]}-pay")
    with extra_namespaces(api_client, names[1:]):
        yield names


def published(plane: ControlPlane, namespace: str) -> dict[str, Any]:
    out = plane.kubectl("-n", namespace, "get", "configmap", "alertagent-service-graph", "-o", "json").stdout
    doc: dict[str, Any] = json.loads(json.loads(out)["data"]["graph.json"])
    return doc


def _same_graph_everywhere(
    plane: ControlPlane, shop: str, doc: dict[str, Any], manifests: Path, http_port: int, metrics_port: int
) -> None:
    """The published graph over HTTP (all three formats), in the metrics, from the CLI (live and offline)."""
    want = edges_of(doc)
    api = f"http://127.0.0.1:{http_port}/api/v1/graph"
    assert edges_of(httpx.get(api, timeout=5).json()) == want
    dot = httpx.get(api, params={"format": "dot"}, timeout=5)
    assert dot.headers["content-type"].startswith("text/vnd.graphviz")
    assert f'"{shop}/frontend" -> "{shop}/api"' in dot.text
    assert "flowchart LR" in httpx.get(api, params={"format": "mermaid"}, timeout=5).text
    assert httpx.get(api, params={"format": "png"}, timeout=5).status_code == 400
    assert metric_value(metrics_port, "alertagent_service_graph_edges") == len(want)
    assert metric_value(metrics_port, "alertagent_service_graph_nodes") == len(doc["nodes"])
    assert metric_value(metrics_port, "alertagent_service_graph_unresolved") == 1
    assert metric_value(metrics_port, "alertagent_service_graph_cycles") == 0
    env = {"KUBECONFIG": str(plane.kubeconfig), "PATH": "/usr/bin:/bin"}
    live = subprocess.run(
        [str(BIN / "alertagent"), "graph", "--live", "-n", shop], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(live.stdout) == doc
    offline = subprocess.run(
        [str(BIN / "alertagent"), "graph", "-f", str(manifests)], capture_output=True, text=True, check=True
    )
    assert json.loads(offline.stdout) == doc  # manifests in CI give the graph the cluster will have


def test_published_graph_edge_by_edge_and_incremental_update(
    installed_crds: ControlPlane, app_namespaces: tuple[str, str, str], tmp_path: Path
) -> None:
    plane = installed_crds
    shop, data, pay = app_namespaces
    manifests = tmp_path / "app.yaml"
    manifests.write_text(yaml.safe_dump_all(application(shop, data, pay)))
    plane.kubectl("apply", "-f", str(manifests))
    http_port = free_port()
    operator, metrics_port = start_operator(plane, tmp_path, app_namespaces, http_port=http_port)
    try:
        want = expected_edges(shop, data, pay)
        doc = eventually(
            lambda: (d := published(plane, shop)) and edges_of(d) == want and d,
            60,
            what="published graph has every expected edge",
        )
        assert len({n["id"] for n in doc["nodes"] if n["kind"] == "service"}) == 14
        log = (tmp_path / f"{operator.name}.log").read_text()
        assert log.count("service graph published") == 1, log  # the first graph was already complete
        nodes = {n["id"]: n for n in doc["nodes"]}
        assert nodes[f"{shop}/daemonset/log-agent"]["kind"] == "daemonset"
        assert nodes[f"{shop}/ingress/web"]["kind"] == "ingress"
        assert (nodes[f"{data}/postgres"]["tier"], nodes[f"{data}/postgres"]["team"]) == ("infrastructure", "dba")
        assert doc["unresolved"] == [
            {
                "from": f"{shop}/orders",
                "address": "recommendations:8080",
                "source": {"type": "env", "object": f"{shop}/deployment/orders", "key": "app/RECOMMENDATIONS_URL"},
            }
        ]
        assert doc["cycles"] == []
        envfrom = next(e for e in doc["edges"] if (e["from"], e["to"]) == (f"{shop}/api", f"{data}/postgres"))
        assert envfrom["evidence"] == [
            {
                "type": "envFrom",
                "object": f"{shop}/deployment/api",
                "key": "app/DATABASE_URL",
                "via": f"{shop}/configmap/shared-config",
            }
        ]
        assert envfrom["confidence"] < 0.9  # a whole ConfigMap pulled in is weaker evidence than a named key
        text = plane.kubectl("-n", shop, "get", "configmap", "alertagent-service-graph", "-o", "json").stdout
        assert "s3cr3t" not in text and "LOG_LEVEL" not in text  # ConfigMap values are never published

        _same_graph_everywhere(plane, shop, doc, manifests, http_port, metrics_port)

        # One change: the frontend now calls the catalog instead of the api.
        started = time.monotonic()
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "app", "env": [{"name": "API_URL", "value": "http://catalog:8080"}]}]
                    }
                }
            }
        }
        plane.kubectl("-n", shop, "patch", "deployment", "frontend", "--type=strategic", "-p", json.dumps(patch))
        changed = {**want, (f"{shop}/frontend", f"{shop}/catalog"): {"env"}}
        del changed[f"{shop}/frontend", f"{shop}/api"]
        eventually(lambda: edges_of(published(plane, shop)) == changed, 30, what="incremental update published")
        print(f"one changed Deployment → published graph: {time.monotonic() - started:.2f}s")
        # A new Service makes the unresolved address an edge.
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(service("recommendations", shop)))
        eventually(
            lambda: (
                (d := published(plane, shop))["unresolved"] == []
                and (f"{shop}/orders", f"{shop}/recommendations") in edges_of(d)
            ),
            30,
            what="resolved",
        )
        assert "forbidden" not in (tmp_path / f"{operator.name}.log").read_text().lower()
    finally:
        operator.stop()


def _post(alertmanager: AlertmanagerTarget, ends_in: timedelta = timedelta(minutes=10), **labels: str) -> None:
    now = datetime.now(UTC)
    alert = {
        "labels": labels,
        "startsAt": (now - timedelta(seconds=1)).isoformat(),
        "endsAt": (now + ends_in).isoformat(),
    }
    httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


def _inhibited(alertmanager: AlertmanagerTarget) -> dict[str, bool]:
    alerts = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=5).json()
    return {a["labels"]["alertname"]: bool(a["status"]["inhibitedBy"]) for a in alerts}


def test_dependency_suppression_on_real_alertmanager(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """frontend → api → database: a critical database alert inhibits the api and frontend alerts; they
    come back when it resolves."""
    plane = installed_crds
    objects = [
        service("frontend", namespace),
        workload("frontend", namespace, env={"API_URL": "http://api:8080"}),
        service("api", namespace),
        workload("api", namespace, env={"DATABASE_URL": "postgres://database:5432/app"}),
        service("database", namespace),
        workload("database", namespace, kind="StatefulSet"),
        {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": namespace},
            "spec": {"alertmanager": {"url": alertmanager.url}},
        },
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "deps", "namespace": namespace},
            "spec": {
                "dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}], "maxDepth": 3}
            },
        },
    ]
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, namespace)
    sidecar, _ = start_alertmanager_sidecar(
        plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
    )
    try:

        def loaded_rules() -> list[dict[str, Any]]:
            config = yaml.safe_load(alertmanager.status()["config"]["original"])
            return config.get("inhibit_rules") or []

        rules = eventually(lambda: len(loaded_rules()) == 2 and loaded_rules(), 60, what="generated rules loaded")
        assert {frozenset(r["target_matchers"]) for r in rules} == {  # Alertmanager sorts matchers
            frozenset({'service="frontend"', f'namespace="{namespace}"'}),
            frozenset({'service=~"api|frontend"', f'namespace="{namespace}"'}),
        }

        def generated() -> int | None:
            out = plane.kubectl("-n", namespace, "get", "suppressionpolicy", "deps", "-o", "json").stdout
            return (json.loads(out).get("status") or {}).get("generatedInhibitRules")

        assert eventually(generated, 30, what="generated count in status") == 2
        columns = plane.kubectl("-n", namespace, "get", "suppressionpolicy", "deps").stdout
        assert columns.split("\n")[1].split()[3] == "2", columns  # the Inhibit rules column

        _post(alertmanager, alertname="DatabaseDown", service="database", namespace=namespace, severity="critical")
        _post(alertmanager, alertname="ApiErrors", service="api", namespace=namespace, severity="warning")
        _post(alertmanager, alertname="FrontendSlow", service="frontend", namespace=namespace, severity="warning")
        _post(alertmanager, alertname="Unrelated", service="billing", namespace=namespace, severity="warning")
        eventually(
            lambda: (
                _inhibited(alertmanager)
                == {"DatabaseDown": False, "ApiErrors": True, "FrontendSlow": True, "Unrelated": False}
            ),
            30,
            what="api and frontend inhibited by the database",
        )

        # The database recovers: its alert resolves, and the dependants' alerts are active again.
        _post(
            alertmanager,
            ends_in=timedelta(seconds=-1),
            alertname="DatabaseDown",
            service="database",
            namespace=namespace,
            severity="critical",
        )
        eventually(
            lambda: not any(_inhibited(alertmanager).values()) and "ApiErrors" in _inhibited(alertmanager),
            30,
            what="dependants active again",
        )

        # A new dependant appears: the rules are regenerated from the changed graph and reach Alertmanager.
        mobile = [service("mobile", namespace), workload("mobile", namespace, env={"API_URL": "http://api:8080"})]
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(mobile))
        regenerated = frozenset({'service=~"api|frontend|mobile"', f'namespace="{namespace}"'})
        eventually(
            lambda: regenerated in {frozenset(r["target_matchers"]) for r in loaded_rules()},
            60,
            what="regenerated rules loaded",
        )
        assert eventually(generated, 30, what="count follows") == 2  # still one rule per upstream Service
    finally:
        operator.stop()
        sidecar.stop()


# --- issue 16: catalog ConfigMap, NetworkPolicies, telemetry, ExternalName, CronJob -----------------

NS_LABEL = "alertagent-test/tier"  # on the shop namespace: a policy in the data namespace selects it


def network_policy(name: str, ns: str, app: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": {"matchLabels": {"app": app}}, **spec},
    }


def pods(app: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {"app": app}}}


def catalog_application(shop: str, data: str) -> list[dict[str, Any]]:
    """cart, checkout and payments mount one catalog listing them and mongo; checkout also names payments
    in an env var; every one sends OTLP to a collector that health-checks them; orders reaches postgres
    (in `data`) through an ExternalName Service and still names payments; a CronJob calls orders and
    postgres. NetworkPolicies: cart's egress (mongo, the collector, DNS), payments' ingress (checkout,
    the collector), postgres' ingress (the report job, from namespaces labelled like shop)."""
    entries = {name: {"addr": name, "port": 8080} for name in ("cart", "checkout", "payments")}
    catalog = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "service-catalog", "namespace": shop},
        "data": {"services.json": json.dumps({**entries, "mongo": {"addr": "mongo", "port": 27017}})},
    }
    collector_config = (
        "receivers:\n  otlp:\n    protocols:\n      grpc: {}\n  httpcheck:\n    targets:\n"
        + "".join(f"      - endpoint: http://{name}:8080/healthz\n" for name in entries)
        + "exporters:\n  debug: {}\n"
    )
    otel_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "otel-config", "namespace": shop},
        "data": {"config.yaml": collector_config},
    }
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4317"}

    def catalog_user(name: str, env: dict[str, str]) -> Any:
        return workload(
            name,
            shop,
            env={**otlp, **env},
            container={"volumeMounts": [{"name": "catalog", "mountPath": "/etc/catalog"}]},
            volumes=[{"name": "catalog", "configMap": {"name": "service-catalog"}}],
        )

    collector = workload(
        "otel-collector",
        shop,
        container={
            "image": "otel/opentelemetry-collector-contrib:0.98.0",
            "volumeMounts": [{"name": "config", "mountPath": "/etc/otelcol-contrib"}],
        },
        volumes=[{"name": "config", "configMap": {"name": "otel-config"}}],
    )
    orders_db = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "orders-db", "namespace": shop},
        "spec": {"type": "ExternalName", "externalName": f"postgres.{data}.svc.cluster.local"},
    }
    job_container = {
        "name": "report",
        "image": "registry.example/report:1",
        "env": [
            {"name": "ORDERS_URL", "value": "http://orders:8080"},
            {"name": "REPORT_DB_URL", "value": f"postgres://reader@postgres.{data}.svc:5432/reports"},
        ],
    }
    report = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "report", "namespace": shop},
        "spec": {
            "schedule": "0 3 * * *",
            "suspend": True,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"labels": {"app": "report"}},
                        "spec": {"containers": [job_container], "restartPolicy": "OnFailure"},
                    }
                }
            },
        },
    }
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}],
    }
    shop_namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": shop, "labels": {NS_LABEL: "shop"}}}
    return [
        shop_namespace,
        catalog,
        otel_config,
        *(service(name, shop) for name in ("cart", "checkout", "payments", "mongo", "otel-collector", "orders")),
        catalog_user("cart", {}),
        catalog_user("checkout", {"PAYMENTS_URL": "http://payments:8080"}),
        catalog_user("payments", {}),
        workload("mongo", shop, container={"image": "mongo:7"}),
        collector,
        workload(
            "orders",
            shop,
            env={"DATABASE_URL": "postgres://orders-db:5432/orders", "LEGACY_PAYMENTS_URL": "http://payments:8080"},
        ),
        orders_db,
        report,
        service("postgres", data),
        workload("postgres", data, kind="StatefulSet"),
        network_policy(
            "cart-egress",
            shop,
            "cart",
            policyTypes=["Egress"],
            egress=[{"to": [pods("mongo")]}, {"to": [pods("otel-collector")]}, dns],
        ),
        network_policy(
            "payments-ingress",
            shop,
            "payments",
            policyTypes=["Ingress"],
            ingress=[{"from": [pods("checkout"), pods("otel-collector")]}],
        ),
        network_policy(
            "postgres-ingress",
            data,
            "postgres",
            policyTypes=["Ingress"],
            ingress=[{"from": [{"namespaceSelector": {"matchLabels": {NS_LABEL: "shop"}}, **pods("report")}]}],
        ),
    ]


Published = tuple[str, tuple[str, ...], str, tuple[str, ...], bool]  # class, evidence, verdict, policies, selected


def published_edges(doc: dict[str, Any]) -> dict[tuple[str, str], Published]:
    """Each edge as (class, its evidence types (`type:weak reason` when weak), NetworkPolicy verdict,
    the policies that decided it, selected)."""
    return {
        (e["from"], e["to"]): (
            e["class"],
            tuple(sorted(ev["type"] + (f":{ev['weak']}" if ev.get("weak") else "") for ev in e["evidence"])),
            (e.get("networkPolicy") or {}).get("verdict", ""),
            tuple((e.get("networkPolicy") or {}).get("policies") or ()),
            e["selected"],
        )
        for e in doc["edges"]
    }


def expected_catalog_edges(
    shop: str, data: str, labelled: bool = True, enforced: bool = False
) -> dict[tuple[str, str], Published]:
    """The graph as issue 16 specifies it; `labelled`: the shop namespace carries NS_LABEL; `enforced`:
    the operator runs with --network-policies-enforced."""

    def np(ns: str, name: str) -> str:
        return f"{ns}/networkpolicy/{name}"

    cart_egress, payments_ingress, postgres_ingress = (
        np(shop, "cart-egress"),
        np(shop, "payments-ingress"),
        np(data, "postgres-ingress"),
    )
    weak = ("configmap:catalog",)
    s = f"{shop}/"
    edges: dict[tuple[str, str], Published] = {
        # The catalog: weak to mongo; between its three users (siblings) no edge by that evidence alone ...
        (s + "checkout", s + "mongo"): ("weak", weak, "", (), False),
        (s + "payments", s + "mongo"): ("weak", weak, "", (), False),
        # ... unless a NetworkPolicy names the path, or an env var does.
        (s + "cart", s + "mongo"): ("call", (*weak, "networkpolicy"), "allowed", (cart_egress,), True),
        (s + "checkout", s + "payments"): (
            "call",
            (*weak, "env", "networkpolicy"),
            "allowed",
            (payments_ingress,),
            True,
        ),
        # Telemetry: OTLP to the collector, its health checks back; shown, never selected.
        (s + "cart", s + "otel-collector"): ("telemetry", ("env", "networkpolicy"), "allowed", (cart_egress,), False),
        (s + "checkout", s + "otel-collector"): ("telemetry", ("env",), "", (), False),
        (s + "payments", s + "otel-collector"): ("telemetry", ("env",), "", (), False),
        (s + "otel-collector", s + "cart"): ("telemetry", ("configmap",), "", (), False),
        (s + "otel-collector", s + "checkout"): ("telemetry", ("configmap",), "", (), False),
        (s + "otel-collector", s + "payments"): (
            "telemetry",
            ("configmap", "networkpolicy"),
            "allowed",
            (payments_ingress,),
            False,
        ),
        # ExternalName: orders -> orders-db -> data/postgres; orders' stale env var payments' ingress forbids.
        (s + "orders", s + "orders-db"): ("call", ("env",), "", (), True),
        (s + "orders-db", f"{data}/postgres"): ("call", ("externalName",), "", (), True),
        (s + "orders", s + "payments"): ("call", ("env",), "forbidden", (payments_ingress,), not enforced),
        # The CronJob is a caller; postgres' ingress admits it only from a namespace with the label.
        (s + "cronjob/report", s + "orders"): ("call", ("env",), "", (), True),
    }
    report_postgres = (s + "cronjob/report", f"{data}/postgres")
    if labelled:
        edges[report_postgres] = ("call", ("env", "networkpolicy"), "allowed", (postgres_ingress,), True)
    else:
        edges[report_postgres] = ("call", ("env",), "forbidden", (postgres_ingress,), not enforced)
    return edges


@pytest.fixture
def catalog_namespaces(api_client: client.ApiClient, namespace: str) -> Iterator[tuple[str, str]]:
    names = (namespace, f"{namespace[:50]}-data")
    with extra_namespaces(api_client, names[1:]):
        yield names


def test_catalog_network_policies_and_telemetry_edge_by_edge(
    installed_crds: ControlPlane, catalog_namespaces: tuple[str, str], tmp_path: Path
) -> None:
    """Issue 16 on the real API server: every published edge with its class, evidence, NetworkPolicy
    verdict and `selected` flag; a Namespace label change followed incrementally; the same graph from
    the manifests offline; and --network-policies-enforced taking forbidden edges out of the selection."""
    plane = installed_crds
    shop, data = catalog_namespaces
    manifests = tmp_path / "catalog-app.yaml"
    manifests.write_text(yaml.safe_dump_all(catalog_application(shop, data)))
    plane.kubectl("apply", "-f", str(manifests))  # also labels the (existing) shop namespace
    operator, _ = start_operator(plane, tmp_path, catalog_namespaces)
    enforcing = None
    try:
        want = expected_catalog_edges(shop, data)
        doc = eventually(
            lambda: (d := published(plane, shop)) and published_edges(d) == want and d,
            60,
            what="published graph has every expected edge",
        )
        assert doc["cycles"] == [] and doc["unresolved"] == []
        assert doc["selection"] == {"classes": ["call"], "enforceNetworkPolicies": False, "minConfidence": 0.5}
        confidence = {(e["from"], e["to"]): e["confidence"] for e in doc["edges"]}
        assert confidence[f"{shop}/cart", f"{shop}/mongo"] == 0.8  # the policy's confirmation
        assert confidence[f"{shop}/checkout", f"{shop}/payments"] == 0.9  # the named env var
        assert confidence[f"{shop}/payments", f"{shop}/mongo"] == 0.2  # the catalog alone
        nodes = {n["id"]: n for n in doc["nodes"]}
        assert nodes[f"{shop}/otel-collector"]["role"] == "telemetry"
        assert nodes[f"{shop}/cronjob/report"]["kind"] == "cronjob"
        assert nodes[f"{shop}/orders-db"]["externalName"] == f"postgres.{data}.svc.cluster.local"
        assert {n["kind"] for n in doc["nodes"]} == {"service", "cronjob"}

        offline = subprocess.run(
            [str(BIN / "alertagent"), "graph", "-f", str(manifests)], capture_output=True, text=True, check=True
        )
        assert json.loads(offline.stdout) == doc  # the manifests (with the Namespace's label) give the same graph
        env = {"KUBECONFIG": str(plane.kubeconfig), "PATH": "/usr/bin:/bin"}

        def explain(caller: str, callee: str) -> str:
            command = [str(BIN / "alertagent"), "graph", "--live", "-n", shop, "--explain", caller, callee]
            return subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout

        explained = explain("payments", "mongo")
        assert "class: weak" in explained and "weak (catalog)" in explained
        assert "not selected: class weak is not selected" in explained
        assert f"NetworkPolicy: forbidden by {shop}/networkpolicy/payments-ingress" in explain("orders", "payments")
        assert "no edge" in explain("cart", "payments")  # siblings in the catalog

        # The shop namespace loses its label: postgres' ingress no longer admits the report job.
        plane.kubectl("label", "namespace", shop, f"{NS_LABEL}-")
        unlabelled = expected_catalog_edges(shop, data, labelled=False)
        eventually(
            lambda: published_edges(published(plane, shop)) == unlabelled, 30, what="Namespace label change followed"
        )
        operator.stop()

        # A network plugin that enforces policies: forbidden edges leave the selection, still shown.
        enforcing, _ = start_operator(plane, tmp_path, catalog_namespaces, extra_args=("--network-policies-enforced",))
        enforced = expected_catalog_edges(shop, data, labelled=False, enforced=True)
        doc = eventually(
            lambda: (d := published(plane, shop)) and published_edges(d) == enforced and d,
            60,
            what="enforced selection published",
        )
        assert doc["selection"]["enforceNetworkPolicies"] is True and doc["cycles"] == []
        for proc in (operator, enforcing):  # RBAC errors, or an object of a new kind that failed extraction
            log = (tmp_path / f"{proc.name}.log").read_text()
            assert "forbidden" not in log.lower() and "skipped" not in log, log
    finally:
        operator.stop()
        if enforcing is not None:
            enforcing.stop()
