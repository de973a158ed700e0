"""Least privilege, proven on the real test bed: `helm install` the chart into the real API server,
take TokenRequest tokens of the chart's ServiceAccounts (the operator's, the gateway's, a Prometheus
sidecar's and an Alertmanager sidecar's), and run those processes locally with those tokens alone
(no kubelet: the chart's pods never run). The demo's scenario then works end to end: a bad rollout
of `database` crash-loops its pod, DatabaseDown and the api's alert fire, dependency suppression
(the operator's discovery found api -> database) inhibits the api's, and the gateway's incident
engine makes one Incident whose one DingTalk message carries the built-in analysis (read under the
gateway's read-only analysis role).

The same tokens are then refused (403) what they must not do: writing the spec of AlertRules,
NotificationChannels and SuppressionPolicies (Kopf needs no annotation or finalizer on them), Secrets
outside what each one reads by name, workloads; in namespaced mode the operator reads nothing outside
its namespaces (Namespaces themselves excepted, see the chart's rbac.yaml), and neither does the
gateway (Roles in the watched namespaces; it lists Incidents in each, as the chart's environment tells
it). Kopf's finalizer on the AlertmanagerCluster is removed under the operator's identity when the
cluster is deleted."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from alertagent.devstack.agents import (
    BIN,
    eventually,
    start_alertmanager_sidecar,
    start_gateway,
    start_operator,
    start_sidecar,
)
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.mounts import SecretMount
from alertagent.devstack.processes import Process, free_port
from alertagent.devstack.robots import Robot, running
from tests.conftest import extra_namespaces

from .scenario import Identity, helm, installed_chart
from .test_analysis import analysed, bad_rollout, outage
from .test_rules_pipeline import alert_rule, rules_in

GROUP_PATH = "/apis/alertagent.io/v1alpha1"
SPEC_ONLY = ("alertrules", "notificationchannels", "suppressionpolicies")  # Kopf writes nothing on these


def _objects(
    namespace: str, robot: Robot, alertmanager: AlertmanagerTarget, prometheus: RuleTarget, gateway: str
) -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "oncall-dingtalk", "labels": {"alertagent.io/watch": "true"}},
        "stringData": {"webhook-url": robot.url},
    }
    cluster = {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {
            "alertmanager": {"url": alertmanager.url},
            "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus.url}],
            "gateway": {"url": gateway},
            # The hold outlasts a loaded machine's polls: the first message already has the api in it.
            # (With 4s, the api joined 1.6 s before the release on an idle machine; under CI's load
            # the release could come first, and the incident's update was a second message.)
            "incidents": {"hold": "8s", "pollInterval": "1s", "updateInterval": "2s"},
            "selectors": {"alertRules": {"labelSelector": {"matchLabels": {"alertagent.io/cluster": "main"}}}},
        },
    }
    channel = {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "NotificationChannel",
        "metadata": {"name": "oncall"},
        "spec": {
            "type": "dingtalk",
            "dingtalk": {"webhookUrl": {"name": "oncall-dingtalk", "key": "webhook-url"}, "language": "en"},
            "route": {
                "matchers": [{"name": "severity", "value": "critical"}],
                "groupBy": ["alertname", "service"],
                "groupWait": "1s",
            },
        },
    }
    policy = {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "SuppressionPolicy",
        "metadata": {"name": "dependencies"},
        "spec": {"dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}]}},
    }
    rule = alert_rule("probe", {"alert": "Probe", "expr": "vector(1)"})
    rule["metadata"]["labels"] = {"alertagent.io/cluster": "main"}
    return yaml.safe_dump_all([secret, cluster, channel, policy, rule])


def _denied(who: Identity, method: str, path: str, body: Any = None) -> None:
    status = who.status(method, path, body)
    assert status == 403, f"{who.name}: {method} {path} answered {status}, not 403"


def _allowed(who: Identity, method: str, path: str, body: Any = None) -> None:
    status = who.status(method, path, body)
    assert 200 <= status < 300, f"{who.name}: {method} {path} answered {status}"


def _object(plane: ControlPlane, namespace: str, plural: str, name: str) -> dict[str, Any]:
    out = plane.kubectl("-n", namespace, "get", f"{plural}.alertagent.io", name, "-o", "json").stdout
    return dict(json.loads(out))


def _leader_election_args(release: str, namespace: str) -> tuple[str, ...]:
    """The interfaces' leader-election flags, when this build's `alertagent run` has them."""
    usage = subprocess.run(
        [str(BIN / "alertagent"), "run", "--help"], capture_output=True, text=True, check=False
    ).stdout
    if "--leader-elect" not in usage:
        return ()
    return ("--leader-elect", "--leader-election-id", f"{release}-alertagent", "--leader-election-namespace", namespace)


def _check_leases(operator: Identity, namespace: str, fullname: str) -> None:
    """The leader-election Lease: created, read and renewed by name; no other Lease."""
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": fullname}, "spec": {}}
    _allowed(operator, "POST", leases, lease)
    _allowed(operator, "GET", f"{leases}/{fullname}")
    current = operator.plane.kubectl("-n", namespace, "get", "lease", fullname, "-o", "json").stdout
    _allowed(operator, "PUT", f"{leases}/{fullname}", json.loads(current))
    _denied(operator, "GET", f"{leases}/someone-elses")
    _denied(operator, "PUT", f"{leases}/someone-elses", {**lease, "metadata": {"name": "someone-elses"}})
    operator.plane.kubectl("-n", namespace, "delete", "lease", fullname)


def _gateway_env(plane: ControlPlane, release: str, namespace: str) -> dict[str, str]:
    """The environment the installed chart gives the gateway's container (literal values only)."""
    manifest = helm(plane, "get", "manifest", release, "-n", namespace).stdout
    (gateway,) = [
        d
        for d in yaml.safe_load_all(manifest)
        if d and d["kind"] == "Deployment" and d["metadata"]["name"] == f"{release}-alertagent-gateway"
    ]
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def _no_denials(*processes: Process) -> None:
    """No request refused by RBAC. (A write into a namespace being deleted is a 403 too, NamespaceTerminating:
    in cluster-wide mode the operator sees an earlier run's namespaces while they go.)"""
    for proc in processes:
        log = proc.log_path.read_text()
        denied = [
            line
            for line in log.splitlines()
            if ("forbidden" in line.lower() or " 403" in line) and "NamespaceTerminating" not in line
        ]
        assert not denied, f"{proc.name}:\n" + "\n".join(denied)[-3000:]
        assert "Traceback" not in log, f"{proc.name}:\n{log[-3000:]}"


