"""Issue 11 on the real targets: one tenant's object that Prometheus, vmalert or Alertmanager would
refuse sits next to another tenant's valid change; the valid change is loaded while the bad object is
reported on itself (Ready=False with the target's reason), never holding the others back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.processes import Process

API = "alertagent.io/v1alpha1"


@dataclass
class Tenants:
    plane: ControlPlane
    cluster_ns: str
    a: str
    b: str
    prometheus: RuleTarget
    vmalert: RuleTarget
    alertmanager: AlertmanagerTarget

    def apply(self, *objects: dict[str, Any]) -> None:
        self.plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))

    def status(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        out = self.plane.kubectl("-n", namespace, "get", kind, name, "-o", "json").stdout
        return json.loads(out).get("status") or {}

    def not_ready(self, kind: str, namespace: str, name: str) -> str:
        """The Ready=False message of an object, once it has one."""

        def message() -> str | None:
            conditions = self.status(kind, namespace, name).get("conditions") or [{}]
            return conditions[0].get("message") if conditions[0].get("status") == "False" else None

        return str(eventually(message, 45, what=f"{kind} {namespace}/{name} reported not ready"))


@pytest.fixture
def tenants(
    installed_crds: ControlPlane,
    api_client: client.ApiClient,
    namespace: str,
    prometheus: RuleTarget,
    vmalert: RuleTarget,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> Iterator[Tenants]:
    core = client.CoreV1Api(api_client)
    a, b = f"{namespace[:50]}-a", f"{namespace[:50]}-b"
    for name in (a, b):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    cluster = {
        "apiVersion": API,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": namespace},
        "spec": {
            "alertmanager": {"url": alertmanager.url},
            "ruleEvaluators": [
                {"name": "prometheus", "type": "prometheus", "url": prometheus.url},
                {"name": "vmalert", "type": "vmalert", "url": vmalert.url},
            ],
        },
    }
    installed_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    processes: list[Process] = []
    try:
        processes.append(start_operator(installed_crds, tmp_path, (namespace, a, b))[0])
        for target in (prometheus, vmalert):
            processes.append(
                start_sidecar(installed_crds, tmp_path, namespace, "main", target.name, target.rules_dir, target.url)[0]
            )
        processes.append(
            start_alertmanager_sidecar(
                installed_crds,
                tmp_path,
                namespace,
                "main-alertmanager-config",
                alertmanager.config_path,
                alertmanager.url,
            )[0]
        )
        yield Tenants(installed_crds, namespace, a, b, prometheus, vmalert, alertmanager)
    finally:
        for process in processes:
            process.stop()
        for name in (a, b):
            core.delete_namespace(name)


def alert_rule(namespace: str, name: str, group: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "AlertRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"groups": [group]},
    }


def loaded_rules(target: RuleTarget, file_name: str) -> list[str]:
    groups = httpx.get(f"{target.url}/api/v1/rules", timeout=5).json()["data"]["groups"] or []
    return [r["name"] for g in groups if Path(g["file"]).name == file_name for r in g["rules"]]


def test_rules_the_targets_refuse_stay_out_while_another_tenants_rule_loads(tenants: Tenants) -> None:
    a, b = tenants.a, tenants.b
    typo = {"alert": "Typo", "expr": "vector(1)", "annotations": {"summary": "{{ $label.instance }} is down"}}
    offset = {"name": "offset", "query_offset": "1m", "rules": [{"alert": "Offset", "expr": "vector(1)"}]}
    good = {"name": "good", "rules": [{"alert": "Good", "expr": "vector(1)"}]}
    tenants.apply(
        alert_rule(a, "typo", {"name": "typo", "rules": [typo]}),
        alert_rule(a, "offset", offset),
        alert_rule(b, "good", good),
    )
    for target in (tenants.prometheus, tenants.vmalert):
        eventually(
            lambda t=target: loaded_rules(t, f"{b}_good.yaml") == ["Good"], 45, what=f"{target.name} loaded b's rule"
        )
    assert 'undefined variable "$label"' in tenants.not_ready("alertrule", a, "typo")
    message = tenants.not_ready("alertrule", a, "offset")
    assert "query_offset" in message and "vmalert" in message  # refused for the evaluator that lacks it
    for target in (tenants.prometheus, tenants.vmalert):
        assert loaded_rules(target, f"{a}_typo.yaml") == [] and loaded_rules(target, f"{a}_offset.yaml") == []


def test_metricsql_is_loaded_by_vmalert_and_refused_for_prometheus_alone(tenants: Tenants) -> None:
    b = tenants.b
    mql = {"name": "mql", "rules": [{"alert": "NoWindow", "expr": "rate(http_requests_total) > 0"}]}  # MetricsQL
    tenants.apply(alert_rule(b, "mql", mql))
    eventually(lambda: loaded_rules(tenants.vmalert, f"{b}_mql.yaml") == ["NoWindow"], 45, what="vmalert loaded it")

    def targets() -> dict[str, dict[str, Any]] | None:
        found = {t["evaluator"]: t for t in tenants.status("alertrule", b, "mql").get("targets") or []}
        return found if found.keys() == {"prometheus", "vmalert"} and found["vmalert"]["state"] == "Synced" else None

    by_evaluator = eventually(targets, 45, what="both targets reported")
    assert by_evaluator["prometheus"]["state"] == "Failed"
    assert "promtool check rules" in by_evaluator["prometheus"]["message"]  # the target's own verdict
    assert "expected type range vector" in by_evaluator["prometheus"]["message"]
    assert tenants.status("alertrule", b, "mql")["validationErrors"] == []  # valid MetricsQL: not an error
    assert loaded_rules(tenants.prometheus, f"{b}_mql.yaml") == []


def test_channels_and_policies_alertmanager_refuses_stay_out_while_another_tenants_channel_loads(
    tenants: Tenants,
) -> None:
    a, b = tenants.a, tenants.b

    def channel(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": API,
            "kind": "NotificationChannel",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    lookahead = [{"name": "alertname", "value": "^(?!Watchdog|InfoInhibitor).*", "matchType": "=~"}]
    tenants.apply(
        channel(a, "slack", {"type": "slack", "slack": {"channel": "#ops"}, "route": {}}),
        channel(
            a, "perl", {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/a"}, "route": {"matchers": lookahead}}
        ),
        {
            "apiVersion": API,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "beijing", "namespace": a},
            "spec": {
                "matchers": [{"name": "service", "value": "api"}],
                "maintenanceWindows": [{"name": "nightly", "recurring": {"location": "Asia/Beijing"}}],
            },
        },
        channel(b, "hooks", {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/b"}, "route": {}}),
    )
    eventually(
        lambda: f"{b}/hooks" in tenants.alertmanager.status()["config"]["original"], 45, what="b's channel loaded"
    )
    assert "no global Slack API URL set" in tenants.not_ready("nc", a, "slack")
    assert "invalid or unsupported Perl syntax" in tenants.not_ready("nc", a, "perl")
    assert "unknown time zone Asia/Beijing" in tenants.not_ready("sp", a, "beijing")
    original = tenants.alertmanager.status()["config"]["original"]
    assert f"{a}/slack" not in original and f"{a}/perl" not in original and "Asia/Beijing" not in original
    cluster = tenants.status("amc", tenants.cluster_ns, "main")
    assert cluster["lastError"] == "" and cluster["conditions"][0]["status"] == "True"
