"""The optional admission webhook on the real API server: `kubectl apply` of invalid PromQL or of a
template no evaluator loads is refused with the parser's message; valid rules pass; the webhook
configuration is removed on exit."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.certs import CertificateAuthority
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.processes import free_port
from tests.integration.test_rules_pipeline import alert_rule


def _webhooks(plane: ControlPlane) -> list[dict]:
    out = plane.kubectl("get", "validatingwebhookconfiguration", "alertagent.io", "-o", "json", check=False)
    return (json.loads(out.stdout).get("webhooks") or []) if out.returncode == 0 else []


def test_webhook_rejects_invalid_promql_at_apply_time(
    installed_crds: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    ca = CertificateAuthority("webhook-ca")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    cert, key = ca.issue("alertagent-webhook", ips=("127.0.0.1",), server=True).write(tmp_path, "webhook")
    port = free_port()
    operator, _ = start_operator(
        installed_crds,
        tmp_path,
        namespace,
        extra_args=(
            "--webhook-port",
            str(port),
            "--webhook-host",
            "127.0.0.1",
            "--webhook-cert",
            str(cert),
            "--webhook-key",
            str(key),
            "--webhook-ca",
            str(tmp_path / "ca.crt"),
        ),
    )
    try:
        eventually(lambda: _webhooks(installed_crds), 30, what="webhook configuration")
        [hook] = _webhooks(installed_crds)
        assert hook["failurePolicy"] == "Ignore" and hook["clientConfig"]["url"].startswith(f"https://127.0.0.1:{port}")

        bad = alert_rule("bad", {"alert": "Bad", "expr": "sum(rate(x[5m])"})
        result = installed_crds.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
        assert result.returncode != 0
        assert "admission webhook" in result.stderr and "denied the request" in result.stderr
        assert (
            'group "bad.rules" rule "Bad": spec.groups[0].rules[0].expr: invalid PromQL: unclosed left parenthesis'
            in (result.stderr)
        )
        # A template no evaluator loads (Prometheus refuses it; vmalert >= 1.108 would not even parse it).
        unclosed = alert_rule(
            "unclosed", {"alert": "Unclosed", "expr": "up == 0", "annotations": {"summary": "{{ $labels.job "}}
        )
        result = installed_crds.kubectl(
            "-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(unclosed), check=False
        )
        assert result.returncode != 0
        assert "admission webhook" in result.stderr and "denied the request" in result.stderr
        assert (
            'group "unclosed.rules" rule "Unclosed": spec.groups[0].rules[0].annotations.summary: '
            "template: __alert_Unclosed:1: unclosed action" in result.stderr
        ), result.stderr
        good = alert_rule("good", {"alert": "Good", "expr": "sum(rate(x[5m]))"})
        installed_crds.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(good))
    finally:
        operator.stop()
    assert _webhooks(installed_crds) == []  # cleaned up: a stopped operator blocks nothing
