"""The chart's self-monitoring AlertRule, end to end through the real tools: `helm template` renders it,
the operator's own validation and rule render turn it into the Prometheus rule file it would deliver,
and the real `promtool test rules` proves, on synthetic series, that each alert fires on its fault and
stays silent when the component is healthy. The series use the metric names the components export
(operator/alertagent/metrics.py, the sidecar's alertagent_config_reload_total, gateway/metrics.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertagent.devstack.controlplane import binary
from alertagent.metrics import CLUSTER_HEALTH, CONFIG_RELOAD_TOTAL, INVALID_OBJECTS, RECONCILE_TOTAL
from alertagent.render.rules import render_rule_file
from alertagent.render.validation import describe, parse_alert_rule

CHART = Path(__file__).resolve().parents[2] / "charts" / "alertagent"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

OPERATOR, GATEWAY, SIDECAR = 'job="aa-alertagent"', 'job="aa-alertagent-gateway"', 'job="alertagent-sidecar"'
ALERTS = [
    "Watchdog",
    "AlertAgentOperatorDown",
    "AlertAgentReconcileErrors",
    "AlertAgentInvalidObjects",
    "AlertAgentTargetUnhealthy",
    "AlertAgentReloadFailures",
    "AlertAgentSidecarStale",
    "AlertAgentGatewayDown",
    "AlertAgentGatewayQueueGrowing",
]


def _metric(name: object) -> str:
    """A prometheus_client metric's exposed name (counters gain `_total`): ties the series below to the code."""
    return str(name._name) + ("_total" if type(name).__name__ == "Counter" else "")  # type: ignore[attr-defined]


RECONCILE, RELOAD = _metric(RECONCILE_TOTAL), _metric(CONFIG_RELOAD_TOTAL)
INVALID, HEALTH = _metric(INVALID_OBJECTS), _metric(CLUSTER_HEALTH)
QUEUE = "alertagent_notification_queue_depth"  # gateway/metrics.py GatewayMetrics.queue_depth


def rendered_alert_rule(*values: str) -> dict[str, Any]:
    out = subprocess.run(
        [binary("helm"), "template", "aa", str(CHART), "-n", "mon", "--set", "gateway.enabled=true", *values],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    [rule] = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "AlertRule"]
    return rule


def rule_file() -> str:
    rule, issues = parse_alert_rule(rendered_alert_rule())
    assert rule is not None and not issues, [describe(i) for i in issues]
    return render_rule_file(rule)


def test_the_chart_ships_every_self_monitoring_alert_and_only_real_metric_names() -> None:
    groups = yaml.safe_load(rule_file())["groups"]
    names = [r["alert"] for g in groups for r in g["rules"]]
    assert names == ALERTS
    exprs = " ".join(r["expr"] for g in groups for r in g["rules"])
    for metric in (RECONCILE, RELOAD, INVALID, HEALTH, QUEUE):
        assert metric in exprs
    # Without the gateway, no gateway alerts; with selfMonitoring off, no AlertRule at all.
    without = rendered_alert_rule("--set", "gateway.enabled=false")
    assert "alertagent.gateway" not in [g["name"] for g in without["spec"]["groups"]]


def _case(name: str, series: dict[str, str], at: str, alert: str, fired: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": x} for x in fired]}],
    }


HEALTHY = {
    f"up{{{OPERATOR}}}": "1x60",
    f'{RECONCILE}{{{OPERATOR},kind="AlertmanagerCluster",result="ok"}}': "0+2x60",
    f'{RECONCILE}{{{OPERATOR},kind="AlertmanagerCluster",result="error"}}': "3x60",  # old errors, none new
    f'{INVALID}{{{OPERATOR},kind="AlertRule"}}': "0x60",
    f'{HEALTH}{{{OPERATOR},cluster="mon/main",target="prometheus"}}': "1x60",
    f'{RELOAD}{{{SIDECAR},target="prometheus",status="success"}}': "0+1x60",
    f'{RELOAD}{{{SIDECAR},target="prometheus",status="error"}}': "1x60",
    f"up{{{SIDECAR}}}": "1x60",
    'kube_pod_container_status_restarts_total{container="alertagent-sidecar",pod="prometheus-0"}': "1x60",
    f"up{{{GATEWAY}}}": "1x60",
    f"{QUEUE}{{{GATEWAY}}}": "0 4 0 0 7 2 0 " * 8 + "0",  # bursts drained each time
}


