"""Discovery precision (issue 16): catalog ConfigMaps, unread keys, NetworkPolicies, telemetry edges,
ExternalName Services, Jobs and CronJobs as callers, the edge selection, and `--explain`."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from alertagent.api.suppressionpolicy import DependencySuppression
from alertagent.discovery.confidence import EdgeSelection, telemetry_image
from alertagent.discovery.explain import explain
from alertagent.discovery.export import to_json
from alertagent.discovery.graph import ServiceGraph
from alertagent.discovery.snapshot import Graph
from alertagent.render.dependencies import dependency_inhibit_rules

from .test_discovery import configmap, service, workload


def mounted(name: str, configmap_name: str, **kwargs: Any) -> dict[str, Any]:
    volume = {"name": "config", "configMap": {"name": configmap_name}}
    return workload(name, volumes=[volume], **kwargs)


def edges(graph: Graph) -> dict[tuple[str, str], str]:
    return {(e.caller, e.callee): e.cls for e in graph.edges}


def selected(graph: Graph) -> set[tuple[str, str]]:
    return {(e.caller, e.callee) for e in graph.edges if graph.selected(e)}


def network_policy(name: str, pods: dict[str, str], ns: str = "shop", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": {"matchLabels": pods}, **spec},
    }


# --- kind 1: a catalog ConfigMap ------------------------------------------------------------------

CATALOG = '{"a":{"addr":"a","port":9090},"b":{"addr":"b","port":9090},"c-db":{"addr":"c-db","port":27017}}'


def catalog_app() -> list[dict[str, Any]]:
    return [
        configmap("shared", {"service-config.json": CATALOG}),
        mounted("a", "shared"),
        mounted("b", "shared"),
        service("a"),
        service("b"),
        service("c-db"),
    ]


def test_a_catalog_configmap_gives_weak_edges_and_no_sibling_edges() -> None:
    graph = ServiceGraph.from_objects(catalog_app()).snapshot()
    # a and b both consume the catalog: b's entry is no edge of a's (and a's none of b's).
    assert edges(graph) == {("shop/a", "shop/c-db"): "weak", ("shop/b", "shop/c-db"): "weak"}
    assert {(e.caller, e.callee) for e in graph.dropped} == {("shop/a", "shop/b"), ("shop/b", "shop/a")}
    assert all(e.confidence == 0.2 and {ev.weak for ev in e.evidence} == {"catalog"} for e in graph.edges)
    assert selected(graph) == set() and graph.cycles == ()
    assert graph.upstream("shop/c-db") == {}
    # Shown, with the reason, in the published form; the sibling pairs are not published at all.
    doc = json.loads(to_json(graph))
    assert {e["evidence"][0]["weak"] for e in doc["edges"]} == {"catalog"} and "dropped" not in doc
    assert not any(e["selected"] for e in doc["edges"])
    # Selecting weak edges (a policy may) makes c-db an upstream of both, and still no cycle.
    wide = graph.with_selection(EdgeSelection(0.0, frozenset({"call", "weak"})))
    assert wide.cycles == () and wide.upstream("shop/c-db") == {"shop/a": 1, "shop/b": 1}
    assert "both consume that catalog" in explain(graph, "a", "b")


def test_a_deployment_and_its_canary_behind_one_service_are_one_consumer() -> None:
    nginx = "server_name frontend.shop.svc.cluster.local;\nlocation / { proxy_pass http://cart:7070; }\n"
    canary = mounted("frontend-canary", "nginx", labels={"app": "frontend", "track": "canary"})
    objects = [
        configmap("nginx", {"nginx.conf": nginx}),
        mounted("frontend", "nginx"),
        canary,
        service("frontend"),
        service("cart"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges(graph) == {("shop/frontend", "shop/cart"): "call"}


def test_a_catalog_entry_naming_no_service_is_not_reported_for_every_consumer() -> None:
    objects = catalog_app()
    objects[0] = configmap("shared", {"service-config.json": CATALOG, "extra.json": '{"addr": "http://gone:80"}'})
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.unresolved == ()
    objects[0] = configmap("solo", {"extra.json": '{"addr": "http://gone:80"}'})
    objects[1] = mounted("a", "solo")
    assert [u.address for u in ServiceGraph.from_objects(objects).snapshot().unresolved] == ["gone:80"]


def test_a_catalog_is_recognised_in_any_order_and_stops_being_one_with_one_consumer_left() -> None:
    objects = catalog_app()
    reference = to_json(ServiceGraph.from_objects(objects).snapshot())
    for seed in range(5):
        shuffled = list(objects)
        random.Random(seed).shuffle(shuffled)
        assert to_json(ServiceGraph.from_objects(shuffled).snapshot()) == reference
    graph = ServiceGraph.from_objects(objects)
    graph.remove("Deployment", "shop", "b")
    # One consumer: an ordinary mounted config file again (a's own entry is never a self-edge).
    assert edges(graph.snapshot()) == {("shop/a", "shop/b"): "call", ("shop/a", "shop/c-db"): "call"}
    graph.put(graph_facts(mounted("b", "shared")))
    assert set(edges(graph.snapshot()).values()) == {"weak"}


def graph_facts(obj: dict[str, Any]) -> Any:
    from alertagent.discovery.graph import extract  # noqa: PLC0415

    return extract(obj)


def test_a_key_read_from_a_catalog_by_name_is_strong() -> None:
    key_ref = {"name": "C_DB", "valueFrom": {"configMapKeyRef": {"name": "addrs", "key": "c-db"}}}
    objects = [
        configmap("addrs", {"a": "a:9090", "b": "b:9090", "c-db": "c-db:27017"}),
        mounted("a", "addrs"),
        workload("b", volumes=[{"name": "c", "configMap": {"name": "addrs"}}], env=None),
        service("a"),
        service("b"),
        service("c-db"),
    ]
    objects[1]["spec"]["template"]["spec"]["containers"][0]["env"] = [key_ref]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges(graph)[("shop/a", "shop/c-db")] == "call"
    assert graph.edge("shop/a", "shop/c-db").confidence == 0.9  # type: ignore[union-attr]
    assert edges(graph)[("shop/b", "shop/c-db")] == "weak"


def test_a_shared_config_that_names_no_consumer_is_not_a_catalog() -> None:
    objects = [
        configmap("shared-config", {"DATABASE_URL": "postgres://postgres:5432/db", "REDIS_ADDR": "redis:6379"}),
        workload("api", envFrom=[{"configMapRef": {"name": "shared-config"}}]),
        workload("worker", envFrom=[{"configMapRef": {"name": "shared-config"}}]),
        service("api"),
        service("worker"),
        service("postgres"),
        service("redis"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert set(edges(graph).values()) == {"call"} and len(graph.edges) == 4
    assert selected(graph) == set(edges(graph))


# --- kind 2: keys read one at a time and the whole ConfigMap mounted -------------------------------


def test_keys_not_named_by_a_workload_that_reads_keys_are_weak() -> None:
    ctrl = mounted("ctrl", "params")
    ctrl["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "REPO_SERVER", "valueFrom": {"configMapKeyRef": {"name": "params", "key": "repo.server"}}}
    ]
    objects = [
        configmap("params", {"repo.server": "repo:8081", "server.dex.server": "http://dex:5556"}),
        ctrl,
        service("ctrl"),
        service("repo"),
        service("dex"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges(graph) == {("shop/ctrl", "shop/repo"): "call", ("shop/ctrl", "shop/dex"): "weak"}
    assert [e.type for e in graph.edge("shop/ctrl", "shop/repo").evidence] == ["env"]  # type: ignore[union-attr]
    assert graph.edge("shop/ctrl", "shop/dex").evidence[0].weak == "unread-key"  # type: ignore[union-attr]
    assert selected(graph) == {("shop/ctrl", "shop/repo")}


# --- kind 3: NetworkPolicies ----------------------------------------------------------------------


def test_a_network_policy_naming_the_path_confirms_a_weak_edge() -> None:
    allow = network_policy(
        "a-egress",
        {"app": "a"},
        policyTypes=["Egress"],
        egress=[{"to": [{"podSelector": {"matchLabels": {"app": "c-db"}}}]}],
    )
    objects = [*catalog_app(), workload("c-db"), allow]
    graph = ServiceGraph.from_objects(objects).snapshot()
    confirmed = graph.edge("shop/a", "shop/c-db")
    assert confirmed is not None and confirmed.cls == "call" and confirmed.verdict == "allowed"
    assert confirmed.policies == ("shop/networkpolicy/a-egress",) and confirmed.confidence == 0.8
    # a's egress is isolated to c-db alone: its sibling pair to b (no edge anyway) is forbidden, named so.
    forbidden = next(e for e in graph.dropped if (e.caller, e.callee) == ("shop/a", "shop/b"))
    assert forbidden.verdict == "forbidden" and forbidden.policies == ("shop/networkpolicy/a-egress",)
    assert selected(graph) == {("shop/a", "shop/c-db")}


def test_a_network_policy_naming_a_sibling_path_makes_it_an_edge() -> None:
    allow = network_policy("b-in", {"app": "b"}, ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}])
    graph = ServiceGraph.from_objects([*catalog_app(), allow]).snapshot()
    confirmed = graph.edge("shop/a", "shop/b")
    assert confirmed is not None and confirmed.cls == "call" and confirmed.verdict == "allowed"
    assert graph.edge("shop/b", "shop/a") is None


def test_forbidden_edges_are_dropped_only_when_policies_are_enforced() -> None:
    deny_ingress = network_policy(
        "db-ingress",
        {"app": "postgres"},
        ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "api"}}}]}],
    )
    objects = [
        workload("api", env={"DB_URL": "postgres://postgres:5432/x"}),
        workload("batch", env={"DB_URL": "postgres://postgres:5432/x"}),
        workload("postgres"),
        service("api"),
        service("batch"),
        service("postgres"),
        deny_ingress,
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edge("shop/api", "shop/postgres").verdict == "allowed"  # type: ignore[union-attr]
    batch = graph.edge("shop/batch", "shop/postgres")
    assert batch is not None and batch.verdict == "forbidden" and batch.policies == ("shop/networkpolicy/db-ingress",)
    assert ("shop/batch", "shop/postgres") in selected(graph)  # default: policies only confirm
    enforced = ServiceGraph.from_objects(objects).snapshot(EdgeSelection(enforce_network_policies=True))
    assert selected(enforced) == {("shop/api", "shop/postgres")}
    assert "forbid it and the network plugin enforces them" in explain(enforced, "batch", "postgres")


def test_allow_all_rules_and_namespace_selectors_permit_without_confirming() -> None:
    policy = network_policy(
        "open",
        {"app": "c-db"},
        ingress=[
            {},  # every peer
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}]},
        ],
    )
    objects = [*catalog_app(), workload("c-db"), policy]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edge("shop/a", "shop/c-db").verdict == ""  # type: ignore[union-attr]
    assert graph.edge("shop/a", "shop/c-db").cls == "weak"  # type: ignore[union-attr]


def test_namespace_selectors_use_the_namespaces_labels() -> None:
    caller = workload("web", ns="front", env={"API_URL": "http://api.back:8080"})
    policy = network_policy(
        "api-in",
        {"app": "api"},
        ns="back",
        ingress=[
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"tier": "front"}},
                        "podSelector": {"matchLabels": {"app": "web"}},
                    }
                ]
            }
        ],
    )
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "front", "labels": {"tier": "front"}}}
    objects = [caller, service("web", ns="front"), workload("api", ns="back"), service("api", ns="back"), policy]
    # No Namespace object: its labels are unknown, so neither allowed nor forbidden can be told.
    unknown = ServiceGraph.from_objects(objects).snapshot()
    assert unknown.edge("front/web", "back/api").verdict == ""  # type: ignore[union-attr]
    with_labels = ServiceGraph.from_objects([*objects, namespace]).snapshot()
    assert with_labels.edge("front/web", "back/api").verdict == "allowed"  # type: ignore[union-attr]
    namespace["metadata"]["labels"] = {"tier": "back"}
    other_labels = ServiceGraph.from_objects([*objects, namespace]).snapshot()
    assert other_labels.edge("front/web", "back/api").verdict == "forbidden"  # type: ignore[union-attr]


def test_match_expressions_and_ip_blocks() -> None:
    policy = network_policy(
        "egress",
        {"app": "web"},
        policyTypes=["Egress"],
        egress=[
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},
            {"to": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]}}]},
        ],
    )
    objects = [
        workload("web", env={"API": "http://api:80", "CACHE": "redis://cache:6379"}),
        workload("api"),
        workload("cache"),
        service("web"),
        service("api"),
        service("cache"),
        policy,
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edge("shop/web", "shop/api").verdict == "allowed"  # type: ignore[union-attr]
    # An ipBlock may or may not cover the cache's pod IPs (it depends on the network plugin): unknown.
    assert graph.edge("shop/web", "shop/cache").verdict == ""  # type: ignore[union-attr]
    del policy["spec"]["egress"][0]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edge("shop/web", "shop/cache").verdict == "forbidden"  # type: ignore[union-attr]


def test_a_selector_covering_the_whole_application_permits_without_confirming() -> None:
    objects = catalog_app()
    for obj in objects:
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["metadata"]["labels"]["part-of"] = "shop"
    objects.append(workload("c-db", labels={"app": "c-db", "part-of": "shop"}))
    whole_app = {"podSelector": {"matchLabels": {"part-of": "shop"}}}
    objects.append(network_policy("shop", {"part-of": "shop"}, ingress=[{"from": [whole_app]}]))
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edge("shop/a", "shop/c-db").verdict == ""  # type: ignore[union-attr]
    assert selected(graph) == set() and graph.cycles == ()
    listed = {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}}
    objects[-1] = network_policy("db", {"app": "c-db"}, ingress=[{"from": [listed]}])
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert selected(graph) == {("shop/a", "shop/c-db"), ("shop/b", "shop/c-db")}


# --- kind 4: telemetry ----------------------------------------------------------------------------


def test_telemetry_edges_are_classified_and_make_no_cycle() -> None:
    collector_config = (
        "extensions:\n  health_check: {}\nreceivers:\n  httpcheck:\n    targets:\n      - endpoint: http://shop:8080\n"
    )
    collector = mounted("collector", "otel-config", image="otel/opentelemetry-collector-contrib:0.98.0")
    objects = [
        workload("shop", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "DB": "postgres:5432"}),
        collector,
        configmap("otel-config", {"config.yaml": collector_config}),
        service("shop"),
        service("collector"),
        service("postgres"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges(graph) == {
        ("shop/shop", "shop/collector"): "telemetry",
        ("shop/collector", "shop/shop"): "telemetry",
        ("shop/shop", "shop/postgres"): "call",
    }
    assert graph.cycles == () and selected(graph) == {("shop/shop", "shop/postgres")}
    assert {n.id for n in graph.nodes if n.role == "telemetry"} == {"shop/collector"}


def test_telemetry_by_key_or_port_without_a_known_image() -> None:
    objects = [
        workload("api", env={"JAEGER_AGENT_HOST": "tracing", "METRICS_SINK": "sink:8125", "DB_HOST": "db"}),
        service("api"),
        service("tracing"),
        service("sink"),
        service("db"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges(graph) == {
        ("shop/api", "shop/tracing"): "telemetry",
        ("shop/api", "shop/sink"): "telemetry",
        ("shop/api", "shop/db"): "call",
    }


def test_the_role_annotation_overrides_the_image() -> None:
    objects = [
        workload("api", env={"AGENT_URL": "http://agent:80"}),
        workload("agent", image="mycorp/agent:1"),  # not an observability image
        service("api"),
        service("agent", role="telemetry"),
    ]
    assert edges(ServiceGraph.from_objects(objects).snapshot()) == {("shop/api", "shop/agent"): "telemetry"}
    objects[3] = service("agent")
    assert edges(ServiceGraph.from_objects(objects).snapshot()) == {("shop/api", "shop/agent"): "call"}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("otel/opentelemetry-collector-contrib:0.98.0", True),
        ("ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-k8s:0.1", True),
        ("jaegertracing/all-in-one:1.57", True),
        ("prom/prometheus:v2.53.0", True),
        ("registry:5000/grafana/agent@sha256:abc", True),
        ("cr.fluentbit.io/fluent/fluent-bit:3.0", True),
        ("mycorp/agent:1", False),
        ("vector:1", False),
        ("nginx:1.27", False),
        ("postgres:16", False),
    ],
)
def test_observability_images(image: str, expected: bool) -> None:
    assert telemetry_image(image) is expected


# --- kind 7: ExternalName, Jobs and CronJobs ------------------------------------------------------


def external_name(name: str, target: str, ns: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "ExternalName", "externalName": target},
    }


def test_an_external_name_service_leads_to_the_service_it_names() -> None:
    objects = [
        workload("orders", env={"DB": "orders-db:5432"}),
        service("orders"),
        external_name("orders-db", "postgres.data.svc.cluster.local"),
        service("postgres", ns="data"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert set(edges(graph)) == {("shop/orders", "shop/orders-db"), ("shop/orders-db", "data/postgres")}
    assert graph.upstream("data/postgres") == {"shop/orders-db": 1, "shop/orders": 2}
    rules = dependency_inhibit_rules(
        DependencySuppression(source_matchers=[{"name": "severity", "value": "critical"}]), graph
    )
    postgres = [r for r in rules if 'service="postgres"' in r["source_matchers"]]
    assert any('service=~"orders|orders-db"' in r["target_matchers"] for r in postgres), postgres


def test_an_external_name_outside_the_cluster_is_external_not_unresolved() -> None:
    objects = [
        workload("orders", env={"DB": "orders-db:5432"}),
        service("orders"),
        external_name("orders-db", "mydb.abc123.eu-west-1.rds.amazonaws.com"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert set(edges(graph)) == {("shop/orders", "shop/orders-db")} and graph.unresolved == ()
    node = next(n for n in graph.nodes if n.id == "shop/orders-db")
    assert node.external_name == "mydb.abc123.eu-west-1.rds.amazonaws.com"


def test_cronjobs_jobs_and_unowned_replicasets_are_callers() -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "shop"},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"labels": {"job": "report"}},
                        "spec": {"containers": [{"name": "r", "env": [{"name": "DB_HOST", "value": "postgres"}]}]},
                    }
                }
            },
        },
    }
    job = workload("migrate", kind="Job", env={"DB_HOST": "postgres"}, labels={"job": "migrate"})
    owned_job = workload("report-123", kind="Job", env={"DB_HOST": "postgres"}, labels={"job": "report"})
    owned_job["metadata"]["ownerReferences"] = [{"kind": "CronJob", "name": "report", "controller": True}]
    bare_rs = workload("legacy", kind="ReplicaSet", env={"CACHE_ADDR": "redis:6379"})
    owned_rs = workload("api-5d4f", kind="ReplicaSet", env={"CACHE_ADDR": "redis:6379"}, labels={"app": "api"})
    owned_rs["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "api", "controller": True}]
    objects = [cron, job, owned_job, bare_rs, owned_rs, service("postgres"), service("redis")]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert set(edges(graph)) == {
        ("shop/cronjob/report", "shop/postgres"),
        ("shop/job/migrate", "shop/postgres"),
        ("shop/replicaset/legacy", "shop/redis"),
    }


# --- selection in dependency suppression, and --explain -------------------------------------------


def test_dependency_suppression_uses_only_the_policys_selection() -> None:
    graph = ServiceGraph.from_objects(catalog_app()).snapshot()
    critical = [{"name": "severity", "value": "critical"}]
    assert dependency_inhibit_rules(DependencySuppression(source_matchers=critical), graph) == []
    wide = DependencySuppression(source_matchers=critical, edge_classes=["call", "weak"], min_confidence=0.1)
    rules = dependency_inhibit_rules(wide, graph)
    # a and b form a cycle over weak edges: they never inhibit each other; c-db inhibits both.
    assert [r["source_matchers"][1] for r in rules] == ['service="c-db"']
    assert rules[0]["target_matchers"][0] == 'service=~"a|b"'


def test_explain_says_why_an_edge_is_weak_and_not_selected() -> None:
    graph = ServiceGraph.from_objects(catalog_app()).snapshot()
    text = explain(graph, "a", "c-db")
    assert text.startswith("shop/a -> shop/c-db\n")
    assert "class: weak" in text and "weak (catalog): a catalog ConfigMap" in text
    assert "via shop/configmap/shared" in text
    assert "not selected: class weak is not selected" in text
    missing = explain(graph, "c-db", "a")
    assert "no edge" in missing and "there is an edge the other way: shop/a -> shop/c-db" in missing


def test_the_published_form_round_trips_classes_verdicts_and_selection() -> None:
    allow = network_policy(
        "a-egress",
        {"app": "a"},
        policyTypes=["Egress"],
        egress=[{"to": [{"podSelector": {"matchLabels": {"app": "c-db"}}}]}],
    )
    graph = ServiceGraph.from_objects([*catalog_app(), workload("c-db"), allow]).snapshot(
        EdgeSelection(enforce_network_policies=True)
    )
    text = to_json(graph)
    back = Graph.from_json(json.loads(text))
    assert to_json(back) == text and back.selection == graph.selection
    assert back.edge("shop/a", "shop/c-db").policies == ("shop/networkpolicy/a-egress",)  # type: ignore[union-attr]


def test_the_cli_explains_an_edge_of_manifests(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml  # noqa: PLC0415

    from alertagent.cli import main  # noqa: PLC0415

    (tmp_path / "app.yaml").write_text(yaml.safe_dump_all(catalog_app()))
    assert main(["graph", "-f", str(tmp_path), "--explain", "b", "shop/c-db"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("shop/b -> shop/c-db\n") and "weak (catalog)" in out
    assert "not selected: class weak is not selected" in out
    assert main(["graph", "-f", str(tmp_path)]) == 0
    assert "3 nodes, 2 edges (0 selected), 0 unresolved addresses, 0 cycles" in capsys.readouterr().err


# --- kinds 5 and 6 through the graph ----------------------------------------------------------------


def test_connection_strings_give_edges_without_credentials() -> None:
    objects = [
        workload(
            "api",
            env={
                "DB_CONNECTION_STRING": "Host=postgresql;Username=u;Password=p;Database=x",
                "ConnectionStrings__Main": "Server=sqldata;Database=y",
            },
        ),
        service("api"),
        service("postgresql"),
        service("sqldata"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert set(edges(graph)) == {("shop/api", "shop/postgresql"), ("shop/api", "shop/sqldata")}
    assert graph.unresolved == () and "p;" not in to_json(graph) and "Password" not in to_json(graph)


def test_a_schema_url_and_public_names_in_files_are_no_dependency() -> None:
    flags = '{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {}}'
    objects = [
        configmap("flags", {"flags.json": flags}),
        mounted("shop", "flags"),
        service("shop"),
        service("flagd", ns="dev"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edges == () and graph.unresolved == ()
    # Without the $schema key, a public name in a file is still a web site, not Service flagd in dev.
    objects[0] = configmap("flags", {"service.json": '{"url": "https://flagd.dev/flags"}'})
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edges == () and graph.unresolved == ()
    # A named env var is stronger evidence: the pod's DNS does resolve flagd.dev to Service flagd in dev.
    objects.append(workload("cart", env={"FLAGD_HOST": "flagd.dev"}))
    objects.append(service("cart"))
    assert set(edges(ServiceGraph.from_objects(objects).snapshot())) == {("shop/cart", "dev/flagd")}


def test_an_external_name_only_follows_the_svc_forms() -> None:
    objects = [
        workload("orders", env={"DB": "orders-db:5432"}),
        service("orders"),
        external_name("orders-db", "postgres.data"),  # absolute DNS: the TLD .data, not namespace data
        service("postgres", ns="data"),
    ]
    assert set(edges(ServiceGraph.from_objects(objects).snapshot())) == {("shop/orders", "shop/orders-db")}


def test_a_custom_collector_every_service_sends_otlp_to_is_telemetry() -> None:
    config = (
        "receivers:\n  httpcheck:\n    targets:\n      - endpoint: http://api:8080\n      - endpoint: http://web:8080\n"
    )
    objects = [
        workload("api", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "DB_HOST": "db"}),
        workload("web", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "API_URL": "http://api:8080"}),
        mounted("collector", "otel", image="registry.example.com/otelcol-custom:1"),
        configmap("otel", {"config.yaml": config}),
        *(service(n) for n in ("api", "web", "collector", "db")),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges(graph) == {
        ("shop/api", "shop/collector"): "telemetry",
        ("shop/web", "shop/collector"): "telemetry",
        ("shop/collector", "shop/api"): "telemetry",
        ("shop/collector", "shop/web"): "telemetry",
        ("shop/api", "shop/db"): "call",
        ("shop/web", "shop/api"): "call",
    }
    # The role annotation on the pod template says otherwise, and wins.
    objects[2]["spec"]["template"]["metadata"]["annotations"] = {"alertagent.io/role": "app"}
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges(graph)[("shop/collector", "shop/api")] == "call"


@pytest.mark.parametrize(
    "image",
    [
        "gcr.io/datadoghq/agent:7",
        "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
        "quay.io/signalfx/splunk-otel-collector:0.104.0",
        "prom/blackbox-exporter:v0.25.0",
        "docker.elastic.co/apm/apm-server:8.14.0",
        "grafana/pyroscope:1.6.0",
    ],
)
def test_more_observability_images(image: str) -> None:
    assert telemetry_image(image)


def test_explain_refuses_unknown_and_ambiguous_names() -> None:
    objects = [workload("web", env={"A": "http://api.a:80", "B": "http://api.b:80"}), service("web")]
    objects += [service("api", ns="a"), service("api", ns="b")]
    graph = ServiceGraph.from_objects(objects).snapshot()
    with pytest.raises(LookupError, match="'api' names several nodes: a/api, b/api"):
        explain(graph, "web", "api")
    with pytest.raises(LookupError, match="no node 'zzz'"):
        explain(graph, "web", "zzz")
    assert explain(graph, "web", "b/api").startswith("shop/web -> b/api\n")


def test_only_the_mounted_keys_of_a_configmap_count() -> None:
    data = {"nginx.conf": "upstream a { server api:8080; }", "legacy.conf": "upstream o { server legacy:9000; }"}
    web = workload("web", volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}])
    web["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "cfg", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf"}
    ]
    objects = [configmap("cfg", data), web, service("web"), service("api"), service("legacy")]
    assert set(edges(ServiceGraph.from_objects(objects).snapshot())) == {("shop/web", "shop/api")}
    items = workload(
        "web",
        volumes=[{"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "legacy.conf", "path": "l.conf"}]}}],
    )
    objects[1] = items
    assert set(edges(ServiceGraph.from_objects(objects).snapshot())) == {("shop/web", "shop/legacy")}
    objects[1] = mounted("web", "cfg")  # the whole volume: both files
    assert set(edges(ServiceGraph.from_objects(objects).snapshot())) == {
        ("shop/web", "shop/api"),
        ("shop/web", "shop/legacy"),
    }


def test_exec_form_arguments_are_one_command_line() -> None:
    objects = [
        workload("job", command=["sqlcmd", "-S", "sqldata,1433", "-P", "db2:50000"], args=["-Q", "select 1"]),
        workload("probe", command=["pg_isready", "-h", "pg-primary", "-p", "5432"]),
        *(service(n) for n in ("job", "probe", "sqldata", "db2", "pg-primary")),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert set(edges(graph)) == {("shop/job", "shop/sqldata"), ("shop/probe", "shop/pg-primary")}
    assert "db2:50000" not in to_json(graph)


def test_argo_rollouts_replication_controllers_and_bare_pods_are_callers() -> None:
    rollout = workload("checkout", kind="Rollout", env={"DB_HOST": "postgres"})
    rollout["apiVersion"] = "argoproj.io/v1alpha1"
    rc = workload("legacy", kind="ReplicationController", env={"CACHE_ADDR": "redis:6379"})
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug", "namespace": "shop", "labels": {"run": "debug"}},
        "spec": {"containers": [{"name": "c", "env": [{"name": "DB_HOST", "value": "postgres"}]}]},
    }
    owned_pod = {
        **pod,
        "metadata": {**pod["metadata"], "name": "checkout-abc", "ownerReferences": [{"controller": True}]},
    }
    objects = [rollout, rc, pod, owned_pod, service("checkout"), service("postgres"), service("redis")]
    assert set(edges(ServiceGraph.from_objects(objects).snapshot())) == {
        ("shop/checkout", "shop/postgres"),
        ("shop/replicationcontroller/legacy", "shop/redis"),
        ("shop/pod/debug", "shop/postgres"),
    }
