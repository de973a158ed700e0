"""Tenancy on the real test bed (issue 12 items 1 and 7): alerts fired by a real Prometheus from a
tenant's AlertRules reach that tenant's channels on the real Alertmanager and no other tenant's, even
when a rule claims another namespace; recorded series carry the tenant too; and an AlertRule over the
cluster's limits is refused alone, with the reason in its status, while its neighbour syncs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.receivers import webhook_receiver

GROUP = "alertagent.io/v1alpha1"


def _cluster(namespace: str, alertmanager: AlertmanagerTarget, prometheus: RuleTarget, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": namespace},
        "spec": {
            "alertmanager": {"url": alertmanager.url},
            "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus.url}],
            "route": {"groupWait": "1s", "groupInterval": "1s"},
            **spec,
        },
    }


def _alert_rule(namespace: str, name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "AlertRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"groups": [{"name": f"{name}.rules", "rules": list(rules)}]},
    }


def test_a_tenants_alerts_reach_its_own_channel_even_when_a_rule_claims_another_namespace(
    installed_crds: ControlPlane,
    namespace: str,
    tenant_namespaces: tuple[str, str],
    alerting_prometheus: RuleTarget,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    plane, (ns_a, ns_b), prometheus = installed_crds, tenant_namespaces, alerting_prometheus
    with webhook_receiver() as (url, received):

        def channel(ns: str, path: str) -> dict[str, Any]:
            return {
                "apiVersion": GROUP,
                "kind": "NotificationChannel",
                "metadata": {"name": "pager", "namespace": ns},
                "spec": {
                    "type": "webhook",
                    "webhook": {"url": f"{url}/{path}"},
                    "route": {"matchers": [{"name": "severity", "value": "page"}]},
                },
            }

        setup = [_cluster(namespace, alertmanager, prometheus), channel(ns_a, "a"), channel(ns_b, "b")]
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(setup))
        operator, _ = start_operator(plane, tmp_path, (namespace, ns_a, ns_b))
        sidecars = [
            start_sidecar(plane, tmp_path, namespace, "main", "prometheus", prometheus.rules_dir, prometheus.url)[0],
            start_alertmanager_sidecar(
                plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
            )[0],
        ]
        try:
            # Channels first, so no alert meets an Alertmanager without its tenants' routes.
            eventually(lambda: f"{ns_b}/pager" in alertmanager.status()["config"]["original"], 30, what="routes")
            rules = [
                _alert_rule(
                    ns_a,
                    "team",
                    {"alert": "OwnAlert", "expr": "vector(1) > 0", "labels": {"severity": "page"}},
                    {"alert": "ClaimsB", "expr": "vector(1) > 0", "labels": {"severity": "page", "namespace": ns_b}},
                    {"record": "tenant:probe:value", "expr": "vector(1)", "labels": {"namespace": ns_b}},
                ),
                _alert_rule(ns_b, "team", {"alert": "BOwn", "expr": "vector(1) > 0", "labels": {"severity": "page"}}),
            ]
            plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rules))

            def names(path: str) -> set[str]:
                return {a["labels"]["alertname"] for a in received.alerts(path)}

            eventually(lambda: {"OwnAlert", "ClaimsB"} <= names("/a"), 60, what="a's alerts at a's channel")
            eventually(lambda: "BOwn" in names("/b"), 60, what="b's alert at b's channel")
            time.sleep(4)  # several group intervals: a misrouted alert would have arrived by now
            assert names("/a") == {"OwnAlert", "ClaimsB"}
            assert names("/b") == {"BOwn"}  # a's claim on b's namespace pages nobody in b
            assert {a["labels"]["namespace"] for a in received.alerts("/a")} == {ns_a}

            def recorded() -> list[dict[str, Any]]:
                query = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": "tenant:probe:value"}, timeout=5)
                return query.json()["data"]["result"]  # type: ignore[no-any-return]

            series = eventually(recorded, 30, what="the recorded series")
            assert [s["metric"]["namespace"] for s in series] == [ns_a]  # recorded series are a's too
        finally:
            for proc in [operator, *sidecars]:
                proc.stop()


def test_an_alert_rule_over_the_limits_is_refused_alone_with_the_reason_in_its_status(
    installed_crds: ControlPlane,
    namespace: str,
    tenant_namespaces: tuple[str, str],
    prometheus: RuleTarget,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    plane, (ns_a, _) = installed_crds, tenant_namespaces
    limits = {"rulesPerAlertRule": 5, "rulesPerNamespace": 8}
    rule = {"alert": "A", "expr": "vector(1) > 0"}
    objects = [
        _cluster(namespace, alertmanager, prometheus, tenancy={"limits": limits}),
        _alert_rule(ns_a, "fine", *[{**rule, "alert": f"Fine{i}"} for i in range(5)]),
        _alert_rule(ns_a, "too-many", *[{**rule, "alert": f"Many{i}"} for i in range(6)]),
    ]
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, (namespace, ns_a))
    sidecar, _ = start_sidecar(plane, tmp_path, namespace, "main", "prometheus", prometheus.rules_dir, prometheus.url)

    def status(name: str) -> dict[str, Any]:
        raw = plane.kubectl("-n", ns_a, "get", "alertrule", name, "-o", "json").stdout
        return json.loads(raw).get("status") or {}

    def ready(name: str) -> dict[str, Any]:
        return next((c for c in status(name).get("conditions") or [] if c["type"] == "Ready"), {})

    try:
        eventually(lambda: ready("fine").get("status") == "True", 45, what="fine synced")
        refused = eventually(lambda: ready("too-many").get("reason") == "SyncFailed" and ready("too-many"), 45)
        assert refused["status"] == "False"
        assert (
            "6 rules, over the limit of 5 rules per AlertRule of cluster "
            f"{namespace}/main (spec.tenancy.limits.rulesPerAlertRule)" in refused["message"]
        )
        loaded = {g["name"] for g in httpx.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]}
        assert loaded == {"fine.rules"}
        # A newcomer that would pass the namespace's limit is refused; the live one keeps its place.
        newcomer = _alert_rule(ns_a, "newcomer", *[{**rule, "alert": f"New{i}"} for i in range(4)])
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(newcomer))
        late = eventually(lambda: ready("newcomer").get("reason") == "SyncFailed" and ready("newcomer"), 45)
        assert "spec.tenancy.limits.rulesPerNamespace" in late["message"]
        assert ready("fine").get("status") == "True"
    finally:
        operator.stop()
        sidecar.stop()
