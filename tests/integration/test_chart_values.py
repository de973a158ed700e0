"""The chart's values with the real helm: values.schema.json refuses bad values with a message naming
the field, good values render, `helm lint --strict` is clean and `helm template` needs no flags (no
kubeVersion constraint that Helm's offline default v1.20.0 would fail)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from alertagent.devstack.controlplane import binary

CHART = Path(__file__).resolve().parents[2] / "charts" / "alertagent"

EVERYTHING = {
    "replicas": 2,
    "watchNamespaces": ["team-a", "mon"],
    "webhook": {"enabled": True, "certificates": "generate"},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kps"}},
    "gateway": {"enabled": True, "channelsSecrets": ["main-gateway-channels"]},
    "sidecarServiceAccounts": [{"namespace": "mon", "name": "prometheus"}],
    "selfMonitoring": {
        "labels": {"alertagent.io/cluster": "main"},
        "targets": ["main"],
        "alertLabels": {"team": "platform"},
        "heartbeat": {"url": "https://heartbeat.example/ping/abc", "interval": "1m"},
    },
}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("helm"), *args], capture_output=True, text=True, check=False, timeout=120)


def template(tmp_path: Path, values: dict[str, object] | None = None, *args: str) -> subprocess.CompletedProcess[str]:
    files: list[str] = []
    if values is not None:
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        files = ["-f", str(tmp_path / "values.yaml")]
    return helm("template", "aa", str(CHART), "-n", "mon", *files, *args)


def test_helm_template_needs_no_flags_and_lint_is_strictly_clean(tmp_path: Path) -> None:
    result = helm("template", str(CHART))
    assert result.returncode == 0, result.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout) if d)
    assert "Deployment" in kinds and "AlertRule" in kinds  # self-monitoring is on by default
    for values in (None, EVERYTHING):
        args = ["-f", str(tmp_path / "values.yaml")] if values else []
        if values:
            (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        lint = helm("lint", "--strict", str(CHART), *args)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert "[WARNING]" not in lint.stdout and "[ERROR]" not in lint.stdout


def test_everything_enabled_renders_hardened_ha_pods_and_the_webhook(tmp_path: Path) -> None:
    result = template(tmp_path, EVERYTHING)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    by_kind: dict[str, list[dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    operator, gateway = sorted(by_kind["Deployment"], key=lambda d: d["metadata"]["name"])
    assert operator["spec"]["replicas"] == 2 and operator["spec"]["strategy"]["type"] == "RollingUpdate"
    [container] = operator["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert "--leader-elect" in args and "--leader-election-id=aa-alertagent" in args
    assert "--lease-duration=15" in args and "--renew-deadline=10" in args and "--retry-period=2" in args
    assert not any(a.startswith("--webhook-ca") for a in args)  # the chart owns the webhook configuration
    assert {e["name"] for e in container["env"]} >= {"POD_NAME", "POD_NAMESPACE"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for deployment in (operator, gateway):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
            assert c["resources"]["limits"]["memory"]
    [hook] = by_kind["ValidatingWebhookConfiguration"][0]["webhooks"]
    assert hook["failurePolicy"] == "Ignore" and hook["sideEffects"] == "None"
    assert hook["clientConfig"]["service"] == {
        "name": "aa-alertagent",
        "namespace": "mon",
        "port": 443,
        "path": "/alertrules",
    }
    assert hook["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == ["team-a", "mon"]
    [secret] = by_kind["Secret"]
    assert secret["type"] == "kubernetes.io/tls" and hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
    assert len(by_kind["ServiceMonitor"]) == 2
    [channel] = by_kind["NotificationChannel"]
    route = channel["spec"]["route"]
    assert {"name": "alertname", "value": "Watchdog"} in route["matchers"] and route["exclusive"] is True
    assert route["repeatInterval"] == "1m" and channel["spec"]["targets"] == ["main"]


def test_without_leader_election_one_replica_is_replaced_not_overlapped(tmp_path: Path) -> None:
    result = template(
        tmp_path,
        {
            "leaderElection": {
                "enabled": False,
                "leaseDurationSeconds": 15,
                "renewDeadlineSeconds": 10,
                "retryPeriodSeconds": 2,
            }
        },
    )
    assert result.returncode == 0, result.stderr
    [operator] = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Deployment"]
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    assert "--leader-elect" not in operator["spec"]["template"]["spec"]["containers"][0]["args"]
    two = template(
        tmp_path,
        {
            "replicas": 2,
            "leaderElection": {
                "enabled": False,
                "leaseDurationSeconds": 15,
                "renewDeadlineSeconds": 10,
                "retryPeriodSeconds": 2,
            },
        },
    )
    assert two.returncode != 0 and "replicas > 1 needs leaderElection.enabled" in two.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": -1}, "at '/replicas': minimum: got -1, want 0"),
        ({"replicas": "2"}, "at '/replicas': got string, want integer"),
        (
            {"webhook": {"enabled": True, "certificates": "selfsigned"}},
            "at '/webhook/certificates': value must be one of",
        ),
        ({"webhook": {"enabled": True, "certificates": "secret"}}, "at '/webhook/secretName'"),
        (
            {"webhook": {"enabled": True, "certificates": "generate", "timeoutSeconds": 60}},
            "at '/webhook/timeoutSeconds'",
        ),
        ({"leaderElection": None}, "missing property 'leaderElection'"),  # null deletes a default
        ({"leaderElection": {"leaseDurationSeconds": 1}}, "at '/leaderElection/leaseDurationSeconds': minimum"),
        (
            {"serviceMonitor": {"enabled": True, "interval": 30}},
            "at '/serviceMonitor/interval': got number, want string",
        ),
        ({"selfMonitoring": {"enabled": "yes"}}, "at '/selfMonitoring/enabled': got string, want boolean"),
        # Alertmanager refuses a zero group/repeat interval (the channel would go Invalid after a clean install).
        ({"selfMonitoring": {"heartbeat": {"interval": "0s"}}}, "at '/selfMonitoring/heartbeat/interval'"),
        ({"selfMonitoring": {"heartbeat": {"interval": "1ms"}}}, "at '/selfMonitoring/heartbeat/interval'"),
        ({"selfMonitoring": {"enabled": True, "heartbeat": {"url": "ftp://x"}}}, "at '/selfMonitoring/heartbeat/url'"),
        ({"selfMonitoring": {"enabled": True, "targets": ["Main!"]}}, "at '/selfMonitoring/targets/0'"),
        ({"gateway": {"store": "etcd"}}, "at '/gateway/store': value must be one of"),
        ({"resources": {"limits": {"memory": "lots"}}}, "at '/resources/limits/memory'"),
        ({"watchNamespaces": ["Team_A"]}, "at '/watchNamespaces/0'"),
        ({"replica": 2}, "additional properties 'replica' not allowed"),
        ({"gateway": {"port": 80}}, "at '/gateway/port': minimum: got 80, want 1,024"),  # non-root, no capabilities
        ({"webhook": {"enabled": False, "port": 443}}, "at '/webhook/port': minimum: got 443, want 1,024"),
        (  # written into PromQL strings: a quote would break the expressions
            {"selfMonitoring": {"enabled": True, "jobs": {"operator": 'a"b'}}},
            "at '/selfMonitoring/jobs/operator': 'a\"b' does not match pattern",
        ),
        (
            {"selfMonitoring": {"enabled": True, "alertLabels": {"bad-key": "x"}}},
            "at '/selfMonitoring/alertLabels': additional properties 'bad-key' not allowed",
        ),
        (
            {"selfMonitoring": {"enabled": True, "labels": {"Bad Key": "x"}}},
            "at '/selfMonitoring/labels': additional properties 'Bad Key' not allowed",
        ),
        ({"podLabels": {"team/": "x"}}, "at '/podLabels': additional properties 'team/' not allowed"),
        ({"serviceMonitor": {"enabled": True, "labels": {"-x": "y"}}}, "at '/serviceMonitor/labels'"),
        ({"discovery": {"graphParts": 0}}, "at '/discovery/graphParts': minimum"),
    ],
)
def test_the_schema_refuses_bad_values_naming_the_field(tmp_path: Path, values: dict, message: str) -> None:
    result = template(tmp_path, values)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(
    "values",
    [
        {"webhook": {"enabled": True, "certificates": "secret", "secretName": "my-tls"}},
        {"webhook": {"enabled": True, "certificates": "certManager"}},
        {"selfMonitoring": {"enabled": False}},
        {"selfMonitoring": {"enabled": True, "heartbeat": {"urlSecret": {"name": "heartbeat", "key": "url"}}}},
        {"resources": {"requests": {"cpu": 0.5, "memory": "128Mi"}, "limits": {"memory": "1Gi"}}},
        {"gateway": {"enabled": True, "store": "redis", "redisUrlSecret": {"name": "redis", "key": "url"}}},
    ],
)
def test_good_values_render(tmp_path: Path, values: dict) -> None:
    result = template(tmp_path, values)
    assert result.returncode == 0, result.stderr


# Values the schema cannot judge alone (they depend on each other, or on what the chart sets itself):
# refused when rendering, naming the values, instead of a pod that crash-loops or misbehaves.
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (  # `alertagent run --leader-elect` exits 2 on these timings: a crash loop
            ["--set", "leaderElection.leaseDurationSeconds=5", "--set", "leaderElection.renewDeadlineSeconds=10"],
            "leaderElection: leaseDurationSeconds (5) > renewDeadlineSeconds (10) > retryPeriodSeconds (2) > 0",
        ),
        (
            ["--set", "leaderElection.renewDeadlineSeconds=2"],
            "leaseDurationSeconds (15) > renewDeadlineSeconds (2) > retryPeriodSeconds (2) > 0 must hold",
        ),
        (  # sqlite: each replica its own queue and rate limits
            ["--set", "gateway.enabled=true", "--set", "gateway.replicas=3"],
            "gateway.replicas=3 with gateway.store=sqlite: each replica would keep its own queue and rate limits",
        ),
        (  # two pods on one ReadWriteOnce volume, whatever the store
            [
                *("--set", "gateway.enabled=true", "--set", "gateway.persistence.enabled=true"),
                *("--set", "gateway.replicas=2"),
            ],
            "gateway.replicas=2 with gateway.persistence.enabled: the replicas would share one ReadWriteOnce volume",
        ),
        (
            [
                *("--set", "gateway.enabled=true", "--set", "gateway.persistence.enabled=true"),
                *("--set", "gateway.replicas=2", "--set", "gateway.store=redis"),
                *("--set", "gateway.redisUrlSecret.name=redis"),
            ],
            "gateway.replicas=2 with gateway.persistence.enabled",
        ),
        (  # a duplicate key in the pod template's labels (and in the selector's view of it)
            ["--set", "podLabels.app\\.kubernetes\\.io/name=mine"],
            "podLabels.app.kubernetes.io/name: the chart sets this label itself",
        ),
        (["--set", "podLabels.app\\.kubernetes\\.io/component=x"], "podLabels.app.kubernetes.io/component"),
        (["--set", "selfMonitoring.labels.helm\\.sh/chart=x"], "selfMonitoring.labels.helm.sh/chart"),
        (["--set", "serviceMonitor.labels.app\\.kubernetes\\.io/instance=x"], "serviceMonitor.labels.app."),
        (  # the built-in severity would silently win
            ["--set", "selfMonitoring.alertLabels.severity=page"],
            "selfMonitoring.alertLabels.severity: the self-monitoring alerts set this label themselves",
        ),
        (["--set", "selfMonitoring.alertLabels.alertagent_selfmonitoring=x"], "alertLabels.alertagent_selfmonitoring"),
        (
            [
                *("--set", "selfMonitoring.heartbeat.url=https://heartbeat.example/ping"),
                *("--set", "selfMonitoring.heartbeat.urlSecret.name=heartbeat"),
            ],
            "selfMonitoring.heartbeat.url and selfMonitoring.heartbeat.urlSecret.name are both set",
        ),
    ],
)
def test_values_that_would_fail_at_run_time_are_refused_naming_them(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = template(tmp_path, None, *args)
    assert result.returncode != 0, result.stdout[:2000]
    assert message in result.stderr, result.stderr


def _docs(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize(
    "args",
    [
        [
            *("--set", "gateway.enabled=true", "--set", "gateway.replicas=3", "--set", "gateway.store=redis"),
            *("--set", "gateway.redisUrlSecret.name=redis"),
        ],
        ["--set", "gateway.enabled=true", "--set", "gateway.persistence.enabled=true"],  # one replica
        ["--set", "leaderElection.leaseDurationSeconds=30", "--set", "leaderElection.renewDeadlineSeconds=20"],
        # without leader election the timings are not passed on
        ["--set", "leaderElection.enabled=false", "--set", "leaderElection.renewDeadlineSeconds=30"],
        ["--set", "gateway.enabled=false", "--set", "gateway.replicas=3"],  # no gateway rendered
        ["--set", "gateway.port=8083", "--set", "podLabels.team=platform"],
    ],
)
def test_the_neighbouring_good_values_render(tmp_path: Path, args: list[str]) -> None:
    _docs(template(tmp_path, None, *args))


def test_job_names_reach_promql_intact(tmp_path: Path) -> None:
    docs = _docs(
        template(
            tmp_path,
            None,
            *("--set", "selfMonitoring.jobs.operator=monitoring/aa-operator:metrics"),
            *("--set", "gateway.enabled=true", "--set", "selfMonitoring.jobs.gateway=gw_1.x"),
        )
    )
    [rule] = [d for d in docs if d["kind"] == "AlertRule"]
    exprs = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert exprs["AlertAgentOperatorDown"] == 'absent(up{job="monitoring/aa-operator:metrics"} == 1)'
    assert exprs["AlertAgentGatewayDown"] == 'absent(up{job="gw_1.x"} == 1)'


def test_pod_labels_are_added_once_next_to_the_selector_labels(tmp_path: Path) -> None:
    result = template(tmp_path, None, "--set", "gateway.enabled=true", "--set", "podLabels.team=platform")
    docs = _docs(result)
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["team"] == "platform"
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    list(yaml.load_all(result.stdout, Loader=_UniqueKeys))  # safe_load keeps the last duplicate silently


class _UniqueKeys(yaml.SafeLoader):
    """A YAML loader refusing duplicate mapping keys (what kubectl apply's strict decoding does)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"duplicate keys in {keys} at {node.start_mark}"
        return super().construct_mapping(node, deep=deep)


def test_duplicate_sidecar_service_accounts_make_one_role_each(tmp_path: Path) -> None:
    values = {
        "sidecarServiceAccounts": [
            {"namespace": "mon", "name": "prometheus"},
            {"namespace": "mon", "name": "prometheus"},
            {"namespace": "mon", "name": "alertmanager", "alertmanagerSecrets": ["main-am"]},
            {"namespace": "mon", "name": "alertmanager", "alertmanagerSecrets": ["other-am", "main-am"]},
            {"namespace": "team-a", "name": "prometheus"},
        ]
    }
    docs = _docs(template(tmp_path, values))
    roles = sorted(
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in docs
        if d["kind"] == "Role" and "-sidecar-" in d["metadata"]["name"]
    )
    assert roles == [
        ("mon", "aa-alertagent-sidecar-alertmanager"),
        ("mon", "aa-alertagent-sidecar-prometheus"),
        ("team-a", "aa-alertagent-sidecar-prometheus"),
    ]
    bindings = [d for d in docs if d["kind"] == "RoleBinding" and "-sidecar-" in d["metadata"]["name"]]
    assert len(bindings) == 3
    [am] = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "aa-alertagent-sidecar-alertmanager"]
    [secrets] = [r for r in am["rules"] if r["resources"] == ["secrets"]]
    assert secrets["resourceNames"] == ["main-am", "other-am"]  # joined, once each


