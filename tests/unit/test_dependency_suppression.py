"""Inhibit rules generated from the service graph (pure)."""

from __future__ import annotations

from typing import Any

from alertagent.api import AlertmanagerCluster, SuppressionPolicy
from alertagent.api.common import Matcher
from alertagent.api.suppressionpolicy import DependencySuppression
from alertagent.common.identity import ObjectRef
from alertagent.discovery.graph import ServiceGraph
from alertagent.render.alertmanager import render_alertmanager
from alertagent.render.dependencies import dependency_inhibit_rules


def svc(name: str, ns: str = "shop", deps: str = "") -> dict[str, Any]:
    annotations = {"alertagent.io/dependencies": deps} if deps else {}
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"selector": {"app": name}},
    }


def chain() -> ServiceGraph:
    """frontend → api → database, an Ingress in front, and a batch job in another namespace on the api."""
    return ServiceGraph.from_objects(
        [
            svc("frontend", deps="api"),
            svc("api", deps="database"),
            svc("database"),
            svc("report", ns="batch", deps="shop/api"),
            {
                "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"defaultBackend": {"service": {"name": "frontend"}}},
            },
        ]
    )


def suppression(max_depth: int = 3, **extra: Any) -> DependencySuppression:
    spec = {"sourceMatchers": [{"name": "severity", "value": "critical"}], "maxDepth": max_depth, **extra}
    return DependencySuppression.model_validate(spec)


def test_an_upstream_alert_inhibits_every_dependant_transitively() -> None:
    rules = dependency_inhibit_rules(suppression(), chain().snapshot())
    assert rules == [
        {
            "source_matchers": ['severity="critical"', 'service="api"', 'namespace="shop"'],
            "target_matchers": ['service="report"', 'namespace="batch"'],
        },
        {
            "source_matchers": ['severity="critical"', 'service="api"', 'namespace="shop"'],
            "target_matchers": ['service="frontend"', 'namespace="shop"'],
        },
        {
            "source_matchers": ['severity="critical"', 'service="database"', 'namespace="shop"'],
            "target_matchers": ['service="report"', 'namespace="batch"'],
        },
        {
            "source_matchers": ['severity="critical"', 'service="database"', 'namespace="shop"'],
            "target_matchers": ['service=~"api|frontend"', 'namespace="shop"'],
        },
    ]


def test_max_depth_limits_the_hops() -> None:
    rules = dependency_inhibit_rules(suppression(max_depth=1), chain().snapshot())
    database = [r["target_matchers"] for r in rules if 'service="database"' in r["source_matchers"]]
    assert database == [['service="api"', 'namespace="shop"']]


def test_custom_labels_and_target_matchers() -> None:
    spec = suppression(
        serviceLabel="app",
        namespaceLabel="kubernetes_namespace",
        targetMatchers=[{"name": "severity", "value": "critical", "matchType": "!="}],
    )
    rule = dependency_inhibit_rules(spec, chain().snapshot(), namespace="shop")[-1]
    assert rule == {
        "source_matchers": ['severity="critical"', 'app="database"', 'kubernetes_namespace="shop"'],
        "target_matchers": ['severity!="critical"', 'app=~"api|frontend"', 'kubernetes_namespace="shop"'],
    }


def test_members_of_a_cycle_never_inhibit_each_other() -> None:
    graph = ServiceGraph.from_objects([svc("a", deps="b"), svc("b", deps="a"), svc("c", deps="a")]).snapshot()
    rules = dependency_inhibit_rules(suppression(), graph)
    assert [(r["source_matchers"][1], r["target_matchers"][0]) for r in rules] == [
        ('service="a"', 'service="c"'),
        ('service="b"', 'service="c"'),
    ]


