"""The rules pipeline end to end on the real test bed: AlertRule → operator → ConfigMaps → sidecar →
real Prometheus and vmalert → status."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes import watch as watch_module

from alertagent.devstack.agents import BIN, eventually, metric_value, start_operator, start_sidecar
from alertagent.devstack.controlplane import ControlPlane, table
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.processes import Process

GROUP, VERSION = "alertagent.io", "v1alpha1"


@dataclass
class Stack:
    plane: ControlPlane
    namespace: str
    prometheus: RuleTarget
    vmalert: RuleTarget
    log_dir: Path
    operator: Process
    operator_metrics_port: int
    sidecars: list[Process]
    sidecar_ports: list[int]

    def kubectl(self, *args: str, **kw: Any) -> Any:
        return self.plane.kubectl("-n", self.namespace, *args, **kw)

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))

    def rule_status(self, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", "alertrule", name, "-o", "json").stdout).get("status") or {}

    def restart_operator(self) -> None:
        self.operator.stop()
        self.operator, self.operator_metrics_port = start_operator(self.plane, self.log_dir, self.namespace)


def alert_rule(name: str, *rules: dict[str, Any], group: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AlertRule",
        "metadata": {"name": name},
        "spec": {"groups": [{"name": group or f"{name}.rules", "rules": list(rules)}]},
    }


@pytest.fixture
def stack(
    installed_crds: ControlPlane,
    namespace: str,
    prometheus: RuleTarget,
    vmalert: RuleTarget,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> Iterator[Stack]:
    cluster = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {
            "alertmanager": {"url": alertmanager.url},
            "ruleEvaluators": [
                {"name": "prometheus", "type": "prometheus", "url": prometheus.url},
                {"name": "vmalert", "type": "vmalert", "url": vmalert.url},
            ],
            "selectors": {"alertRules": {"namespaces": [namespace]}},
        },
    }
    installed_crds.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(cluster))
    operator, port = start_operator(installed_crds, tmp_path, namespace)
    started = [
        start_sidecar(installed_crds, tmp_path, namespace, "main", t.name, t.rules_dir, t.url)
        for t in (prometheus, vmalert)
    ]
    s = Stack(
        installed_crds,
        namespace,
        prometheus,
        vmalert,
        tmp_path,
        operator,
        port,
        [p for p, _ in started],
        [port for _, port in started],
    )
    try:
        yield s
    finally:
        for proc in [s.operator, *s.sidecars]:
            proc.stop()


def _synced(stack: Stack, name: str, expected: str = "2/2") -> dict[str, Any]:
    seen: list[dict[str, Any]] = [{}]

    def check() -> dict[str, Any] | None:
        rule = json.loads(stack.kubectl("get", "alertrule", name, "-o", "json").stdout)
        seen[0] = status = rule.get("status") or {}
        current = status.get("observedGeneration") == rule["metadata"]["generation"]  # as kstatus reads it
        synced = status.get("synced") == expected and status["conditions"][0]["status"] == "True"
        return status if current and synced else None

    try:
        return eventually(check, 45, what=f"{name} synced {expected}")  # type: ignore[no-any-return]
    except AssertionError as err:
        raise AssertionError(f"{err}; status: {json.dumps(seen[0], indent=1)}") from None


def rules_in(target: RuleTarget, file_name: str) -> dict[str, list[str]]:
    body = httpx.get(f"{target.url}/api/v1/rules", timeout=5).json()
    return {
        g["name"]: [r["name"] for r in g["rules"]]
        for g in body["data"]["groups"] or []
        if Path(g["file"]).name == file_name
    }


def test_apply_update_delete_reach_prometheus_and_vmalert(stack: Stack) -> None:
    ns = stack.namespace
    stack.apply(alert_rule("api", {"alert": "ApiDown", "expr": 'up{job="api"} == 0', "for": "1m"}))
    status = _synced(stack, "api")
    assert {(t["evaluator"], t["state"]) for t in status["targets"]} == {
        ("prometheus", "Synced"),
        ("vmalert", "Synced"),
    }
    for target in (stack.prometheus, stack.vmalert):
        assert rules_in(target, f"{ns}_api.yaml") == {"api.rules": ["ApiDown"]}
    [row] = table(stack.kubectl("get", "alertrules", "api").stdout)
    assert (row["RULES"], row["SYNCED"], row["READY"]) == ("1", "2/2", "True")
    for port in stack.sidecar_ports:
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'alertagent_config_reload_total{status="success",target=' in metrics

    stack.apply(
        alert_rule(
            "api",
            {"alert": "ApiDown", "expr": 'up{job="api"} == 0'},
            {"record": "job:up:sum", "expr": "sum by (job) (up)"},
        )
    )
    for target in (stack.prometheus, stack.vmalert):
        eventually(
            lambda t=target: rules_in(t, f"{ns}_api.yaml") == {"api.rules": ["ApiDown", "job:up:sum"]},
            what="update loaded",
        )
    _synced(stack, "api")

    stack.kubectl("delete", "alertrule", "api")
    for target in (stack.prometheus, stack.vmalert):
        eventually(lambda t=target: rules_in(t, f"{ns}_api.yaml") == {}, what="delete propagated")


def test_invalid_rule_is_left_out_alone_and_its_last_good_version_stays(
    stack: Stack, api_client: client.ApiClient
) -> None:
    ns = stack.namespace
    stack.apply(
        alert_rule("good", {"alert": "Good", "expr": "vector(1)"}),
        alert_rule("flaky", {"alert": "Flaky", "expr": "vector(1)"}),
    )
    _synced(stack, "good")
    _synced(stack, "flaky")

    stack.apply(alert_rule("flaky", {"alert": "Flaky", "expr": "sum(rate(x[5m])"}))
    status = eventually(lambda: (s := stack.rule_status("flaky")).get("validationErrors") and s, what="invalid status")
    [error] = status["validationErrors"]
    assert error == {
        "group": "flaky.rules",
        "rule": "Flaky",
        "field": "spec.groups[0].rules[0].expr",
        "message": "invalid PromQL: unclosed left parenthesis",
    }
    ready = status["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "Invalid")
    events = client.CoreV1Api(api_client).list_namespaced_event(ns, field_selector="involvedObject.name=flaky").items
    assert any(e.type == "Warning" and "unclosed left parenthesis" in e.message for e in events)

    # Others keep syncing; the invalid one keeps its last good version loaded.
    stack.apply(alert_rule("good", {"alert": "Good", "expr": "vector(1)"}, {"alert": "Better", "expr": "vector(2)"}))
    eventually(lambda: rules_in(stack.prometheus, f"{ns}_good.yaml") == {"good.rules": ["Good", "Better"]})
    assert rules_in(stack.prometheus, f"{ns}_flaky.yaml") == {"flaky.rules": ["Flaky"]}
    assert rules_in(stack.vmalert, f"{ns}_flaky.yaml") == {"flaky.rules": ["Flaky"]}

    # Fixing it clears the error and syncs.
    stack.apply(alert_rule("flaky", {"alert": "Fixed", "expr": "vector(1)"}))
    assert _synced(stack, "flaky")["validationErrors"] == []
    eventually(lambda: rules_in(stack.prometheus, f"{ns}_flaky.yaml") == {"flaky.rules": ["Fixed"]})


def test_many_rules_at_once_cause_one_write_per_shard(stack: Stack, api_client: client.ApiClient) -> None:
    # A burst is over after the quiet time without a change (0.25 s by default). On a loaded machine
    # kubectl's 30 creates once paused for longer than that (CI: runs of 1, 15 and 30 rules, three
    # writes a shard): what this test checks is that a burst coalesces, so it gives the burst 1 s.
    stack.operator.stop()
    stack.operator, stack.operator_metrics_port = start_operator(
        stack.plane, stack.log_dir, stack.namespace, debounce=1.0, env={"ALERTAGENT_BURST_QUIET_SECONDS": "1.0"}
    )
    rules = [alert_rule(f"r{i:02d}", {"alert": f"A{i}", "expr": "vector(1)"}) for i in range(30)]
    stack.apply(*rules)
    eventually(lambda: stack.rule_status("r29").get("synced") == "2/2", 60)
    core = client.CoreV1Api(api_client)
    shards = core.list_namespaced_config_map(stack.namespace, label_selector="alertagent.io/component=rules").items
    assert sorted(cm.metadata.name for cm in shards) == ["main-prometheus-rules-0", "main-vmalert-rules-0"]
    for cm in shards:
        assert len(cm.data) == 30
        [owner] = cm.metadata.owner_references
        assert (owner.kind, owner.name, owner.controller) == ("AlertmanagerCluster", "main", True)
    # The operator's distribution counter: writes (creates/updates) it made, per cluster.
    text = httpx.get(f"http://127.0.0.1:{stack.operator_metrics_port}/metrics", timeout=5).text
    writes = [line for line in text.splitlines() if line.startswith("alertagent_rule_distribution_total{")]
    assert writes and float(writes[0].rsplit(" ", 1)[1]) <= 4, writes  # 2 shards, at most one extra write each


def test_operator_restart_writes_nothing_and_reloads_nothing(stack: Stack, api_client: client.ApiClient) -> None:
    stack.apply(alert_rule("steady", {"alert": "Steady", "expr": "vector(1)"}))
    _synced(stack, "steady")
    core = client.CoreV1Api(api_client)

    def versions() -> dict[str, str]:
        items = core.list_namespaced_config_map(stack.namespace, label_selector="alertagent.io/component=rules").items
        return {cm.metadata.name: cm.metadata.resource_version for cm in items}

    def last_reload() -> float:
        text = httpx.get(f"{stack.prometheus.url}/metrics", timeout=5).text
        line = next(
            x for x in text.splitlines() if x.startswith("prometheus_config_last_reload_success_timestamp_seconds")
        )
        return float(line.split()[-1])

    before, reloaded_at = versions(), last_reload()
    stack.restart_operator()
    eventually(
        lambda: httpx.get(f"http://127.0.0.1:{stack.operator_metrics_port}/metrics").text.count(
            'alertagent_reconcile_total{kind="AlertmanagerCluster",result="ok"}'
        ),
        what="a reconcile after restart",
    )
    assert versions() == before
    assert last_reload() == reloaded_at
    assert stack.rule_status("steady")["synced"] == "2/2"


def test_deleting_the_cluster_garbage_collects_its_config_maps(stack: Stack, api_client: client.ApiClient) -> None:
    channel = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NotificationChannel",
        "metadata": {"name": "hooks"},
        "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/hook"}},
    }
    stack.apply(alert_rule("doomed", {"alert": "Doomed", "expr": "vector(1)"}), channel)
    _synced(stack, "doomed")

    def channel_status() -> dict[str, Any]:
        return json.loads(stack.kubectl("get", "nc", "hooks", "-o", "json").stdout).get("status") or {}

    eventually(lambda: channel_status().get("clusters") == [f"{stack.namespace}/main"], what="channel in main")
    core = client.CoreV1Api(api_client)
    selector = "alertagent.io/component=rules"
    assert len(core.list_namespaced_config_map(stack.namespace, label_selector=selector).items) == 2
    stack.kubectl("delete", "alertmanagercluster", "main", "--wait=true", "--timeout=60s")
    eventually(
        lambda: core.list_namespaced_config_map(stack.namespace, label_selector=selector).items == [],
        60,
        what="ConfigMaps garbage-collected",
    )
    # The channel no longer lists the deleted cluster (and says nothing selects it).
    eventually(lambda: channel_status().get("clusters") == [], 30, what="channel forgets the deleted cluster")
    assert channel_status()["conditions"][0]["reason"] == "NotSelected"


def test_target_down_shows_failure_and_converges_when_it_returns(stack: Stack) -> None:
    ns = stack.namespace
    stack.apply(alert_rule("svc", {"alert": "V1", "expr": "vector(1)"}))
    _synced(stack, "svc")
    stack.prometheus.stop()
    stack.apply(alert_rule("svc", {"alert": "V2", "expr": "vector(1)"}))

    def prometheus_failed_vmalert_synced() -> dict[str, Any] | None:
        targets = {t["evaluator"]: t for t in stack.rule_status("svc").get("targets", [])}
        states = {name: t["state"] for name, t in targets.items()}
        return targets if states == {"prometheus": "Failed", "vmalert": "Synced"} else None

    targets = eventually(prometheus_failed_vmalert_synced, 45, what="prometheus Failed, vmalert Synced")
    assert "reload" in targets["prometheus"]["message"] and "ConnectError" in targets["prometheus"]["message"]
    [row] = table(stack.kubectl("get", "alertrule", "svc").stdout)
    assert (row["SYNCED"], row["READY"]) == ("1/2", "False")

    stack.prometheus.start_again("/-/ready")
    _synced(stack, "svc")
    assert rules_in(stack.prometheus, f"{ns}_svc.yaml") == {"svc.rules": ["V2"]}


def test_cluster_status_reports_health_and_rule_counts(stack: Stack) -> None:
    stack.apply(alert_rule("counted", {"alert": "A", "expr": "vector(1)"}, {"alert": "B", "expr": "vector(1)"}))
    _synced(stack, "counted")

    def cluster_row() -> dict[str, str] | None:
        [row] = table(stack.kubectl("get", "amc", "main").stdout)
        return row if (row["HEALTHY"], row["RULES"], row["READY"]) == ("3/3", "2", "True") else None

    try:
        row = eventually(cluster_row, 30, what="cluster healthy with 2 rules")
    except AssertionError:
        print(stack.kubectl("get", "amc", "main", "-o", "yaml").stdout)
        raise
    assert row["ALERTMANAGER"].startswith("http://127.0.0.1:")
    status = json.loads(stack.kubectl("get", "amc", "main", "-o", "json").stdout)["status"]
    by_name = {t["name"]: t for t in status["targets"]}
    assert by_name["alertmanager"]["version"] == "0.25.0" and by_name["alertmanager"]["peers"] == 0
    assert by_name["prometheus"]["version"].startswith("2.") and by_name["prometheus"]["rules"] == 2
    assert by_name["vmalert"]["rules"] == 2

    stack.vmalert.stop()
    eventually(lambda: table(stack.kubectl("get", "amc", "main").stdout)[0]["HEALTHY"] == "2/3", 30)
    ready = json.loads(stack.kubectl("get", "amc", "main", "-o", "json").stdout)["status"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "TargetsUnhealthy") and "vmalert" in ready["message"]


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "alertagent"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(stack.plane.kubeconfig)},
    )


def test_revisions_history_diff_and_rollback_end_to_end(stack: Stack, api_client: client.ApiClient) -> None:
    ns = stack.namespace
    stack.apply(alert_rule("versioned", {"alert": "First", "expr": "vector(1)"}))
    assert _synced(stack, "versioned")["revision"] == 1
    stack.apply(alert_rule("versioned", {"alert": "Second", "expr": "vector(2)"}))
    eventually(lambda: rules_in(stack.prometheus, f"{ns}_versioned.yaml") == {"versioned.rules": ["Second"]})
    assert _synced(stack, "versioned")["revision"] == 2

    history = _cli(stack, "rules", "history", "versioned", "-n", ns)
    assert history.returncode == 0, history.stderr
    assert [line.split()[0] for line in history.stdout.splitlines()[1:]] == ["1", "2"]

    diff = _cli(stack, "rules", "diff", "versioned", "-n", ns, "--from", "1", "--to", "2")
    assert diff.returncode == 0, diff.stderr
    assert "-  - alert: First" in diff.stdout and "+  - alert: Second" in diff.stdout

    rollback = _cli(stack, "rules", "rollback", "versioned", "-n", ns, "--to", "1")
    assert rollback.returncode == 0, rollback.stderr
    eventually(lambda: rules_in(stack.prometheus, f"{ns}_versioned.yaml") == {"versioned.rules": ["First"]})
    eventually(lambda: rules_in(stack.vmalert, f"{ns}_versioned.yaml") == {"versioned.rules": ["First"]})
    try:
        eventually(lambda: stack.rule_status("versioned").get("revision") == 3, what="rollback is revision 3")
    except AssertionError:
        print(stack.kubectl("get", "controllerrevisions", "-o", "yaml").stdout, stack.rule_status("versioned"))
        raise
    _synced(stack, "versioned")
    history = _cli(stack, "rules", "history", "versioned", "-n", ns).stdout
    assert [line.split()[0] for line in history.splitlines()[1:]] == ["2", "3"]
    events = client.CoreV1Api(api_client).list_namespaced_event(ns, field_selector="involvedObject.name=versioned")
    assert any(e.reason == "RolledBack" and "revision 1" in e.message for e in events.items)

    missing = _cli(stack, "rules", "rollback", "versioned", "-n", ns, "--to", "9")
    assert missing.returncode == 2 and "has no revision 9" in missing.stderr


def test_after_a_restart_no_status_regresses(stack: Stack, api_client: client.ApiClient) -> None:
    """Every status the operator wrote before a restart is what a watch sees throughout the restart: the
    AlertRule, channel and policy are not written at all, and the cluster's status changes only in its
    probe times (the operator waits for each cluster's first reconcile before writing member statuses)."""
    stack.apply(
        alert_rule("steady", {"alert": "Steady", "expr": "vector(1)"}),
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "NotificationChannel",
            "metadata": {"name": "hooks"},
            "spec": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/hook"}, "route": {}},
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SuppressionPolicy",
            "metadata": {"name": "quiet"},
            "spec": {
                "matchers": [{"name": "service", "value": "api"}],
                "maintenanceWindows": [
                    {"name": "always", "recurring": {"times": [{"startTime": "00:00", "endTime": "24:00"}]}}
                ],
                "inhibitRules": [
                    {
                        "sourceMatchers": [{"name": "severity", "value": "critical"}],
                        "targetMatchers": [{"name": "severity", "value": "warning"}],
                    }
                ],
            },
        },
    )
    _synced(stack, "steady")
    custom = client.CustomObjectsApi(api_client)
    plurals = ("alertrules", "notificationchannels", "suppressionpolicies", "alertmanagerclusters")

    def objects() -> dict[str, dict[str, Any]]:
        return {
            f"{plural}/{item['metadata']['name']}": item
            for plural in plurals
            for item in custom.list_namespaced_custom_object(GROUP, VERSION, stack.namespace, plural)["items"]
        }

    def ready(obj: dict[str, Any]) -> bool:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return bool(conditions) and conditions[0]["status"] == "True" and conditions[0]["reason"] != "NotSelected"

    eventually(lambda: len(objects()) == 4 and all(ready(o) for o in objects().values()), 30, what="all four Ready")
    time.sleep(2)  # let the last status writes settle

    def without_probe_times(status: dict[str, Any]) -> dict[str, Any]:
        targets = [{k: v for k, v in t.items() if k != "lastCheckTime"} for t in status.get("targets") or []]
        conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []]
        return {**status, "targets": targets, "conditions": conditions}

    before = objects()
    seen: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()

    errors: list[BaseException] = []

    def watch(plural: str) -> None:
        stream = watch_module.Watch()
        listed = custom.list_namespaced_custom_object(GROUP, VERSION, stack.namespace, plural)
        try:
            for event in stream.stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                stack.namespace,
                plural,
                resource_version=listed["metadata"]["resourceVersion"],
                timeout_seconds=20,
            ):
                seen.append((f"{plural}/{event['object']['metadata']['name']}", event["object"]))
        except Exception as err:  # a watch that broke before the end would miss a regression
            if not stop.is_set():
                errors.append(err)

    watchers = [threading.Thread(target=watch, args=(p,), daemon=True) for p in plurals]
    for thread in watchers:
        thread.start()
    stack.restart_operator()
    eventually(
        lambda: metric_value(stack.operator_metrics_port, "alertagent_reconcile_total", {"result": "ok"}) >= 3,
        what="reconciles after the restart",
    )
    time.sleep(3)  # several health intervals (1 s here), each followed by a status step
    after = objects()
    for thread in watchers:
        thread.join(timeout=30)  # each watch ends by itself (timeout_seconds)
    stop.set()
    assert errors == []
    for key in ("alertrules/steady", "notificationchannels/hooks", "suppressionpolicies/quiet"):
        assert after[key]["metadata"]["resourceVersion"] == before[key]["metadata"]["resourceVersion"], key
    assert [k for k, _ in seen if not k.startswith("alertmanagerclusters/")] == []
    expected = without_probe_times(before["alertmanagerclusters/main"]["status"])
    for key, obj in seen:
        assert without_probe_times(obj.get("status") or {}) == expected, f"{key} regressed: {obj.get('status')}"
