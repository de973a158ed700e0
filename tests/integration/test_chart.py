"""The Helm chart with the real helm and API server: it lints, renders valid objects, and its RBAC is
enough for the operator and a sidecar to run the whole rules pipeline under their ServiceAccounts,
and no more than that (Secrets only by name, never listed or watched)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from alertagent.devstack.agents import eventually, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane, binary
from alertagent.devstack.monitoring import RuleTarget
from tests.integration.test_rules_pipeline import alert_rule, rules_in

CHART = Path(__file__).resolve().parents[2] / "charts" / "alertagent"


def _helm(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [binary("helm"), f"--kubeconfig={plane.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_chart_lints_and_renders_objects_the_api_server_accepts(installed_crds: ControlPlane, namespace: str) -> None:
    _helm(installed_crds, "lint", str(CHART), "--strict")
    rendered = _helm(
        installed_crds,
        "template",
        "aa",
        str(CHART),
        "-n",
        namespace,
        "--kube-version",
        "1.34.4",
        "--set",
        f"sidecarServiceAccounts[0].namespace={namespace}",
        "--set",
        "sidecarServiceAccounts[0].name=prometheus",
        "--set",
        f"watchNamespaces[0]={namespace}",
        "--set",
        "webhook.enabled=true",
        "--set",
        "webhook.tlsSecretName=aa-tls",
        "--set",
        "gateway.enabled=true",
        "--set",
        "gateway.channelsSecrets[0]=main-gateway-channels",
        "--set",
        "gateway.persistence.enabled=true",
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert kinds == [
        "ClusterRole",
        "ClusterRole",  # the gateway's incident engine: Incidents
        "ClusterRole",  # the gateway's incident analysis: read-only lists
        "ClusterRoleBinding",
        "ClusterRoleBinding",
        "ClusterRoleBinding",
        "Deployment",
        "Deployment",  # the gateway
        "PersistentVolumeClaim",  # the gateway's queue
        "Role",  # the gateway's incident engine: its Leases and the service graph
        "Role",  # the sidecar's ConfigMaps
        "Role",  # the Secret watch, in the watched namespace
        "RoleBinding",
        "RoleBinding",
        "RoleBinding",
        "Service",
        "Service",  # the gateway
        "ServiceAccount",
        "ServiceAccount",  # the gateway's
    ]
    installed_crds.kubectl("-n", namespace, "apply", "--dry-run=server", "-f", "-", input=rendered)


def test_chart_rbac_runs_the_pipeline_and_denies_secrets(
    installed_crds: ControlPlane, namespace: str, prometheus: RuleTarget, tmp_path: Path
) -> None:
    plane = installed_crds
    plane.kubectl("-n", namespace, "create", "serviceaccount", "prometheus")
    release = f"aa-{namespace[-6:]}"
    sidecar_values = [f"sidecarServiceAccounts[0].namespace={namespace}", "sidecarServiceAccounts[0].name=prometheus"]
    _helm(
        plane,
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--skip-crds",
        "--wait=false",
        "--set",
        sidecar_values[0],
        "--set",
        sidecar_values[1],
        "--set",
        f"watchNamespaces[0]={namespace}",  # namespaced mode: Secrets listed and watched in it alone
    )
    try:
        operator_sa = f"system:serviceaccount:{namespace}:{release}-alertagent"
        expectations = [
            ("get", "secrets", "yes"),
            ("list", "secrets", "no"),  # -A: not cluster-wide (in the watched namespace, below)
            ("watch", "secrets", "no"),
            ("list", "configmaps", "yes"),
            ("create", "pods", "no"),
            ("patch", "alertrules.alertagent.io/status", "yes"),
            ("delete", "alertrules.alertagent.io", "no"),
            ("watch", "services", "yes"),
            ("list", "ingresses.networking.k8s.io", "yes"),
            ("watch", "deployments.apps", "yes"),
            ("list", "statefulsets.apps", "yes"),
            ("watch", "daemonsets.apps", "yes"),
            ("watch", "replicasets.apps", "no"),
            ("list", "jobs.batch", "yes"),
            ("watch", "cronjobs.batch", "yes"),
            ("watch", "networkpolicies.networking.k8s.io", "yes"),
            ("patch", "networkpolicies.networking.k8s.io", "no"),
            ("patch", "deployments.apps", "no"),
            ("delete", "services", "no"),
        ]
        for verb, resource, expected in expectations:
            answer = plane.kubectl(
                "auth", "can-i", verb, resource, "-A", "--as", operator_sa, check=False
            ).stdout.strip()
            assert answer == expected, (verb, resource, answer)
        for verb in ("list", "watch"):  # the Secret watch, in the watched namespace only
            ask = ("auth", "can-i", verb, "secrets", "--as", operator_sa)
            assert plane.kubectl(*ask, "-n", namespace).stdout.strip() == "yes"
            assert plane.kubectl(*ask, "-n", "default", check=False).stdout.strip() == "no"
        sidecar_sa = f"system:serviceaccount:{namespace}:prometheus"
        assert (
            plane.kubectl("auth", "can-i", "patch", "configmaps", "-n", namespace, "--as", sidecar_sa).stdout.strip()
            == "yes"
        )
        assert (
            plane.kubectl(
                "auth", "can-i", "list", "configmaps", "-n", "default", "--as", sidecar_sa, check=False
            ).stdout.strip()
            == "no"
        )

        evaluator = {"name": "prometheus", "type": "prometheus", "url": prometheus.url}
        cluster = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": "http://127.0.0.1:9"}, "ruleEvaluators": [evaluator]},
        }
        rule = alert_rule("rbac", {"alert": "Rbac", "expr": "vector(1)"})
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all([cluster, rule]))
        operator_config = plane.service_account_kubeconfig(namespace, f"{release}-alertagent")
        sidecar_config = plane.service_account_kubeconfig(namespace, "prometheus")
        operator, _ = start_operator(plane, tmp_path, namespace, kubeconfig=operator_config)
        sidecar, _ = start_sidecar(
            plane,
            tmp_path,
            namespace,
            "main",
            "prometheus",
            prometheus.rules_dir,
            prometheus.url,
            kubeconfig=sidecar_config,
        )
        try:

            def synced() -> bool:
                out = plane.kubectl("-n", namespace, "get", "alertrule", "rbac", "-o", "json").stdout
                return (json.loads(out).get("status") or {}).get("synced") == "1/1"

            eventually(synced, 60, what="synced under the chart's ServiceAccounts")
            assert rules_in(prometheus, f"{namespace}_rbac.yaml") == {"rbac.rules": ["Rbac"]}
            assert "forbidden" not in (tmp_path / f"{operator.name}.log").read_text().lower()
        finally:
            operator.stop()
            sidecar.stop()
    finally:
        _helm(plane, "uninstall", release, "-n", namespace)
