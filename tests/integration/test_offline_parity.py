"""One renderer, offline and live: the same manifests (an application in two namespaces, an
AlertmanagerCluster, webhook channels and dependencySuppression policies) are applied to the real API
server with the operator running with discovery, and given to `alertagent render`; the alertmanager.yaml
Secret the operator writes and the file `alertagent render` writes are the same text, dependency
inhibit rules included, before and after the application changes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from alertagent.cli import main
from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget
from tests.conftest import extra_namespaces

GROUP = "alertagent.io/v1alpha1"


def service(name: str, ns: str, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"port": 80}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def workload(name: str, ns: str, kind: str = "Deployment", **container: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", **container}]},
        },
    }
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def application(shop: str, data: str) -> list[dict[str, Any]]:
    """Ingress → frontend → api → redis (shop) and postgres (data); a DaemonSet no Service selects
    calls the api. Edges from env, envFrom of a ConfigMap, args and the Ingress."""
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web", "namespace": shop},
            "spec": {"defaultBackend": {"service": {"name": "frontend", "port": {"number": 80}}}},
        },
        service("frontend", shop),
        workload("frontend", shop, env=[{"name": "API_URL", "value": "http://api:8080"}]),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "api-config", "namespace": shop},
            "data": {
                "DATABASE_URL": f"postgres://app:pw@postgres.{data}.svc.cluster.local:5432/shop",
                "REDIS_ADDR": "redis:6379",
                "LOG_LEVEL": "info",
            },
        },
        service("api", shop),
        workload("api", shop, envFrom=[{"configMapRef": {"name": "api-config"}}]),
        service("redis", shop, headless=True),
        workload("redis", shop, kind="StatefulSet"),
        workload("log-agent", shop, kind="DaemonSet", args=["--endpoint=http://api:8080"]),
        service("postgres", data),
        workload("postgres", data, kind="StatefulSet"),
    ]


def alerting(cluster_ns: str, shop: str, alertmanager_url: str) -> list[dict[str, Any]]:
    """The cluster, a cluster-wide and a tenant webhook channel (no Secrets), and two dependency
    policies narrowed by their matchers to everything but the log agent: the cluster-wide one covers
    every namespace, the tenant's only `shop`, so each of its rules is one the cluster-wide policy
    renders too."""
    not_the_agent = [{"name": "service", "value": "log-agent", "matchType": "!="}]
    dependency = {"sourceMatchers": [{"name": "severity", "value": "critical"}], "maxDepth": 3}
    return [
        {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": cluster_ns},
            "spec": {"alertmanager": {"url": alertmanager_url, "version": "0.27.0"}},
        },
        {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "ops", "namespace": cluster_ns},
            "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/ops"}, "route": {}},
        },
        {
            "apiVersion": GROUP,
            "kind": "NotificationChannel",
            "metadata": {"name": "oncall", "namespace": shop},
            "spec": {
                "type": "webhook",
                "webhook": {"url": "http://127.0.0.1:9/oncall"},
                "route": {"matchers": [{"name": "severity", "value": "critical"}]},
            },
        },
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "dependencies", "namespace": cluster_ns},
            "spec": {"matchers": not_the_agent, "dependencySuppression": dependency},
        },
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "dependencies", "namespace": shop},
            "spec": {"matchers": not_the_agent, "dependencySuppression": dependency},
        },
    ]


@pytest.fixture
def app_namespaces(api_client: client.ApiClient, namespace: str) -> Iterator[tuple[str, str, str]]:
    names = (namespace, f"{namespace[:50]}-shop", f"{namespace[:50]}-data")
    with extra_namespaces(api_client, names[1:]):
        yield names


def _rule_sets(config: dict[str, Any]) -> list[tuple[frozenset[str], frozenset[str]]]:
    return [(frozenset(r["source_matchers"]), frozenset(r["target_matchers"])) for r in config["inhibit_rules"]]


def test_offline_render_writes_what_the_operator_writes(
    installed_crds: ControlPlane,
    api_client: client.ApiClient,
    app_namespaces: tuple[str, str, str],
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    plane, core = installed_crds, client.CoreV1Api(api_client)
    cluster_ns, shop, data = app_namespaces
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "app.yaml").write_text(yaml.safe_dump_all(application(shop, data)))
    (manifests / "alerting.yaml").write_text(yaml.safe_dump_all(alerting(cluster_ns, shop, alertmanager.url)))
    plane.kubectl("apply", "-f", str(manifests))

    def offline() -> str:
        out = tmp_path / "out"
        assert main(["render", "-f", str(manifests), "-o", str(out)]) == 0
        return (out / cluster_ns / "main" / "alertmanager.yaml").read_text()

    def live() -> str | None:
        try:
            secret = core.read_namespaced_secret("main-alertmanager-config", cluster_ns)
        except client.exceptions.ApiException:
            return None
        return base64.b64decode(secret.data["alertmanager.yaml"]).decode()

    def same_as_live(text: str, what: str) -> None:
        try:
            eventually(lambda: live() == text, 60, what=what)
        except AssertionError:
            assert live() == text  # shows the difference

    operator, _ = start_operator(plane, tmp_path, app_namespaces)
    try:
        text = offline()
        rules = _rule_sets(yaml.safe_load(text))
        ns = f'namespace="{shop}"'
        assert rules == [  # by upstream Service id: the data namespace's postgres first
            (
                frozenset({'severity="critical"', 'service="postgres"', f'namespace="{data}"'}),
                frozenset({'service=~"api|frontend"', ns}),
            ),
            (
                frozenset({'severity="critical"', 'service="api"', ns}),
                frozenset({'service="frontend"', ns}),
            ),
            (
                frozenset({'severity="critical"', 'service="redis"', ns}),
                frozenset({'service=~"api|frontend"', ns}),
            ),
        ]  # the tenant's two rules are the cluster-wide policy's last two, written once; no log agent
        same_as_live(text, "the operator's Secret equals the offline render")

        def generated() -> int | None:
            status = plane.kubectl("-n", shop, "get", "suppressionpolicy", "dependencies", "-o", "json").stdout
            return int(yaml.safe_load(status).get("status", {}).get("generatedInhibitRules") or 0) or None

        assert eventually(generated, 30, what="the tenant policy's own count") == 2

        # The application changes: a mobile app calls the api. Applied to the cluster (followed
        # incrementally by discovery) and added to the manifests (built whole offline).
        mobile = [
            service("mobile", shop),
            workload("mobile", shop, env=[{"name": "API_URL", "value": "http://api:8080"}]),
        ]
        (manifests / "mobile.yaml").write_text(yaml.safe_dump_all(mobile))
        plane.kubectl("apply", "-f", str(manifests / "mobile.yaml"))
        changed = offline()
        assert 'service=~"api|frontend|mobile"' in changed and changed != text
        same_as_live(changed, "the operator's Secret follows the change as the offline render does")
    finally:
        operator.stop()
