"""GitOps health: AlertAgent's objects as kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute,
what Flux's health checks and `kpt live status` run) judges them, by the real library: a Go checker
(devstack/tools/kstatus, built and cached by devstack/build-kstatus.sh on first use).

On the real test bed with the operator running, for every kind: objects that are current (valid and
live), in progress (written and waiting for a sidecar; or changed while the operator was away, so
metadata.generation is ahead of status.observedGeneration) and failed (invalid, or naming a cluster
that does not exist, or a cluster whose targets do not answer), fetched from the API server. The
Incident is written as the gateway writes it (its pure status, through the status subresource); an
Incident has no failed state. Then every Ready reason of every kind, from the pure status functions
(tests/unit/test_kstatus_conditions.py), through the same checker."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.incidents import record, track
from tests.unit.test_kstatus_conditions import BODIES, CASES, CURRENT, FAILED, IN_PROGRESS, INCIDENT

GROUP = "alertagent.io/v1alpha1"
BUILD = Path(__file__).resolve().parents[2] / "operator" / "alertagent" / "devstack" / "build-kstatus.sh"
KINDS = "alertrules,alertmanagerclusters,notificationchannels,suppressionpolicies,incidents"
EXPECTED = {CURRENT: "Current", IN_PROGRESS: "InProgress", FAILED: "Failed"}


@pytest.fixture(scope="session")
def kstatus() -> Path:
    """The checker binary (built once per cli-utils version and source; ~10 s the first time)."""
    built = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip().splitlines()[-1])


def judge(binary: Path, objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """(kind, name) → the checker's verdict (`status`, `message`, `error`)."""
    out = subprocess.run(
        [str(binary)], input=json.dumps(objects), capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    return {(r["kind"], r["name"]): r for r in json.loads(out.stdout)}


def _rule(name: str, expr: str, targets: list[str]) -> dict[str, Any]:
    group = {"name": f"{name}.rules", "rules": [{"alert": "Up", "expr": expr}]}
    return {
        "apiVersion": GROUP,
        "kind": "AlertRule",
        "metadata": {"name": name},
        "spec": {"groups": [group], "targets": targets},
    }


def _cluster(name: str, alertmanager: str, evaluator: str, evaluator_reload: str) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": name},
        "spec": {
            "alertmanager": {"url": alertmanager, "reloadMode": "None"},
            "ruleEvaluators": [{"name": "p", "type": "prometheus", "url": evaluator, "reloadMode": evaluator_reload}],
        },
    }


def _channel(name: str, url: str, targets: list[str]) -> dict[str, Any]:
    spec = {"type": "webhook", "webhook": {"url": url}, "route": {}, "targets": targets}
    return {"apiVersion": GROUP, "kind": "NotificationChannel", "metadata": {"name": name}, "spec": spec}


def _policy(name: str, source: str, targets: list[str]) -> dict[str, Any]:
    inhibit = {
        "sourceMatchers": [{"name": "alertname", "value": source}],
        "targetMatchers": [{"name": "severity", "value": "warning"}],
    }
    return {
        "apiVersion": GROUP,
        "kind": "SuppressionPolicy",
        "metadata": {"name": name},
        "spec": {"inhibitRules": [inhibit], "targets": targets},
    }