def test_self_monitoring_is_selected_by_the_quick_start_cluster_by_default(tmp_path: Path) -> None:
    """The default labels are what examples/basic's cluster `main` selects (no namespace limit)."""
    example = CHART.parents[1] / "examples" / "basic" / "10-alertmanagercluster.yaml"
    selector = yaml.safe_load(example.read_text())["spec"]["selectors"]["alertRules"]
    assert set(selector) == {"labelSelector"}  # every namespace, the release's included
    docs = _docs(template(tmp_path))
    [rule] = [d for d in docs if d["kind"] == "AlertRule"]
    assert selector["labelSelector"]["matchLabels"].items() <= rule["metadata"]["labels"].items()


def test_namespaced_mode_grants_the_gateway_roles_in_the_watched_namespaces_only(tmp_path: Path) -> None:
    values = {
        "watchNamespaces": ["team-a", "team-b"],
        "gateway": {"enabled": True, "incidents": {"analysis": {"podLogs": True}}},
        "discovery": {"graphParts": 3},
    }
    docs = _docs(template(tmp_path, values))
    rbac = sorted(
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace", ""))
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    )
    assert rbac == [
        ("ClusterRole", "aa-alertagent", ""),  # Namespaces alone
        ("Role", "aa-alertagent", "team-a"),
        ("Role", "aa-alertagent", "team-b"),
        ("Role", "aa-alertagent-gateway", "mon"),  # Leases and the graph, by name
        ("Role", "aa-alertagent-gateway-analysis", "team-a"),
        ("Role", "aa-alertagent-gateway-analysis", "team-b"),
        ("Role", "aa-alertagent-gateway-incidents", "team-a"),
        ("Role", "aa-alertagent-gateway-incidents", "team-b"),
        ("Role", "aa-alertagent-release", "mon"),
    ]
    gateway = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "aa-alertagent-gateway")
    env = {e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ALERTAGENT_GATEWAY_NAMESPACES"] == "team-a,team-b"
    graph = [f"alertagent-service-graph{s}" for s in ("", "-1", "-2")]
    release = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "aa-alertagent-release")
    configmaps = [r for r in release["rules"] if r["resources"] == ["configmaps"]]
    assert configmaps == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "create"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": graph, "verbs": ["get", "patch", "delete"]},
    ]
    reader = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "aa-alertagent-gateway")
    assert [r.get("resourceNames") for r in reader["rules"] if r["resources"] == ["configmaps"]] == [graph]
    cluster_wide = _docs(template(tmp_path, {"gateway": {"enabled": True}}))
    assert sorted(d["metadata"]["name"] for d in cluster_wide if d["kind"] == "ClusterRole") == [
        "aa-alertagent",
        "aa-alertagent-gateway",
        "aa-alertagent-gateway-analysis",
    ]
    [deployment] = [d for d in cluster_wide if d["kind"] == "Deployment" and "gateway" in d["metadata"]["name"]]
    assert "ALERTAGENT_GATEWAY_NAMESPACES" not in str(deployment)
