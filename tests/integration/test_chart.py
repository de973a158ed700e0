"""The Helm chart with the real helm and API server: it lints, renders valid objects, and its RBAC is
enough for the operator and a sidecar to run the whole rules pipeline under their ServiceAccounts,
and no more than that (in namespaced mode: Roles in the watched namespace, Secrets there alone).
tests/integration/test_least_privilege.py runs the whole demo under the installed chart's identities."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from kubernetes import client

from alertagent.devstack.agents import eventually, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import RuleTarget
from tests.conftest import extra_namespaces
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
    assert rbac == [  # namespaced mode: namespaced Roles only, but for Namespaces (list, watch)
        ("ClusterRole", "aa-alertagent", ""),
        ("ClusterRoleBinding", "aa-alertagent", ""),
        ("Role", "aa-alertagent", ns),  # the operator, in the watched namespace
        ("Role", "aa-alertagent-gateway", ns),  # the gateway's incident engine: its Leases and the service graph
        ("Role", "aa-alertagent-gateway-analysis", ns),  # the gateway's incident analysis: read-only lists
        ("Role", "aa-alertagent-gateway-incidents", ns),  # the gateway's Incidents, in the watched namespace
        ("Role", "aa-alertagent-release", ns),  # the leader-election Lease, by name
        ("Role", "aa-alertagent-sidecar-prometheus", ns),  # the sidecar's ConfigMaps
        ("RoleBinding", "aa-alertagent", ns),
        ("RoleBinding", "aa-alertagent-gateway", ns),
        ("RoleBinding", "aa-alertagent-gateway-analysis", ns),
        ("RoleBinding", "aa-alertagent-gateway-incidents", ns),
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
    installed = _helm(
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
        # NOTES.txt says which label the self-monitoring AlertRule carries and which cluster selects it.
        assert "alertagent.io/cluster: main" in installed.stdout and "NotSelected" in installed.stdout
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
        # The quick start's cluster (examples/basic): it selects AlertRules labelled alertagent.io/cluster=main.
        example = yaml.safe_load((CHART.parents[1] / "examples" / "basic" / "10-alertmanagercluster.yaml").read_text())
        cluster = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {
                "alertmanager": {"url": "http://127.0.0.1:9"},
                "ruleEvaluators": [evaluator],
                "selectors": example["spec"]["selectors"],
            },
        }
        rule = alert_rule("rbac", {"alert": "Rbac", "expr": "vector(1)"})
        rule["metadata"]["labels"] = {"alertagent.io/cluster": "main"}
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

            def synced(name: str) -> bool:
                out = plane.kubectl("-n", namespace, "get", "alertrule", name, "-o", "json").stdout
                return (json.loads(out).get("status") or {}).get("synced") == "1/1"

            eventually(lambda: synced("rbac"), 60, what="synced under the chart's ServiceAccounts")
            assert rules_in(prometheus, f"{namespace}_rbac.yaml") == {"rbac.rules": ["Rbac"]}
            # With default values the self-monitoring AlertRule reaches the quick start's cluster too.
            selfmonitoring = f"{release}-alertagent-selfmonitoring"
            eventually(lambda: synced(selfmonitoring), 60, what="the self-monitoring AlertRule synced")
            loaded = rules_in(prometheus, f"{namespace}_{selfmonitoring}.yaml")
            assert "Watchdog" in loaded["alertagent.watchdog"], loaded
            assert "forbidden" not in (tmp_path / f"{operator.name}.log").read_text().lower()
        finally:
            operator.stop()
            sidecar.stop()
    finally:
        _helm(plane, "uninstall", release, "-n", namespace)


def test_namespaced_mode_narrows_the_release_namespace_and_the_gateway(
    installed_crds: ControlPlane, api_client: client.ApiClient, namespace: str
) -> None:
    """The release namespace outside watchNamespaces: there the operator writes only the service graph's
    ConfigMaps (by name); the gateway's Incidents and analysis reads are Roles in the watched namespace."""
    plane, release, watched = installed_crds, f"nr{namespace[-6:]}", f"{namespace[:50]}-w"
    with extra_namespaces(api_client, (watched,)):
        _helm(
            plane,
            *("install", release, str(CHART), "-n", namespace, "--skip-crds", "--wait=false"),
            *("--set", f"watchNamespaces[0]={watched}", "--set", "gateway.enabled=true"),
            *("--set", "discovery.graphParts=2"),
        )
        try:

            def can(who: str, verb: str, resource: str, where: str) -> str:
                subject = f"system:serviceaccount:{namespace}:{release}-alertagent{who}"
                ask = ("auth", "can-i", verb, resource, "-n", where, "--as", subject)
                return str(plane.kubectl(*ask, check=False).stdout.strip())

            expectations = [  # (who, verb, resource, where, answer)
                ("", "patch", "configmaps/alertagent-service-graph", namespace, "yes"),
                ("", "delete", "configmaps/alertagent-service-graph-1", namespace, "yes"),
                ("", "get", "configmaps/alertagent-service-graph-1", namespace, "yes"),
                ("", "delete", "configmaps/alertagent-service-graph-2", namespace, "no"),  # graphParts 2
                ("", "patch", "configmaps/someone-elses", namespace, "no"),
                ("", "delete", "configmaps/someone-elses", namespace, "no"),
                ("", "get", "configmaps/someone-elses", namespace, "no"),
                ("", "list", "configmaps", namespace, "yes"),  # by label: cannot be narrowed by name
                ("", "create", "configmaps", namespace, "yes"),
                ("", "watch", "configmaps", namespace, "no"),
                ("", "patch", "configmaps/someone-elses", watched, "yes"),  # rule shards: any name
                ("-gateway", "list", "incidents.alertagent.io", watched, "yes"),
                ("-gateway", "create", "incidents.alertagent.io", watched, "yes"),
                ("-gateway", "list", "incidents.alertagent.io", namespace, "no"),
                ("-gateway", "list", "incidents.alertagent.io", "default", "no"),
                ("-gateway", "list", "pods", watched, "yes"),
                ("-gateway", "list", "pods", namespace, "no"),
                ("-gateway", "list", "deployments.apps", "default", "no"),
                ("-gateway", "get", "configmaps/alertagent-service-graph-1", namespace, "yes"),
                ("-gateway", "get", "configmaps/alertagent-service-graph-2", namespace, "no"),
            ]
            answers = [(w, v, r, n, can(w, v, r, n)) for w, v, r, n, _ in expectations]
            assert answers == expectations
            for who in ("", "-gateway"):
                subject = f"system:serviceaccount:{namespace}:{release}-alertagent{who}"
                for resource in ("incidents.alertagent.io", "pods", "configmaps"):
                    ask = ("auth", "can-i", "list", resource, "-A", "--as", subject)
                    assert plane.kubectl(*ask, check=False).stdout.strip() == "no", (who, resource)
        finally:
            _helm(plane, "uninstall", release, "-n", namespace)