def test_every_kind_is_current_in_progress_or_failed_as_kstatus_reads_it(
    installed_crds: ControlPlane,
    namespace: str,
    prometheus: RuleTarget,
    alertmanager: AlertmanagerTarget,
    kstatus: Path,
    tmp_path: Path,
) -> None:
    plane = installed_crds
    kubectl = lambda *a, **kw: plane.kubectl("-n", namespace, *a, **kw)  # noqa: E731
    objects = [
        # Current: a live cluster (both targets answer; reloadMode None: written is loaded) and what it renders.
        _cluster("main", alertmanager.url, prometheus.url, "None"),
        _rule("live", "vector(1)", ["main"]),
        _channel("live", "http://127.0.0.1:9/hook", ["main"]),
        _policy("live", "DatabaseDown", ["main"]),
        # In progress: a cluster whose evaluator is synced by a sidecar that has not reported yet.
        _cluster("waiting", alertmanager.url, prometheus.url, "Sidecar"),
        _rule("waiting", "vector(2)", ["waiting"]),
        # Failed: a cluster whose targets do not answer; an invalid rule; a typo in spec.targets.
        _cluster("down", "http://127.0.0.1:9", "http://127.0.0.1:9", "None"),
        _rule("invalid", "sum(", ["main"]),
        _channel("typo", "http://127.0.0.1:9/hook", ["mian"]),
        _policy("typo", "DatabaseDown", ["mian"]),
    ]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    incident = _write_incident(plane, namespace)

    expected = {
        ("AlertmanagerCluster", "main"): "Current",
        ("AlertRule", "live"): "Current",
        ("NotificationChannel", "live"): "Current",
        ("SuppressionPolicy", "live"): "Current",
        ("Incident", incident): "Current",
        ("AlertmanagerCluster", "waiting"): "Current",
        ("AlertRule", "waiting"): "InProgress",
        ("AlertmanagerCluster", "down"): "Failed",
        ("AlertRule", "invalid"): "Failed",
        ("NotificationChannel", "typo"): "Failed",
        ("SuppressionPolicy", "typo"): "Failed",
    }

    def fetched() -> list[dict[str, Any]]:
        return json.loads(kubectl("get", KINDS, "-o", "json").stdout)["items"]  # type: ignore[no-any-return]

    def settle(wanted: dict[tuple[str, str], str]) -> None:
        def check() -> bool:
            got = {key: r["status"] for key, r in judge(kstatus, fetched()).items()}
            assert got == wanted  # `eventually` fails with the last difference
            return True

        eventually(check, 90, what="the kstatus verdicts")

    # Long enough for the sidecar-less rule to stay Pending (not Stalled) for the whole test.
    env = {"ALERTAGENT_PENDING_WARN_SECONDS": "900"}
    operator, _ = start_operator(plane, tmp_path, namespace, env=env)
    try:
        settle(expected)
        items = {(o["kind"], o["metadata"]["name"]): o for o in fetched()}
        for key, obj in items.items():
            status, generation = obj["status"], obj["metadata"]["generation"]
            by_type = {c["type"]: c for c in status["conditions"]}
            assert {"Ready", "Reconciling", "Stalled"} <= set(by_type), key
            assert status["observedGeneration"] == generation, key
            assert all(c["observedGeneration"] == generation for c in by_type.values()), key
        waiting = {c["type"]: c for c in items[("AlertRule", "waiting")]["status"]["conditions"]}
        assert (waiting["Reconciling"]["status"], waiting["Reconciling"]["reason"]) == ("True", "Pending")
        assert items[("AlertRule", "invalid")]["status"]["conditions"][2]["reason"] == "Invalid"
        assert items[("NotificationChannel", "typo")]["status"]["conditions"][2]["reason"] == "UnknownTarget"
    finally:
        operator.stop()

    # A change while the operator is away (a GitOps sync before it acted): generation is ahead of
    # observedGeneration, every kind is in progress whatever its conditions say.
    main = _cluster("main", alertmanager.url, prometheus.url, "None")
    main["spec"]["route"] = {"groupWait": "45s"}
    changed = [
        main,
        _rule("live", "vector(3)", ["main"]),
        _channel("live", "http://127.0.0.1:9/other", ["main"]),
        _policy("live", "CacheDown", ["main"]),
    ]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(changed))
    kubectl("patch", "incident", incident, "--type=merge", "-p", json.dumps({"spec": {"cluster": f"{namespace}/down"}}))
    judged = judge(kstatus, fetched())
    for key in [
        ("AlertmanagerCluster", "main"),
        ("AlertRule", "live"),
        ("NotificationChannel", "live"),
        ("SuppressionPolicy", "live"),
    ]:
        assert judged[key]["status"] == "InProgress", judged[key]
        assert "generation is 2, but latest observed generation is 1" in judged[key]["message"]
    # Nobody acts on an Incident's spec (AlertAgent writes it once): a hand edit stays in progress.
    assert judged[("Incident", incident)]["status"] == "InProgress"

    # The operator back: it observes the new generation and the objects are current again.
    operator, _ = start_operator(plane, tmp_path, namespace, env=env)
    try:
        back = {key: v for key, v in expected.items() if key[0] != "Incident"} | {("Incident", incident): "InProgress"}
        settle(back)
    finally:
        operator.stop()


def _write_incident(plane: ControlPlane, namespace: str) -> str:
    """An Incident as the gateway writes it: the object, then its status through the subresource."""
    incident = INCIDENT
    body = record.incident_object(incident, f"{namespace}/main", namespace)
    plane.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(body))
    status = record.incident_status(incident)
    plane.kubectl(
        "-n", namespace, "patch", "incident", incident.name, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    return incident.name


@pytest.mark.parametrize(
    ("kind", "reason"), [(kind, reason) for kind, reasons in sorted(CASES.items()) for reason in sorted(reasons)]
)
def test_every_reason_of_every_kind_is_what_kstatus_makes_of_it(kstatus: Path, kind: str, reason: str) -> None:
    make, triple = CASES[kind][reason]
    status = make(BODIES[kind])
    obj = {"apiVersion": GROUP, "kind": kind, "metadata": BODIES[kind]["metadata"], "status": status}
    verdict = judge(kstatus, [obj])[(kind, "x")]
    assert verdict["status"] == EXPECTED[triple], verdict
    if verdict["status"] != "Current":
        assert verdict["message"] == status["conditions"][0]["message"]  # the reason's message, as Flux shows it


def test_an_incident_is_current_as_the_gateway_writes_it(kstatus: Path) -> None:
    for incident in (INCIDENT, replace(INCIDENT, state=track.RESOLVED, resolved=INCIDENT.started + 60)):
        body = record.incident_object(incident, "monitoring/main", "shop")
        obj = {**body, "metadata": {**body["metadata"], "generation": 1}, "status": record.incident_status(incident)}
        assert judge(kstatus, [obj])[("Incident", incident.name)]["status"] == "Current"
