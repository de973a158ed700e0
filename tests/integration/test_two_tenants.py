"""Two teams end to end, on the real test bed: AlertRules in two tenant namespaces fire real alerts in
Prometheus, which sends them to the real Alertmanager the operator configures; each notification is
counted at local receivers. Every alert reaches its own team's channel and the cluster-wide on-call
channel's copy, none crosses tenants (not even one whose rule claims the other namespace), and when
team A's channel Secret is deleted in the middle, A's next alert still arrives through its
last-known-good receiver; after the Secret is restored the channel is Ready again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from alertagent.devstack.agents import eventually, start_alertmanager_sidecar, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.receivers import Received, webhook_receiver

GROUP = "alertagent.io/v1alpha1"


def _rule(namespace: str, alert: str, severity: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule = {"alert": alert, "expr": "vector(1) > 0", "labels": {"severity": severity} | (labels or {})}
    return {
        "apiVersion": GROUP,
        "kind": "AlertRule",
        "metadata": {"name": alert.lower(), "namespace": namespace},
        "spec": {
            "groups": [
                {
                    "name": alert.lower(),
                    "rules": [rule],
                }
            ]
        },
    }


def _webhook(namespace: str, name: str, webhook: dict[str, Any], **route: Any) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "NotificationChannel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "webhook", "webhook": webhook, "route": route},
    }


def _by_alert(received: Received, path: str) -> dict[str, set[str]]:
    """alertname → the namespaces it arrived with, at one receiver path."""
    seen: dict[str, set[str]] = {}
    for alert in received.alerts(path):
        seen.setdefault(alert["labels"]["alertname"], set()).add(alert["labels"].get("namespace", ""))
    return seen


def _channel_ready(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    body = json.loads(plane.kubectl("-n", namespace, "get", "notificationchannel", name, "-o", "json").stdout)
    conditions = (body.get("status") or {}).get("conditions") or [{}]
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def test_two_teams_get_their_own_alerts_and_nothing_is_lost_when_a_secret_goes(
    installed_crds: ControlPlane,
    namespace: str,
    tenant_namespaces: tuple[str, str],
    alerting_prometheus: RuleTarget,
    alertmanager: AlertmanagerTarget,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    plane, core = installed_crds, client.CoreV1Api(api_client)
    team_a, team_b = tenant_namespaces
    with webhook_receiver() as (url, received):
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook", "namespace": team_a, "labels": {"alertagent.io/watch": "true"}},
            "stringData": {"url": f"{url}/a"},
        }
        objects = [
            {
                "apiVersion": GROUP,
                "kind": "AlertmanagerCluster",
                "metadata": {"name": "main", "namespace": namespace},
                "spec": {
                    "alertmanager": {"url": alertmanager.url},
                    "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": alerting_prometheus.url}],
                    "route": {"groupWait": "1s", "groupInterval": "1s", "groupBy": ["alertname", "namespace"]},
                },
            },
            secret,
            _webhook(team_a, "pager", {"urlSecret": {"name": "hook", "key": "url"}}),
            _webhook(team_b, "pager", {"url": f"{url}/b"}),
            # Cluster-wide on-call: a copy of every critical alert, whoever it belongs to.
            _webhook(namespace, "oncall", {"url": f"{url}/ops"}, matchers=[{"name": "severity", "value": "critical"}]),
            _rule(team_a, "ADown", "critical"),
            _rule(team_a, "AClaimsB", "warning", {"namespace": team_b}),  # tries to page team B
            _rule(team_a, "AHijacks", "warning", {"alertagent_test_channel": f"{team_b}/pager"}),  # B's test route
            _rule(team_b, "BDown", "critical"),
        ]
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
        operator, _ = start_operator(plane, tmp_path, (namespace, team_a, team_b))
        am_sidecar, _p1 = start_alertmanager_sidecar(
            plane, tmp_path, namespace, "main-alertmanager-config", alertmanager.config_path, alertmanager.url
        )
        rules_sidecar, _p2 = start_sidecar(
            plane, tmp_path, namespace, "main", "prometheus", alerting_prometheus.rules_dir, alerting_prometheus.url
        )
        try:
            want_a = {"ADown": {team_a}, "AClaimsB": {team_a}, "AHijacks": {team_a}}
            want_b = {"BDown": {team_b}}
            want_ops = {"ADown": {team_a}, "BDown": {team_b}}
            eventually(lambda: _by_alert(received, "/a") == want_a, 90, what=f"team A's alerts at /a: {want_a}")
            eventually(lambda: _by_alert(received, "/b") == want_b, 30, what="team B's alert at /b")
            eventually(lambda: _by_alert(received, "/ops") == want_ops, 30, what="on-call copies at /ops")

            # Team A's channel Secret is deleted: its receiver stays live, and a new alert still arrives.
            core.delete_namespaced_secret("hook", team_a)
            eventually(lambda: _channel_ready(plane, team_a, "pager").get("reason") == "LastKnownGood", 30)
            plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(_rule(team_a, "ALater", "critical")))
            want_a["ALater"] = want_ops["ALater"] = {team_a}
            eventually(lambda: _by_alert(received, "/a") == want_a, 60, what="A's new alert on last-known-good")
            eventually(lambda: _by_alert(received, "/ops") == want_ops, 30, what="its on-call copy")

            # Restored: Ready again, and still nothing crossed tenants or went missing.
            plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(secret))
            eventually(lambda: _channel_ready(plane, team_a, "pager").get("status") == "True", 30)
            assert _by_alert(received, "/a") == want_a
            assert _by_alert(received, "/b") == want_b
            assert _by_alert(received, "/ops") == want_ops
            assert set(received.posts) == {"/a", "/b", "/ops"}
        finally:
            rules_sidecar.stop()
            am_sidecar.stop()
            operator.stop()
