"""The Helm chart with the real helm and API server: it lints, renders valid objects, and its RBAC is
enough for the operator and a sidecar to run the whole rules pipeline under their ServiceAccounts,
and no more than that (in namespaced mode: Roles in the watched namespace, Secrets there alone).
tests/integration/test_least_privilege.py runs the whole demo under the installed chart's identities."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from alertagent.devstack.agents import eventually, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import RuleTarget
from tests.integration.test_rules_pipeline import alert_rule, rules_in

from .scenario import CHART
from .scenario import helm as _helm

RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount")


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
        "webhook.certificates=secret",
        "--set",
        "webhook.secretName=aa-tls",
        "--set",
        "gateway.enabled=true",
        "--set",
        "gateway.channelsSecrets[0]=main-gateway-channels",
        "--set",
        "gateway.persistence.enabled=true",
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    rbac = sorted(
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace", "")) for d in docs if d["kind"] in RBAC_KINDS
    )
    ns = namespace
    assert rbac == [
        ("ClusterRole", "aa-alertagent", ""),  # namespaced mode: Namespaces (list, watch) alone
        ("ClusterRole", "aa-alertagent-gateway", ""),  # the gateway's incident engine: Incidents
        ("ClusterRole", "aa-alertagent-gateway-analysis", ""),  # the gateway's incident analysis: read-only lists
        ("ClusterRoleBinding", "aa-alertagent", ""),
        ("ClusterRoleBinding", "aa-alertagent-gateway", ""),
        ("ClusterRoleBinding", "aa-alertagent-gateway-analysis", ""),
        ("Role", "aa-alertagent", ns),  # the operator, in the watched namespace
        ("Role", "aa-alertagent-gateway", ns),  # the gateway's incident engine: its Leases and the service graph
        ("Role", "aa-alertagent-release", ns),  # the leader-election Lease, by name
        ("Role", "aa-alertagent-sidecar-prometheus", ns),  # the sidecar's ConfigMaps
        ("RoleBinding", "aa-alertagent", ns),
        ("RoleBinding", "aa-alertagent-gateway", ns),
        ("RoleBinding", "aa-alertagent-release", ns),
        ("RoleBinding", "aa-alertagent-sidecar-prometheus", ns),
        ("ServiceAccount", "aa-alertagent", ns),
        ("ServiceAccount", "aa-alertagent-gateway", ns),  # the gateway's
    ]
    (cluster_role,) = [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "aa-alertagent"]
    assert cluster_role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]
    assert not any("validatingwebhookconfigurations" in str(d.get("rules")) for d in docs)
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
        expectations = [  # (verb, resource, in the watched namespace, in another)
            ("get", "secrets", "yes", "no"),
            ("list", "secrets", "yes", "no"),  # the Secret watch, in the watched namespace only
            ("watch", "secrets", "yes", "no"),
            ("create", "secrets", "yes", "no"),
            ("delete", "secrets", "no", "no"),
            ("list", "configmaps", "yes", "no"),
            ("create", "pods", "no", "no"),
            ("patch", "alertrules.alertagent.io/status", "yes", "no"),
            ("patch", "alertrules.alertagent.io", "no", "no"),  # Kopf writes nothing on AlertRules
            ("update", "notificationchannels.alertagent.io", "no", "no"),
            ("patch", "suppressionpolicies.alertagent.io", "no", "no"),
            ("patch", "alertmanagerclusters.alertagent.io", "yes", "no"),  # Kopf's finalizer
            ("delete", "alertrules.alertagent.io", "no", "no"),
            ("watch", "services", "yes", "no"),
            ("get", "services", "no", "no"),  # Kopf lists and watches, never gets
            ("list", "ingresses.networking.k8s.io", "yes", "no"),
            ("watch", "deployments.apps", "yes", "no"),
            ("list", "statefulsets.apps", "yes", "no"),
            ("watch", "daemonsets.apps", "yes", "no"),
            ("watch", "replicasets.apps", "no", "no"),
            ("list", "jobs.batch", "yes", "no"),
            ("watch", "cronjobs.batch", "yes", "no"),
            ("watch", "networkpolicies.networking.k8s.io", "yes", "no"),
            ("patch", "networkpolicies.networking.k8s.io", "no", "no"),
            ("patch", "deployments.apps", "no", "no"),
            ("delete", "services", "no", "no"),
            ("list", "namespaces", "yes", "yes"),  # cluster-scoped: the one ClusterRole
            ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", "no", "no"),
        ]
        for verb, resource, here, elsewhere in expectations:
            for where, expected in ((namespace, here), ("default", elsewhere)):
                kind, _, sub = resource.partition("/")  # `kind/x` would ask about the object named x
                ask = ("auth", "can-i", verb, kind, f"--subresource={sub}", "-n", where, "--as", operator_sa)
                answer = plane.kubectl(*ask, check=False).stdout.strip()
                assert answer == expected, (verb, resource, where, answer)
        for verb in ("get", "list"):  # nothing cluster-wide but Namespaces
            ask = ("auth", "can-i", verb, "secrets", "-A", "--as", operator_sa)
            assert plane.kubectl(*ask, check=False).stdout.strip() == "no"
        lease = ("auth", "can-i", "update", f"leases.coordination.k8s.io/{release}-alertagent", "-n", namespace)
        assert plane.kubectl(*lease, "--as", operator_sa).stdout.strip() == "yes"
        other = ("auth", "can-i", "update", "leases.coordination.k8s.io/other", "-n", namespace, "--as", operator_sa)
        assert plane.kubectl(*other, check=False).stdout.strip() == "no"
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
