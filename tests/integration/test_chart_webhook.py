"""The chart's admission webhook for real (certificates: generate): `helm install` creates the serving
Secret and the ValidatingWebhookConfiguration, the operator serves TLS with that Secret's certificate
(no --webhook-ca, so it leaves the configuration alone), and the API server calls it through the
chart's Service and refuses invalid PromQL. `helm upgrade` keeps the certificate.

The test bed has no kube-proxy, so its own API server here runs with --enable-aggregator-routing
(webhook calls to a Service go to the Service's endpoints, not its ClusterIP) and the test writes the
Service's endpoints: this host's address and the operator's port, as the endpoints controller would
for a pod."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane, install_crds, start_control_plane
from alertagent.devstack.processes import free_port
from tests.integration.scenario import helm
from tests.integration.test_rules_pipeline import alert_rule

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "alertagent"
NS, RELEASE = "mon", "aa"
SERVICE = f"{RELEASE}-alertagent"


def _host_address() -> str:
    """A non-loopback address of this host (Endpoints refuse loopback ones)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.fail("the host has no non-loopback IPv4 address for the webhook Service's endpoints")
    return str(address)


@pytest.fixture(scope="module")
def routed_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = start_control_plane(
        tmp_path_factory.mktemp("webhook-plane"),
        with_controller_manager=False,
        apiserver_args=("--enable-aggregator-routing=true",),
    )
    try:
        install_crds(plane, CHART / "crds")
        plane.kubectl("create", "namespace", NS)
        yield plane
    finally:
        plane.stop()


def _helm(plane: ControlPlane, *args: str) -> str:
    return helm(plane, *args).stdout


def _json(plane: ControlPlane, *args: str) -> dict:
    return json.loads(plane.kubectl(*args, "-o", "json").stdout)


def _route_service_to(plane: ControlPlane, address: str, port: int) -> None:
    """What the endpoints controllers would write for a ready operator pod at address:port."""
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": SERVICE, "namespace": NS},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "webhook", "port": port}]}],
    }
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{SERVICE}-test", "namespace": NS, "labels": {"kubernetes.io/service-name": SERVICE}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "webhook", "port": port, "protocol": "TCP"}],
    }
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([endpoints, slice_]))


def test_generated_certificate_serves_the_api_servers_webhook_calls(routed_plane: ControlPlane, tmp_path: Path) -> None:
    plane = routed_plane
    values = [
        "--set",
        "webhook.enabled=true",
        "--set",
        "webhook.certificates=generate",
        "--set",
        f"watchNamespaces[0]={NS}",
    ]
    notes = _helm(plane, "install", RELEASE, str(CHART), "-n", NS, "--skip-crds", "--wait=false", *values)
    assert "kubectl get alertagent -A" in notes and "ValidatingWebhookConfiguration aa-alertagent" in notes

    secret = _json(plane, "-n", NS, "get", "secret", f"{SERVICE}-webhook-tls")
    assert secret["type"] == "kubernetes.io/tls"
    [hook] = _json(plane, "get", "validatingwebhookconfiguration", SERVICE)["webhooks"]
    assert hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
    assert hook["clientConfig"]["service"]["path"] == "/alertrules" and hook["failurePolicy"] == "Ignore"

    # An upgrade keeps the CA and the certificate the running pods serve (lookup of the Secret).
    _helm(plane, "upgrade", RELEASE, str(CHART), "-n", NS, "--skip-crds", "--wait=false", *values)
    assert _json(plane, "-n", NS, "get", "secret", f"{SERVICE}-webhook-tls")["data"] == secret["data"]
    cert_pem = base64.b64decode(secret["data"]["tls.crt"])
    check = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=cert_pem, capture_output=True, check=True
    )
    assert f"DNS:{SERVICE}.{NS}.svc" in check.stdout.decode()

    (tmp_path / "tls.crt").write_bytes(cert_pem)
    (tmp_path / "tls.key").write_bytes(base64.b64decode(secret["data"]["tls.key"]))
    port = free_port()
    _route_service_to(plane, _host_address(), port)
    operator, _ = start_operator(
        plane,
        tmp_path,
        NS,
        extra_args=(
            "--webhook-port",
            str(port),
            "--webhook-host",
            f"{SERVICE}.{NS}.svc",
            "--webhook-cert",
            str(tmp_path / "tls.crt"),
            "--webhook-key",
            str(tmp_path / "tls.key"),
        ),
    )
    try:
        bad = yaml.safe_dump(alert_rule("bad", {"alert": "Bad", "expr": "sum(rate(x[5m])"}))

        def refused() -> str | None:
            result = plane.kubectl("-n", NS, "apply", "--dry-run=server", "-f", "-", input=bad, check=False)
            return result.stderr if result.returncode != 0 else None

        message = eventually(refused, 60, what="the API server calling the operator's webhook")
        assert 'admission webhook "alertrules.alertagent.io" denied the request' in message
        assert "invalid PromQL: unclosed left parenthesis" in message
        good = alert_rule("good", {"alert": "Good", "expr": "sum(rate(x[5m]))"})
        plane.kubectl("-n", NS, "apply", "-f", "-", input=yaml.safe_dump(good))
        # The operator left the webhook configuration to the chart: it created none of its own.
        names = plane.kubectl("get", "validatingwebhookconfiguration", "-o", "name").stdout.split()
        assert names == [f"validatingwebhookconfiguration.admissionregistration.k8s.io/{SERVICE}"]
    finally:
        operator.stop()
        _helm(plane, "uninstall", RELEASE, "-n", NS)
