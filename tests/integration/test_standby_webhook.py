"""The admission webhook of a standby replica (`alertagent run --leader-elect --webhook-port ...`, not
holding the Lease): its Kopf instance holds only the admission handlers, and it answers an
AdmissionReview (admission.k8s.io/v1) exactly as the leader would: an invalid AlertRule denied with
the validation message, a valid one allowed. Its /readyz says "standby", and it writes nothing (the
control plane's audit log counts every write by the user who made it).

Without `--webhook-ca` neither replica manages a ValidatingWebhookConfiguration (the chart owns it),
so the reviews are posted straight to the standby's port over TLS, as the API server would."""

from __future__ import annotations

import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from alertagent.devstack.agents import eventually, metric_value, start_operator
from alertagent.devstack.certs import CertificateAuthority
from alertagent.devstack.processes import Process, free_port
from tests.integration import test_leader_election as ha
from tests.integration.test_rules_pipeline import alert_rule

Bed, ELECTION, NAMESPACE = ha.Bed, ha.ELECTION, ha.NAMESPACE
bed = ha.bed  # the fixture: a control plane of its own with an audit log, a user per replica

INVALID_PROMQL = 'group "bad.rules" rule "Bad": spec.groups[0].rules[0].expr: invalid PromQL: unclosed left parenthesis'


def _replica(plane: Bed, log_dir: Path, identity: str, webhook: tuple[int, Path, Path]) -> tuple[Process, int, int]:
    """A replica as user `identity`, serving the webhook on (port, certificate, key): (process, HTTP
    port, metrics port)."""
    port, cert, key = webhook
    proc, metrics = start_operator(
        plane.plane,
        log_dir,
        NAMESPACE,
        extra_args=(
            *ELECTION,
            "--webhook-port",
            str(port),
            "--webhook-host",
            "127.0.0.1",
            "--webhook-cert",
            str(cert),
            "--webhook-key",
            str(key),
        ),
        kubeconfig=plane.kubeconfigs[identity],
        env={"POD_NAME": identity},
    )
    return proc, int(proc.argv[proc.argv.index("--http-port") + 1]), metrics


def _review(rule: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    """An AdmissionReview as the API server sends it for an AlertRule."""
    rule = {**rule, "metadata": {**rule["metadata"], "namespace": NAMESPACE}}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "alertagent.io", "version": "v1alpha1", "kind": "AlertRule"},
            "resource": {"group": "alertagent.io", "version": "v1alpha1", "resource": "alertrules"},
            "requestKind": {"group": "alertagent.io", "version": "v1alpha1", "kind": "AlertRule"},
            "requestResource": {"group": "alertagent.io", "version": "v1alpha1", "resource": "alertrules"},
            "name": rule["metadata"]["name"],
            "namespace": NAMESPACE,
            "operation": operation,
            "userInfo": {"username": "someone", "groups": ["system:authenticated"]},
            "object": rule,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def _post(port: int, ca: Path, review: dict[str, Any]) -> dict[str, Any]:
    """POST a review to /alertrules over TLS (the server's certificate checked against `ca`); the
    `response` of the AdmissionReview it answers, whose uid must be the request's."""
    trust = ssl.create_default_context(cafile=str(ca))
    answer = httpx.post(f"https://127.0.0.1:{port}/alertrules", json=review, verify=trust, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview", body
    response: dict[str, Any] = body["response"]
    assert response["uid"] == review["request"]["uid"]
    return response


def _leader(metrics: int, identity: str) -> bool:
    return metric_value(metrics, "alertagent_leader", {"identity": identity}) == 1


def test_standby_serves_the_admission_webhook_and_writes_nothing(bed: Bed, tmp_path: Path) -> None:
    ca = CertificateAuthority("webhook-ca")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    cert, key = ca.issue("alertagent-webhook", ips=("127.0.0.1",), server=True).write(tmp_path, "webhook")
    a_port, b_port = free_port(), free_port()
    a, _a_http, a_metrics = _replica(bed, tmp_path, "op-a", (a_port, cert, key))
    b: Process | None = None
    try:
        eventually(lambda: _leader(a_metrics, "op-a"), 30, what="op-a leads")
        b_started = time.time()
        b, b_http, b_metrics = _replica(bed, tmp_path, "op-b", (b_port, cert, key))
        assert metric_value(b_metrics, "alertagent_leader", {"identity": "op-b"}) == 0
        ready = httpx.get(f"http://127.0.0.1:{b_http}/readyz", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"status": "standby"})

        # The standby's webhook: started beside its health port, so it may take a moment to listen.
        bad = alert_rule("bad", {"alert": "Bad", "expr": "sum(rate(x[5m])"})
        denied = eventually(lambda: _post(b_port, tmp_path / "ca.crt", _review(bad)), 30, what="standby webhook")
        assert denied["allowed"] is False, denied
        assert denied["status"]["code"] == 422 and INVALID_PROMQL in denied["status"]["message"], denied
        good = alert_rule("good", {"alert": "Good", "expr": "sum(rate(x[5m]))"})
        assert _post(b_port, tmp_path / "ca.crt", _review(good))["allowed"] is True
        assert _post(b_port, tmp_path / "ca.crt", _review(bad, "UPDATE"))["allowed"] is False

        # The leader answers the same (its webhook starts with its operator: it may not listen yet).
        leader = eventually(lambda: _post(a_port, tmp_path / "ca.crt", _review(bad)), 30, what="leader's webhook")
        assert leader | {"uid": None} == denied | {"uid": None}

        # Still a standby that wrote nothing: no Lease write, no Event, no status, no configuration.
        time.sleep(3.0)  # three retry periods: its Lease attempts would have come by now
        assert httpx.get(f"http://127.0.0.1:{b_http}/readyz", timeout=5).json() == {"status": "standby"}
        assert [w for w in bed.writes(b_started) if w.user == "op-b"] == []
        config = bed.plane.kubectl("get", "validatingwebhookconfigurations", "-o", "name").stdout.split()
        assert config == []  # without --webhook-ca nobody manages one

        # Once it leads (the leader stopped: the Lease released), its operator serves the same port.
        a.stop(grace=30)
        eventually(lambda: _leader(b_metrics, "op-b"), 30, what="op-b leads")
        again = eventually(lambda: _post(b_port, tmp_path / "ca.crt", _review(bad)), 30, what="leader's webhook")
        assert again | {"uid": None} == denied | {"uid": None}
        assert _post(b_port, tmp_path / "ca.crt", _review(good))["allowed"] is True
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.stop()
