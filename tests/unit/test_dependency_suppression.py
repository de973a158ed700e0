"""Inhibit rules generated from the service graph (pure)."""

from __future__ import annotations

from typing import Any

from alertagent.api import AlertmanagerCluster, SuppressionPolicy
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
    result = render_alertmanager(cluster, [], [policy("monitoring"), policy("shop")], lambda ns, ref: None, graph=graph)
    assert result.generated == {
        ObjectRef("SuppressionPolicy", "monitoring", "deps"): 4,
        ObjectRef("SuppressionPolicy", "shop", "deps"): 2,
    }
    rules = result.config["inhibit_rules"]
    assert len(rules) == 6 and result.counts["inhibitRules"] == 6
    assert rules[4:] == [  # the tenant's policy: inside its namespace, the batch job out of reach
        {
            "source_matchers": ['namespace="shop"', 'severity="critical"', 'service="api"'],
            "target_matchers": ['namespace="shop"', 'service="frontend"'],
        },
        {
            "source_matchers": ['namespace="shop"', 'severity="critical"', 'service="database"'],
            "target_matchers": ['namespace="shop"', 'service=~"api|frontend"'],
        },
    ]
    without = render_alertmanager(cluster, [], [policy("shop")], lambda ns, ref: None)
    assert "inhibit_rules" not in without.config and without.generated == {}
