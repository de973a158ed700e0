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
        ({"selfMonitoring": {"enabled": True, "heartbeat": {"url": "ftp://x"}}}, "at '/selfMonitoring/heartbeat/url'"),
        ({"selfMonitoring": {"enabled": True, "targets": ["Main!"]}}, "at '/selfMonitoring/targets/0'"),
        ({"gateway": {"store": "etcd"}}, "at '/gateway/store': value must be one of"),
        ({"resources": {"limits": {"memory": "lots"}}}, "at '/resources/limits/memory'"),
        ({"watchNamespaces": ["Team_A"]}, "at '/watchNamespaces/0'"),
        ({"replica": 2}, "additional properties 'replica' not allowed"),
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