def test_render_adds_generated_rules_counts_them_and_scopes_tenants() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "c", "namespace": "monitoring"},
            "spec": {"alertmanager": {"url": "http://am:9093"}, "namespaceIsolation": "OnNamespace"},
        }
    )

    def policy(ns: str) -> SuppressionPolicy:
        return SuppressionPolicy.model_validate(
            {
                "metadata": {"name": "deps", "namespace": ns},
                "spec": {"dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}]}},
            }
        )

    graph = chain().snapshot()
    tenant = render_alertmanager(cluster, [], [policy("shop")], lambda ns, ref: None, graph=graph)
    assert tenant.generated == {ObjectRef("SuppressionPolicy", "shop", "deps"): 2}
    assert tenant.config["inhibit_rules"] == [  # inside its namespace, the batch job out of reach
        {
            "source_matchers": ['namespace="shop"', 'severity="critical"', 'service="api"'],
            "target_matchers": ['namespace="shop"', 'service="frontend"'],
        },
        {
            "source_matchers": ['namespace="shop"', 'severity="critical"', 'service="database"'],
            "target_matchers": ['namespace="shop"', 'service=~"api|frontend"'],
        },
    ]
    both = render_alertmanager(cluster, [], [policy("monitoring"), policy("shop")], lambda ns, ref: None, graph=graph)
    assert both.generated == {
        ObjectRef("SuppressionPolicy", "monitoring", "deps"): 4,
        ObjectRef("SuppressionPolicy", "shop", "deps"): 2,
    }
    # The cluster-wide policy's rules already say what the tenant's say (the same matchers, in another
    # order): each is written once, where it first occurs.
    assert both.config["inhibit_rules"] == dependency_inhibit_rules(suppression(), graph)
    assert both.counts["inhibitRules"] == 4
    without = render_alertmanager(cluster, [], [policy("shop")], lambda ns, ref: None)
    assert "inhibit_rules" not in without.config and without.generated == {}


def matcher(name: str, value: str, match_type: str = "=") -> Matcher:
    return Matcher.model_validate({"name": name, "value": value, "matchType": match_type})


def test_policy_matchers_on_the_service_label_select_the_inhibited_services() -> None:
    """Only the api may be inhibited: the database's rule keeps the api alone, and the api's own rule
    (its dependants are frontend and report) is not written at all."""
    graph = chain().snapshot()
    rules = dependency_inhibit_rules(suppression(), graph, matchers=[matcher("service", "api")])
    assert rules == [
        {
            "source_matchers": ['severity="critical"', 'service="database"', 'namespace="shop"'],
            "target_matchers": ['service="api"', 'namespace="shop"'],
        }
    ]
    # Alertmanager anchors a regex to the whole value: `front` selects nothing, `front.*` the frontend.
    assert dependency_inhibit_rules(suppression(), graph, matchers=[matcher("service", "front", "=~")]) == []
    fronts = dependency_inhibit_rules(suppression(), graph, matchers=[matcher("service", "front.*", "=~")])
    assert {r["target_matchers"][0] for r in fronts} == {'service="frontend"'}
    others = dependency_inhibit_rules(suppression(), graph, matchers=[matcher("service", "api|frontend", "!~")])
    assert {r["target_matchers"][0] for r in others} == {'service="report"'}
    not_api = dependency_inhibit_rules(suppression(), graph, matchers=[matcher("service", "api", "!=")])
    assert [r["target_matchers"][0] for r in not_api] == ['service="report"', 'service="frontend"'] * 2


def test_policy_matchers_on_the_namespace_label_select_the_dependants_namespace() -> None:
    graph = chain().snapshot()
    rules = dependency_inhibit_rules(suppression(), graph, matchers=[matcher("namespace", "batch")])
    assert [r["target_matchers"] for r in rules] == [['service="report"', 'namespace="batch"']] * 2
    # The labels the policy names are the ones decided on the graph: here `app`, not `service`.
    custom = suppression(serviceLabel="app")
    rules = dependency_inhibit_rules(custom, graph, matchers=[matcher("app", "frontend")])
    assert [r["source_matchers"][1] for r in rules] == ['app="api"', 'app="database"']


def test_other_policy_matchers_narrow_the_inhibited_side_only() -> None:
    spec = suppression(targetMatchers=[{"name": "severity", "value": "critical", "matchType": "!="}])
    rules = dependency_inhibit_rules(spec, chain().snapshot(), namespace="shop", matchers=[matcher("team", "web")])
    assert rules[-1] == {
        "source_matchers": ['severity="critical"', 'service="database"', 'namespace="shop"'],
        "target_matchers": ['team="web"', 'severity!="critical"', 'service=~"api|frontend"', 'namespace="shop"'],
    }


def test_render_narrows_each_policy_by_its_matchers() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {"metadata": {"name": "c", "namespace": "monitoring"}, "spec": {"alertmanager": {"url": "http://am:9093"}}}
    )
    policy = SuppressionPolicy.model_validate(
        {
            "metadata": {"name": "api-only", "namespace": "shop"},
            "spec": {
                "matchers": [{"name": "service", "value": "api"}],
                "dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}]},
            },
        }
    )
    result = render_alertmanager(cluster, [], [policy], lambda ns, ref: None, graph=chain().snapshot())
    assert result.config["inhibit_rules"] == [
        {
            "source_matchers": ['namespace="shop"', 'severity="critical"', 'service="database"'],
            "target_matchers": ['namespace="shop"', 'service="api"'],
        }
    ]
    assert result.generated == {ObjectRef.of(policy): 1}


def test_equal_rules_from_several_policies_are_written_once_in_a_stable_order() -> None:
    """Two policies covering the same services, and the same static rule twice (its matchers in
    another order): each rule once, in the same order whichever order the policies come in; each
    policy's count is its own."""
    cluster = AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "c", "namespace": "monitoring"},
            "spec": {"alertmanager": {"url": "http://am:9093"}, "namespaceIsolation": "None"},
        }
    )
    static = {
        "sourceMatchers": [{"name": "alertname", "value": "DatabaseDown"}, {"name": "severity", "value": "critical"}],
        "targetMatchers": [{"name": "severity", "value": "warning"}],
        "equal": ["namespace", "service"],
    }
    swapped = {**static, "sourceMatchers": static["sourceMatchers"][::-1], "equal": ["service", "namespace"]}

    def policy(name: str, rule: dict[str, Any], depth: int) -> SuppressionPolicy:
        dependency = {"sourceMatchers": [{"name": "severity", "value": "critical"}], "maxDepth": depth}
        return SuppressionPolicy.model_validate(
            {
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"inhibitRules": [rule], "dependencySuppression": dependency},
            }
        )

    policies = [policy("a", static, 3), policy("b", swapped, 3), policy("c", static, 1)]
    graph = chain().snapshot()
    results = [
        render_alertmanager(cluster, [], order, lambda ns, ref: None, graph=graph)
        for order in (policies, policies[::-1])
    ]
    assert results[0].text == results[1].text
    rules = results[0].config["inhibit_rules"]
    deep = dependency_inhibit_rules(suppression(), graph)
    assert rules[0]["source_matchers"] == ['alertname="DatabaseDown"', 'severity="critical"']  # policy a's
    shallow = dependency_inhibit_rules(suppression(max_depth=1), graph)
    assert rules[1:] == deep + [r for r in shallow if r not in deep]
    assert len(rules) == 1 + 4 + 1 == results[0].counts["inhibitRules"]  # maxDepth 1 adds database → api only
    assert results[0].generated == {ObjectRef.of(p): n for p, n in zip(policies, (4, 4, 3), strict=True)}