def faults() -> list[dict[str, Any]]:
    w, c, s = "warning", "critical", "alertagent-sidecar"
    return [
        _case(
            "watchdog always fires",
            {},
            "5m",
            "Watchdog",
            [{"alertname": "Watchdog", "severity": "none", "alertagent_selfmonitoring": "watchdog"}],
        ),
        _case(
            "operator not scraped", {f"up{{{OPERATOR}}}": "0x20"}, "10m", "AlertAgentOperatorDown", [{"severity": c}]
        ),
        _case(
            "operator gone from discovery", {"up{job='x'}": "1x20"}, "10m", "AlertAgentOperatorDown", [{"severity": c}]
        ),
        _case(
            "reconcile errors keep coming",
            {f'{RECONCILE}{{{OPERATOR},kind="AlertmanagerCluster",result="error"}}': "0+1x40"},
            "30m",
            "AlertAgentReconcileErrors",
            [{"severity": w, "kind": "AlertmanagerCluster"}],
        ),
        _case(
            "invalid objects stay",
            {f'{INVALID}{{{OPERATOR},kind="AlertRule"}}': "2x30"},
            "20m",
            "AlertAgentInvalidObjects",
            [{"severity": w, "kind": "AlertRule"}],
        ),
        _case(
            "target unreachable",
            {f'{HEALTH}{{{OPERATOR},cluster="mon/main",target="alertmanager"}}': "0x30"},
            "15m",
            "AlertAgentTargetUnhealthy",
            [{"severity": w, "cluster": "mon/main", "target": "alertmanager"}],
        ),
        _case(
            "reloads keep failing",
            {f'{RELOAD}{{{SIDECAR},target="prometheus",status="error"}}': "0+1x30"},
            "20m",
            "AlertAgentReloadFailures",
            [{"severity": w, "job": s, "target": "prometheus"}],
        ),
        _case(
            "sidecar not scraped",
            {f"up{{{SIDECAR}}}": "0x30"},
            "15m",
            "AlertAgentSidecarStale",
            [{"severity": w, "job": s}],
        ),
        _case(
            "sidecar restarted by its liveness probe (stale watch)",
            {'kube_pod_container_status_restarts_total{container="alertagent-sidecar",pod="prometheus-0"}': "0+1x60"},
            "45m",
            "AlertAgentSidecarStale",
            [{"severity": w, "container": s, "pod": "prometheus-0"}],
        ),
        _case("gateway not scraped", {f"up{{{GATEWAY}}}": "0x20"}, "10m", "AlertAgentGatewayDown", [{"severity": c}]),
        _case(
            "gateway queue grows",
            {f"{QUEUE}{{{GATEWAY}}}": "1+1x60"},
            "40m",
            "AlertAgentGatewayQueueGrowing",
            [{"severity": w, "job": "aa-alertagent-gateway"}],
        ),
    ]


def healthy() -> list[dict[str, Any]]:
    """Every alert but Watchdog silent on a healthy stack (queue bursts that drain, old counters, HA)."""
    cases = [_case(f"healthy: {a}", HEALTHY, "59m", a, []) for a in ALERTS[1:]]
    # A standby down during a rollout while the other replica is up is not "operator down".
    two = {f'up{{{OPERATOR},pod="a"}}': "1x20", f'up{{{OPERATOR},pod="b"}}': "0x20"}
    cases.append(_case("one of two replicas up", two, "15m", "AlertAgentOperatorDown", []))
    cases.append(
        _case("queue high but steady", {f"{QUEUE}{{{GATEWAY}}}": "5x60"}, "59m", "AlertAgentGatewayQueueGrowing", [])
    )
    cases.append(
        _case(
            "watchdog fires when healthy too",
            HEALTHY,
            "59m",
            "Watchdog",
            [{"alertname": "Watchdog", "severity": "none", "alertagent_selfmonitoring": "watchdog"}],
        )
    )
    return cases


def _with_alertname(case: dict[str, Any]) -> dict[str, Any]:
    for test in case["alert_rule_test"]:
        for alert in test["exp_alerts"]:
            alert["exp_labels"].setdefault("alertname", test["alertname"])
    return case


@needs_promtool
def test_promtool_fires_each_alert_on_its_fault_and_not_when_healthy(tmp_path: Path) -> None:
    groups = yaml.safe_load(rule_file())
    # Annotations are left out of promtool's comparison (it compares them exactly); their Go
    # templates are checked above by the operator's own validation, as promtool would.
    for group in groups["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups))
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [_with_alertname(c) for c in faults() + healthy()],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "tests.yaml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