@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_the_demo_runs_under_the_charts_serviceaccounts_and_nothing_more(  # noqa: PLR0915 - one story
    installed_crds: ControlPlane,
    api_client: client.ApiClient,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    prometheus: RuleTarget,
    tmp_path: Path,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plane, ns = installed_crds, namespace
    namespaced = mode == "namespaced"
    release = f"lp{ns[-6:]}"
    fullname = f"{release}-alertagent"
    unrelated = f"unrelated-{ns[-6:]}"
    for account in ("prometheus", "alertmanager"):  # the monitoring pods' own ServiceAccounts
        plane.kubectl("-n", ns, "create", "serviceaccount", account)
    values = {
        "watchNamespaces": [ns] if namespaced else [],
        "gateway.enabled": True,
        "gateway.channelsSecrets": ["main-gateway-channels"],
        # Not the label this cluster selects: its always-firing Watchdog would be an Incident of its own.
        "selfMonitoring.labels": {"alertagent.io/cluster": "elsewhere"},
        "sidecarServiceAccounts": [
            {"namespace": ns, "name": "prometheus"},
            {"namespace": ns, "name": "alertmanager", "alertmanagerSecrets": ["main-alertmanager-config"]},
        ],
    }
    started: list[Process] = []
    mounts: list[SecretMount] = []
    with (
        extra_namespaces(api_client, (unrelated,)),
        installed_chart(plane, release, ns, values),
        running(Robot("dingtalk")) as (robot,),
    ):
        plane.kubectl("-n", unrelated, "create", "secret", "generic", "unrelated", "--from-literal=k=v")
        operator = Identity.of(plane, ns, fullname)
        gateway = Identity.of(plane, ns, f"{fullname}-gateway")
        sidecar = Identity.of(plane, ns, "prometheus")
        am_sidecar = Identity.of(plane, ns, "alertmanager")
        _check_leases(operator, ns, fullname)

        pod = bad_rollout(plane, ns)  # the shop: database and api (Deployments, Services), database rolled out
        plane.kubectl("-n", ns, "set", "env", "deployment/api", "DATABASE_URL=http://database:80")  # api -> database
        gateway_port, http_port = free_port(), free_port()
        plane.kubectl(
            "-n",
            ns,
            "apply",
            "-f",
            "-",
            input=_objects(ns, robot, alertmanager, prometheus, f"http://127.0.0.1:{gateway_port}"),
        )
        try:
            begun = time.monotonic()
            channels = tmp_path / "channels"  # the gateway's Secret volume, as the kubelet mounts it
            mounts.append(SecretMount(plane, ns, "main-gateway-channels", channels).start())
            proc, _ = start_operator(
                plane,
                tmp_path,
                ns,
                kubeconfig=operator.kubeconfig,
                http_port=http_port,
                all_namespaces=not namespaced,
                extra_args=_leader_election_args(release, ns),
            )
            started.append(proc)
            # The gateway's environment as the chart sets it (namespaced mode: the namespaces it lists
            # Incidents in); the processes inherit this test's environment.
            env = _gateway_env(plane, release, ns)
            assert ("ALERTAGENT_GATEWAY_NAMESPACES" in env) == namespaced, env
            monkeypatch.delenv("ALERTAGENT_GATEWAY_NAMESPACES", raising=False)
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            args = ("--pod-name", "gw-a", "--pod-namespace", ns, "--kubeconfig", str(gateway.kubeconfig))
            started.append(
                start_gateway(
                    tmp_path, [channels], tmp_path / "queue.db", gateway_port, (*args, "--poll-interval", "0.5")
                )[0]
            )
            started.append(
                start_sidecar(
                    plane, tmp_path, ns, "main", "prometheus", prometheus.rules_dir, prometheus.url, sidecar.kubeconfig
                )[0]
            )
            started.append(
                start_alertmanager_sidecar(
                    plane,
                    tmp_path,
                    ns,
                    "main-alertmanager-config",
                    alertmanager.config_path,
                    alertmanager.url,
                    kubeconfig=am_sidecar.kubeconfig,
                )[0]
            )

            # The rules reach Prometheus; Alertmanager's config (through its sidecar) routes the
            # channel to the gateway and inhibits the api while the database alerts (the graph).
            eventually(lambda: rules_in(prometheus, f"{ns}_probe.yaml") == {"probe.rules": ["Probe"]}, 60, what="rules")

            def configured() -> bool:
                text = alertmanager.config_path.read_text() if alertmanager.config_path.exists() else ""
                return f"/api/v1/alerts/webhook/{ns}/oncall" in text and "database" in text

            eventually(configured, 90, what="Alertmanager configured, with dependency suppression")
            eventually((channels / "channels.json").exists, 30, what="the channels Secret mounted")
            up = time.monotonic() - begun

            outage(alertmanager, prometheus, ns)
            incident = eventually(lambda: analysed(plane, ns, False), 60, interval=0.2, what="the analysed Incident")
            report = incident["status"]["analysis"]["builtin"]
            assert report["root"] == f"{ns}/database"
            assert any(pod in str(w) for w in report["workloads"]), report["workloads"]
            eventually(lambda: any("DatabaseDown" in t for t in robot.texts()), 60, what="the DingTalk message")
            time.sleep(4)  # the api's alert had its chance to come through, inhibited
            texts = robot.texts()
            named = [t for t in texts if "DatabaseDown" in t]
            assert len(named) == 1, named  # one message for the incident, its analysis in it
            (message,) = named
            assert "Analysis" in message and "CrashLoopBackOff" in message, message
            assert not any("ApiErrors" in t and "DatabaseDown" not in t for t in texts), texts
            (only,) = json.loads(plane.kubectl("-n", ns, "get", "incidents", "-o", "json").stdout)["items"]
            print(f"\n{mode}: configured in {up:.1f}s, Incident and message {time.monotonic() - begun - up:.1f}s later")

            # Forbidden: the spec of the kinds Kopf only reads, whatever the verb; deleting any of ours.
            for plural, name in zip(SPEC_ONLY, ("probe", "oncall", "dependencies"), strict=True):
                path = f"{GROUP_PATH}/namespaces/{ns}/{plural}/{name}"
                body = _object(plane, ns, plural, name)
                meta = body["metadata"]
                assert not meta.get("finalizers"), meta  # Kopf put nothing there ...
                assert not any(k.startswith("alertagent.io/") for k in meta.get("annotations") or {}), meta
                _denied(operator, "PATCH", path, {"spec": {}})  # ... and may not
                _denied(operator, "PUT", path, body)
                _denied(operator, "DELETE", path)
                _allowed(operator, "PATCH", f"{path}/status", {"status": {}})
                for other in (gateway, sidecar, am_sidecar):
                    _denied(other, "PATCH", path, {"spec": {}})
            clusters = f"{GROUP_PATH}/namespaces/{ns}/alertmanagerclusters/main"
            assert _object(plane, ns, "alertmanagerclusters", "main")["metadata"]["finalizers"] == [
                "alertagent.io/finalizer"
            ]
            _denied(operator, "DELETE", clusters)
            _denied(operator, "POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "x"}})

            # Secrets: the operator reads by name where it works; nobody lists them cluster-wide but the
            # cluster-wide operator's Secret watch; the gateway and the sidecars read none but their own.
            unrelated_secret = f"/api/v1/namespaces/{unrelated}/secrets/unrelated"
            if namespaced:
                _denied(operator, "GET", unrelated_secret)
                _denied(operator, "GET", "/api/v1/secrets")
                _denied(operator, "GET", f"/api/v1/namespaces/{unrelated}/configmaps")
                _denied(operator, "GET", f"{GROUP_PATH}/alertrules")
                _denied(operator, "GET", f"/apis/apps/v1/namespaces/{unrelated}/deployments")
                _denied(operator, "GET", f"/api/v1/namespaces/{unrelated}/events")
            else:  # cluster-wide mode: channels reference Secrets in every namespace (docs: rbac.md)
                _allowed(operator, "GET", unrelated_secret)
                _allowed(operator, "GET", "/api/v1/secrets")  # the Secret watch (secretWatch.enabled)
            _denied(
                operator,
                "PUT",
                f"/api/v1/namespaces/{unrelated}/secrets/unrelated",
                {"metadata": {"name": "unrelated"}},
            )
            for who in (gateway, sidecar, am_sidecar):
                _denied(who, "GET", unrelated_secret)
                _denied(who, "GET", "/api/v1/secrets")
                _denied(who, "GET", f"/api/v1/namespaces/{ns}/secrets")
                _denied(who, "GET", f"/api/v1/namespaces/{ns}/secrets/oncall-dingtalk")
            _denied(gateway, "GET", f"/api/v1/namespaces/{ns}/secrets/main-gateway-channels")  # mounted, not read
            _allowed(am_sidecar, "GET", f"/api/v1/namespaces/{ns}/secrets/main-alertmanager-config")
            _denied(sidecar, "GET", f"/api/v1/namespaces/{unrelated}/configmaps")

            # The gateway's analysis reads, and changes nothing; in namespaced mode, in the watched
            # namespaces alone, and so do its Incidents.
            _allowed(gateway, "GET", f"/api/v1/namespaces/{ns}/pods")
            _allowed(gateway, "GET", f"{GROUP_PATH}/namespaces/{ns}/incidents")
            elsewhere = (
                f"/api/v1/namespaces/{unrelated}/pods",
                f"/apis/apps/v1/namespaces/{unrelated}/deployments",
                f"{GROUP_PATH}/namespaces/{unrelated}/incidents",
            )
            everywhere = ("/api/v1/pods", "/api/v1/events", f"{GROUP_PATH}/incidents")
            for path in (*elsewhere, *everywhere):
                (_denied if namespaced else _allowed)(gateway, "GET", path)
            if namespaced:
                incident = {"apiVersion": "alertagent.io/v1alpha1", "kind": "Incident", "metadata": {"name": "x"}}
                _denied(gateway, "POST", f"{GROUP_PATH}/namespaces/{unrelated}/incidents", incident)
            _denied(gateway, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/database", {"spec": {"replicas": 0}})
            _denied(gateway, "DELETE", f"/api/v1/namespaces/{ns}/pods/{pod}")
            _denied(gateway, "GET", f"/api/v1/namespaces/{ns}/pods/{pod}/log")
            _denied(
                gateway, "PATCH", f"{GROUP_PATH}/namespaces/{ns}/incidents/{only['metadata']['name']}", {"spec": {}}
            )

            # Kopf's finalizer comes off under the operator's identity.
            plane.kubectl("-n", ns, "delete", "alertmanagercluster", "main", "--wait=false")
            eventually(
                lambda: plane.kubectl("-n", ns, "get", "alertmanagercluster", "main", check=False).returncode != 0,
                30,
                what="the AlertmanagerCluster deleted (finalizer removed)",
            )
            _no_denials(*started)
        finally:
            for mount in mounts:
                mount.stop()
            for proc in started:
                proc.stop()
