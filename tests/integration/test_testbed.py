"""The test bed itself is real: the API server enforces RBAC and garbage-collects, Prometheus,
vmalert and Alertmanager load what they are given and reload on request."""

from __future__ import annotations

import ssl
import subprocess

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from alertagent.devstack.agents import eventually
from alertagent.devstack.controlplane import ControlPlane, binary
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget


def test_versions_are_the_ones_built(control_plane: ControlPlane) -> None:
    out = control_plane.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.34' in out


def test_rbac_is_enforced(control_plane: ControlPlane, namespace: str) -> None:
    allowed = control_plane.kubectl(
        "auth", "can-i", "list", "secrets", "-n", namespace, "--as", "system:serviceaccount:default:nobody", check=False
    )
    assert allowed.stdout.strip() == "no"
    assert control_plane.kubectl("auth", "can-i", "list", "secrets", "-n", namespace).stdout.strip() == "yes"


def test_garbage_collector_deletes_dependents(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner")))
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[ref]))
    )
    core.delete_namespaced_config_map("owner", namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    eventually(gone, timeout=60)


def test_service_account_tokens_work(control_plane: ControlPlane, api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="probe"))
    )
    token = control_plane.kubectl("-n", namespace, "create", "token", "probe").stdout.strip()
    response = httpx.get(
        f"{control_plane.url}/api/v1/namespaces/{namespace}/configmaps",
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(control_plane.ca_file)),
    )
    assert response.status_code == 403
    assert f"system:serviceaccount:{namespace}:probe" in response.json()["message"]


RULES = {
    "groups": [
        {"name": "testbed", "rules": [{"alert": "AlwaysFiring", "expr": "vector(1)", "labels": {"severity": "none"}}]}
    ]
}


@pytest.mark.parametrize("target_name", ["prometheus", "vmalert"])
def test_rule_targets_load_rules_on_reload(request: pytest.FixtureRequest, target_name: str) -> None:
    target: RuleTarget = request.getfixturevalue(target_name)
    assert target.loaded_groups() == set()
    (target.rules_dir / "testbed.yaml").write_text(yaml.safe_dump(RULES))
    assert target.reload().status_code == 200
    assert eventually(lambda: target.loaded_groups() == {"testbed"})


def test_alertmanager_reloads_config_and_receives_alerts(alertmanager: AlertmanagerTarget) -> None:
    config = {
        "route": {"receiver": "team", "group_wait": "1s"},
        "receivers": [{"name": "team", "webhook_configs": [{"url": "http://127.0.0.1:9/hook"}]}],
    }
    alertmanager.write_config(config)
    assert alertmanager.reload().status_code == 200
    status = alertmanager.status()
    assert "http://127.0.0.1:9/hook" in status["config"]["original"]  # type: ignore[index]
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[{"labels": {"alertname": "T"}}])
    assert response.status_code == 200
    alerts = eventually(lambda: httpx.get(f"{alertmanager.url}/api/v2/alerts").json())
    assert alerts[0]["labels"]["alertname"] == "T"
    assert [r["name"] for r in alerts[0]["receivers"]] == ["team"]


def test_alertmanager_keeps_last_good_config_on_invalid_reload(alertmanager: AlertmanagerTarget) -> None:
    before = alertmanager.status()["config"]["original"]  # type: ignore[index]
    alertmanager.config_path.write_text("route: {receiver: missing}\nreceivers: []\n")
    assert alertmanager.reload().status_code == 500
    assert alertmanager.status()["config"]["original"] == before  # type: ignore[index]


def test_helm_and_kubeconform_run() -> None:
    assert subprocess.run(
        [binary("helm"), "version", "--short"], capture_output=True, text=True, check=True
    ).stdout.startswith("v3.")
    subprocess.run([binary("kubeconform"), "-v"], capture_output=True, text=True, check=True)
