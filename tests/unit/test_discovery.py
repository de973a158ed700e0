"""Extractors, the incremental graph, its text forms and the published ConfigMaps (pure)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from alertagent.cli import main
from alertagent.discovery.addresses import ServiceRef
from alertagent.discovery.export import to_dot, to_json, to_mermaid
from alertagent.discovery.facts import (
    CONFIDENCE,
    configmap_facts,
    ingress_facts,
    service_facts,
    workload_facts,
)
from alertagent.discovery.graph import ServiceGraph, extract
from alertagent.discovery.snapshot import Graph, find_cycles
from alertagent.discovery.store import GRAPH_CONFIGMAP, IncompleteGraphError, assemble, graph_configmaps

EXAMPLES = Path(__file__).parents[2] / "examples"


def service(name: str, ns: str = "shop", selector: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    notes = {f"alertagent.io/{k.replace('_', '-')}": v for k, v in annotations.items()}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "annotations": notes},
        "spec": {"selector": {"app": name} if selector is None else selector},
    }


def workload(
    name: str,
    ns: str = "shop",
    kind: str = "Deployment",
    labels: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    **container: Any,
) -> dict[str, Any]:
    spec = {"name": "app", "image": "x", "env": [{"name": k, "value": v} for k, v in (env or {}).items()], **container}
    volumes = spec.pop("volumes", [])
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name} if labels is None else labels},
                "spec": {"containers": [spec], "volumes": volumes},
            }
        },
    }


def configmap(name: str, data: dict[str, str], ns: str = "shop", labels: dict[str, str] | None = None) -> Any:
    meta = {"name": name, "namespace": ns, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def ingress(name: str, backends: list[str], ns: str = "shop", default: str | None = None) -> dict[str, Any]:
    paths = [
        {"path": f"/{b}", "pathType": "Prefix", "backend": {"service": {"name": b, "port": {"number": 80}}}}
        for b in backends
    ]
    spec: dict[str, Any] = {"rules": [{"host": "shop.example.com", "http": {"paths": paths}}]}
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def edges_of(graph: Graph) -> dict[tuple[str, str], set[str]]:
    return {(e.caller, e.callee): {ev.type for ev in e.evidence} for e in graph.edges}


# --- extractors --------------------------------------------------------------------------------------


def test_service_annotations_are_read_including_cross_namespace_dependencies() -> None:
    facts = service_facts(
        service(
            "api",
            dependencies="postgres, data/redis",
            tier="business",
            criticality="high",
            team="payments",
            sla_target="99.9",
            ignore="false",
        )
    )
    assert facts.dependencies == (ServiceRef("postgres", None), ServiceRef("redis", "data"))
    assert (facts.tier, facts.criticality, facts.team, facts.sla, facts.ignored) == (
        "business",
        "high",
        "payments",
        "99.9",
        False,
    )
    assert facts.selector == (("app", "api"),)
    assert service_facts(service("x", ignore="True")).ignored


def test_service_without_selector_selects_nothing() -> None:
    facts = service_facts(service("external", selector={}))
    assert not facts.selects({"app": "external"})


def test_ingress_backends_from_rules_and_default_backend() -> None:
    facts = ingress_facts(ingress("web", ["frontend", "api", "api"], default="fallback"))
    assert facts.backends == ("api", "fallback", "frontend")


def test_workload_reads_env_envfrom_keyrefs_volumes_and_args() -> None:
    obj = workload(
        "orders",
        env={"API": "http://api:8080", "PORT": "8080"},
        envFrom=[{"configMapRef": {"name": "shared"}, "prefix": "X_"}],
        args=["--upstream=http://billing.finance.svc.cluster.local:9000"],
        volumes=[
            {"name": "c", "configMap": {"name": "files"}},
            {"name": "p", "projected": {"sources": [{"configMap": {"name": "projected"}}]}},
        ],
    )
    obj["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "DB", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "url"}}}
    )
    facts = workload_facts(obj)
    assert facts.kind == "deployment" and facts.id == "shop/deployment/orders"
    found = {(f.evidence.type, f.evidence.key, f.address.refs[0]) for f in facts.found}
    assert ("env", "app/API", ServiceRef("api", None)) in found
    assert ("args", "app", ServiceRef("billing", "finance")) in found
    assert not any(f.evidence.key == "app/PORT" for f in facts.found)  # a number is not an address
    uses = {(u.configmap, u.type, u.key, u.env, u.prefix) for u in facts.uses}
    assert uses == {
        ("shared", "envFrom", "", "", "X_"),
        ("db", "env", "url", "DB", ""),
        ("files", "configmap", "", "", ""),
        ("projected", "configmap", "", "", ""),
    }


def test_workload_expands_var_references_of_the_same_container() -> None:
    facts = workload_facts(workload("w", env={"HOST": "payments.finance", "URL": "http://$(HOST):8080/pay"}))
    url = [f for f in facts.found if f.evidence.key == "app/URL"]
    assert url and url[0].address.refs[0] == ServiceRef("payments", "finance")


def test_var_references_follow_kubernetes_expansion_order() -> None:
    """Kubernetes expands `$(VAR)` only from variables listed earlier; a forward reference stays literal."""
    forward = workload("w", env={"PAYMENTS_URL": "http://$(PAYMENTS_NAME):8080", "PAYMENTS_NAME": "payments"})
    graph = ServiceGraph.from_objects([service("w"), service("payments"), forward]).snapshot()
    assert ("shop/w", "shop/payments") not in edges_of(graph)
    backward = workload("w", env={"PAYMENTS_NAME": "payments", "PAYMENTS_URL": "http://$(PAYMENTS_NAME):8080"})
    graph = ServiceGraph.from_objects([service("w"), service("payments"), backward]).snapshot()
    assert ("shop/w", "shop/payments") in edges_of(graph)
    chained = workload("w", env={"HOST": "payments", "ADDR": "$(HOST):8080", "URL": "http://$(ADDR)/x"})
    url = [f for f in workload_facts(chained).found if f.evidence.key == "app/URL"]
    assert url and url[0].address.refs[0] == ServiceRef("payments", None)  # expanded values expand further
    escaped = workload("w", env={"HOST": "payments", "URL": "http://$$(HOST):8080"})
    assert not [f for f in workload_facts(escaped).found if f.evidence.key == "app/URL"]  # `$$(` is literal
    args = workload("w", env={"HOST": "payments"}, args=["--upstream=http://$(HOST):8080"])
    assert [f for f in workload_facts(args).found if f.evidence.type == "args"]  # args see every variable


def test_configmap_values_are_not_kept_only_addresses() -> None:
    properties = "db.password=hunter2\ndb.url=jdbc:postgresql://postgres:5432/x\n"
    facts = configmap_facts(configmap("cfg", {"app.properties": properties, "LOG_LEVEL": "debug"}))
    assert "hunter2" not in repr(facts) and "debug" not in repr(facts)
    [(key, addresses)] = facts.addresses
    assert key == "app.properties" and ServiceRef("postgres", None) in {a.refs[0] for a in addresses}


# --- the graph -----------------------------------------------------------------------------------------


def shop() -> list[dict[str, Any]]:
    return [
        service("frontend"),
        service("api"),
        service("postgres"),
        service("redis", ns="cache"),
        workload("frontend", env={"API_URL": "http://api:8080"}),
        workload(
            "api",
            env={"DATABASE_URL": "postgres://app:pw@postgres:5432/shop", "MISSING": "http://recommendations:8080"},
            args=["--cache=redis.cache.svc.cluster.local:6379"],
        ),
        workload("postgres", kind="StatefulSet"),
        ingress("web", ["frontend"]),
    ]


def test_edges_from_callers_to_callees_with_evidence() -> None:
    graph = ServiceGraph.from_objects(shop()).snapshot()
    assert edges_of(graph) == {
        ("shop/frontend", "shop/api"): {"env"},
        ("shop/api", "shop/postgres"): {"env"},
        ("shop/api", "cache/redis"): {"args"},
        ("shop/ingress/web", "shop/frontend"): {"ingress"},
    }
    assert [(u.caller, u.address, u.source.key) for u in graph.unresolved] == [
        ("shop/api", "recommendations:8080", "app/MISSING")
    ]
    ids = {n.id: n.kind for n in graph.nodes}
    assert ids == {
        "shop/frontend": "service",
        "shop/api": "service",
        "shop/postgres": "service",
        "cache/redis": "service",
        "shop/ingress/web": "ingress",
    }
    assert "pw" not in to_json(graph)


def test_unselected_workload_is_its_own_node_and_self_edges_are_dropped() -> None:
    objects = [
        service("api"),
        workload("api", env={"SELF": "http://api:8080"}),
        workload("cron", kind="DaemonSet", labels={"app": "agent"}, env={"TARGET": "http://api:8080"}),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges_of(graph) == {("shop/daemonset/cron", "shop/api"): {"env"}}
    assert {n.id for n in graph.nodes} == {"shop/api", "shop/daemonset/cron"}


def test_every_service_selecting_a_workload_is_a_caller() -> None:
    objects = [
        service("api"),
        service("api-headless", selector={"app": "api"}),
        service("db"),
        workload("api", env={"DB": "db:5432"}),
    ]
    assert set(edges_of(ServiceGraph.from_objects(objects).snapshot())) == {
        ("shop/api", "shop/db"),
        ("shop/api-headless", "shop/db"),
    }


def test_bare_words_count_only_under_keys_that_name_an_address() -> None:
    objects = [
        service("api"),
        service("postgres"),
        service("info"),
        workload("api", env={"DB_HOST": "postgres", "LOG_LEVEL": "info"}),
    ]
    assert set(edges_of(ServiceGraph.from_objects(objects).snapshot())) == {("shop/api", "shop/postgres")}


def test_configmaps_via_envfrom_keyref_and_mount_with_their_confidence() -> None:
    objects = [
        service("api"),
        service("postgres"),
        service("redis"),
        service("search"),
        configmap("shared", {"DATABASE_URL": "postgres://postgres:5432/db"}),
        configmap("keys", {"cache": "redis://redis:6379", "unused": "http://search:9200"}),
        configmap("files", {"app.yaml": "search:\n  url: http://search:9200\n"}),
        workload(
            "api",
            envFrom=[{"configMapRef": {"name": "shared"}}],
            env_extra=None,
            volumes=[{"name": "f", "configMap": {"name": "files"}}],
        ),
    ]
    container = objects[-1]["spec"]["template"]["spec"]["containers"][0]
    del container["env_extra"]
    container["env"] = [{"name": "CACHE", "valueFrom": {"configMapKeyRef": {"name": "keys", "key": "cache"}}}]
    graph = ServiceGraph.from_objects(objects).snapshot()
    by_pair = {(e.caller, e.callee): e for e in graph.edges}
    assert {k: {ev.type for ev in e.evidence} for k, e in by_pair.items()} == {
        ("shop/api", "shop/postgres"): {"envFrom"},
        ("shop/api", "shop/redis"): {"env"},  # a named key of a ConfigMap is a named env var
        ("shop/api", "shop/search"): {"configmap"},  # from the mounted file, not the unused key
    }
    assert by_pair["shop/api", "shop/redis"].confidence == CONFIDENCE["env"]
    assert by_pair["shop/api", "shop/postgres"].evidence[0].via == "shop/configmap/shared"
    assert CONFIDENCE["annotation"] > CONFIDENCE["env"] > CONFIDENCE["envFrom"] == CONFIDENCE["configmap"]
    assert CONFIDENCE["configmap"] > CONFIDENCE["args"]


def test_unused_configmap_counts_for_the_service_its_app_label_names() -> None:
    labels = {"app.kubernetes.io/name": "api"}
    objects = [service("api"), service("kafka"), configmap("api-config", {"brokers": "kafka:9092"}, labels=labels)]
    graph = ServiceGraph()
    for obj in objects:
        graph.put(extract(obj))  # type: ignore[arg-type]
    assert edges_of(graph.snapshot()) == {("shop/api", "shop/kafka"): {"configmap"}}
    graph.put(extract(workload("other", labels={"app": "x"}, envFrom=[{"configMapRef": {"name": "api-config"}}])))  # type: ignore[arg-type]
    assert edges_of(graph.snapshot()) == {("shop/deployment/other", "shop/kafka"): {"envFrom"}}  # used now


def test_annotation_dependencies_and_ignore() -> None:
    objects = [
        service("api", dependencies="postgres, data/warehouse, ghost"),
        service("postgres"),
        service("warehouse", ns="data"),
        service("noise", ignore="true"),
        workload("api", env={"X": "http://noise:80"}),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert edges_of(graph) == {
        ("shop/api", "shop/postgres"): {"annotation"},
        ("shop/api", "data/warehouse"): {"annotation"},
    }
    assert {u.address for u in graph.unresolved} == {"ghost", "noise:80"}
    assert "shop/noise" not in {n.id for n in graph.nodes}
    assert all(e.confidence == 1.0 for e in graph.edges)


def test_cycles_are_reported_not_fatal_and_queries_respect_depth() -> None:
    objects = [
        service("a", dependencies="b"),
        service("b", dependencies="c"),
        service("c", dependencies="a"),
        service("d", dependencies="a"),
        service("e", dependencies="d"),
    ]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.cycles == (("shop/a", "shop/b", "shop/c"),)
    assert graph.upstream("shop/a", 1) == {"shop/c": 1, "shop/d": 1}
    assert graph.upstream("shop/a") == {"shop/c": 1, "shop/d": 1, "shop/b": 2, "shop/e": 2}
    assert graph.downstream("shop/e", 2) == {"shop/d": 1, "shop/a": 2}
    assert find_cycles(["x"], {"x": []}) == ()


def test_long_chain_does_not_hit_recursion_limits() -> None:
    n = 5000
    adjacent = {str(i): [str(i + 1)] for i in range(n)}
    adjacent[str(n)] = ["0"]
    assert len(find_cycles([str(i) for i in range(n + 1)], adjacent)[0]) == n + 1


def test_incremental_updates_equal_a_full_rebuild() -> None:
    """Random puts and removals in random order end in the same graph as building the final state."""
    rng = random.Random(7)
    names = ["api", "db", "cache", "web", "queue", "auth"]
    for _ in range(60):
        graph = ServiceGraph()
        state: dict[tuple[str, str, str], dict[str, Any]] = {}
        for _ in range(40):
            name, ns = rng.choice(names), rng.choice(["a", "b"])
            target = f"{rng.choice(names)}.{rng.choice(['a', 'b'])}"
            options = [
                service(
                    name,
                    ns,
                    selector=rng.choice([{"app": name}, {"app": rng.choice(names)}, {}]),
                    dependencies=rng.choice(["", rng.choice(names), f"b/{rng.choice(names)}"]),
                    ignore=rng.choice(["false", "false", "true"]),
                ),
                workload(
                    name,
                    ns,
                    labels={"app": rng.choice(names)},
                    env={"URL": f"http://{target}:80"},
                    envFrom=[{"configMapRef": {"name": rng.choice(names)}}],
                ),
                configmap(name, {"HOST": f"{target}:80"}, ns, labels={"app": rng.choice(names)}),
                ingress(name, [rng.choice(names)], ns),
            ]
            obj = rng.choice(options)
            key = (obj["kind"], ns, name)
            if key in state and rng.random() < 0.3:
                del state[key]
                graph.remove(*key)
            else:
                state[key] = obj
                graph.put(extract(obj))  # type: ignore[arg-type]
        assert to_json(graph.snapshot()) == to_json(ServiceGraph.from_objects(state.values()).snapshot())


def test_put_of_unchanged_facts_reports_no_change() -> None:
    graph = ServiceGraph.from_objects(shop())
    assert not graph.put(extract(service("api")))  # type: ignore[arg-type]
    assert graph.put(extract(service("api", tier="business")))  # type: ignore[arg-type]
    assert not graph.remove("Service", "shop", "nope")


# --- text forms and ConfigMaps -----------------------------------------------------------------------


def test_json_form_is_stable_and_round_trips() -> None:
    graph = ServiceGraph.from_objects(shop()).snapshot()
    shuffled = shop()
    random.Random(1).shuffle(shuffled)
    text = to_json(graph)
    assert text == to_json(ServiceGraph.from_objects(shuffled).snapshot())
    doc = json.loads(text)
    assert set(doc) == {"nodes", "edges", "unresolved", "cycles", "selection"}
    assert set(doc["nodes"][0]) >= {"id", "kind", "namespace", "name", "tier", "criticality", "team", "role"}
    assert set(doc["edges"][0]) == {"from", "to", "class", "evidence", "confidence", "selected"}
    assert set(doc["unresolved"][0]) == {"from", "address", "source"}
    assert to_json(Graph.from_json(doc)) == text


def test_dot_and_mermaid_name_every_edge() -> None:
    graph = ServiceGraph.from_objects(shop()).snapshot()
    dot, mermaid = to_dot(graph), to_mermaid(graph)
    assert dot.startswith("digraph") and '"shop/api" -> "shop/postgres"' in dot
    assert mermaid.startswith("flowchart LR") and mermaid.count("-->") + mermaid.count("-.->") == len(graph.edges)
    assert "n_shop_2fapi --> n_shop_2fpostgres" in mermaid


def test_large_graph_is_split_across_configmaps_and_assembled() -> None:
    text = json.dumps({"blob": "x" * 2500})
    parts = graph_configmaps("ops", text, limit=1000)
    assert [p["metadata"]["name"] for p in parts] == [f"{GRAPH_CONFIGMAP}-1", f"{GRAPH_CONFIGMAP}-2", GRAPH_CONFIGMAP]
    assert parts[-1]["metadata"]["annotations"]["alertagent.io/part"] == "0/3"
    assert assemble(reversed(parts)) == text
    with pytest.raises(IncompleteGraphError):
        assemble(parts[1:])
    stale = graph_configmaps("ops", json.dumps({"blob": "y" * 2500}), limit=1000)
    with pytest.raises(IncompleteGraphError):
        assemble([parts[0], stale[1], parts[2]])  # caught mid-update


def test_example_application_graph_via_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "-f", str(EXAMPLES / "discovery")]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert {(e["from"], e["to"]): e["confidence"] for e in doc["edges"]} == {
        ("shop/ingress/shop", "shop/frontend"): 1.0,
        ("shop/frontend", "shop/api"): 0.9,
        ("shop/api", "shop/database"): 0.7,  # a bare word under DATABASE_HOST, from a ConfigMap via envFrom
    }
    assert [u["address"] for u in doc["unresolved"]] == ["redis.cache.svc.cluster.local:6379"]
    assert "4 nodes, 3 edges (3 selected), 1 unresolved" in err
    assert main(["graph", "-f", str(EXAMPLES / "discovery"), "--format", "dot"]) == 0
    assert '"shop/frontend" -> "shop/api"' in capsys.readouterr().out
    assert main(["graph", "-f", str(EXAMPLES / "missing")]) == 2
