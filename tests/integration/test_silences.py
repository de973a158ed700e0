"""One-off windows become real Alertmanager silences: created before they start, updated when the
window changes, never duplicated across operator restarts, expired when the window is removed; two
clusters (two operators) on one Alertmanager each keep their own silences, with no churn, adopt the
silences older versions made and make again, and report, one someone expired."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client

from alertagent.api.alertmanagercluster import AlertmanagerCluster
from alertagent.devstack.agents import eventually, start_operator
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.plans.alertmanager import secret_name
from tests.conftest import extra_namespaces

GROUP = "alertagent.io/v1alpha1"


def _ours(alertmanager: AlertmanagerTarget) -> list[dict[str, Any]]:
    silences = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
    return [s for s in silences if s["createdBy"] == "alertagent" and s["status"]["state"] != "expired"]


def test_one_off_window_silence_lifecycle(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    plane = installed_crds
    window = {"name": "upgrade", "start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z", "comment": "db"}
    policy = {
        "apiVersion": GROUP,
        "kind": "SuppressionPolicy",
        "metadata": {"name": "maint"},
        "spec": {"matchers": [{"name": "service", "value": "db"}], "maintenanceWindows": [window]},
    }
    cluster = {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {"alertmanager": {"url": alertmanager.url}},
    }
    apply = lambda *objs: plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objs))  # noqa: E731
    apply(cluster, policy)
    operator, _ = start_operator(plane, tmp_path, namespace)
    try:
        [silence] = eventually(lambda: _ours(alertmanager), 30, what="silence created")
        assert silence["status"]["state"] == "pending"  # created before the window starts
        # The policy lives in the cluster's own namespace, so no namespace matcher is added.
        assert [(m["name"], m["value"]) for m in silence["matchers"]] == [("service", "db")]
        assert (
            silence["comment"]
            == f"alertagent.io/window={namespace}/maint/upgrade alertagent.io/cluster={namespace}/main db"
        )

        def status_ids() -> list[str]:
            status = json.loads(plane.kubectl("-n", namespace, "get", "sp", "maint", "-o", "json").stdout)
            return [s["id"] for s in (status.get("status") or {}).get("silences") or []]

        eventually(lambda: status_ids() == [silence["id"]], 30, what="silence id in status")

        # Moving the window updates the silence (still exactly one).
        apply({**policy, "spec": {**policy["spec"], "maintenanceWindows": [{**window, "end": "2030-01-01T05:00:00Z"}]}})
        eventually(lambda: [s["endsAt"][:19] for s in _ours(alertmanager)] == ["2030-01-01T05:00:00"], 30)

        # A restart finds it again instead of creating another.
        operator.stop()
        operator, _ = start_operator(plane, tmp_path, namespace)
        eventually(lambda: len(status_ids()) == 1, 30)
        assert len(_ours(alertmanager)) == 1

        # Removing the window expires the silence.
        apply({**policy, "spec": {**policy["spec"], "maintenanceWindows": []}})
        eventually(lambda: _ours(alertmanager) == [], 30, what="silence expired")
    finally:
        operator.stop()


def test_a_window_already_started_gets_one_silence_not_one_per_reconcile(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """Alertmanager starts a silence whose start is past at its creation time; the operator must take
    that for the window's silence, not replace it at every health check (1 s here)."""
    plane = installed_crds
    now = datetime.now(UTC)
    window = {
        "name": "now",
        "start": (now - timedelta(minutes=1)).isoformat(),
        "end": (now + timedelta(hours=2)).isoformat(),
    }
    objects = [
        {
            "apiVersion": GROUP,
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {"alertmanager": {"url": alertmanager.url}},
        },
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "maint"},
            "spec": {"matchers": [{"name": "service", "value": "db"}], "maintenanceWindows": [window]},
        },
    ]
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, namespace)
    try:
        [silence] = eventually(lambda: _ours(alertmanager), 30, what="silence created")
        assert silence["status"]["state"] == "active"
        time.sleep(6)  # several health checks, each a reconcile of the silences
        every = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
        assert [s["id"] for s in every if s["createdBy"] == "alertagent"] == [silence["id"]]
    finally:
        operator.stop()


def test_a_window_added_while_the_config_cannot_be_written_gets_its_silence_once_it_can(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """A health probe skips the silences step while its last run had nothing to do for the policies it
    planned from. Here that run planned from a stale config: the alertmanager.yaml with the new policy
    could not be written (its Secret made immutable), so the silences step ran on the one before. Once
    the config is written, a probe creates the window's silence."""
    plane = installed_crds
    cluster = {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {"alertmanager": {"url": alertmanager.url}},
    }
    window = {"name": "upgrade", "start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z"}
    inhibit = {
        "sourceMatchers": [{"name": "alertname", "value": "DatabaseDown"}],
        "targetMatchers": [{"name": "severity", "value": "warning"}],
        "equal": ["namespace"],
    }
    policy = {
        "apiVersion": GROUP,
        "kind": "SuppressionPolicy",
        "metadata": {"name": "maint"},
        "spec": {  # its inhibit rule changes alertmanager.yaml
            "matchers": [{"name": "service", "value": "db"}],
            "maintenanceWindows": [window],
            "inhibitRules": [inhibit],
        },
    }
    kubectl = lambda *args, **kw: plane.kubectl("-n", namespace, *args, **kw)  # noqa: E731
    secret = secret_name(AlertmanagerCluster.model_validate(cluster))

    def cluster_status() -> str:
        return json.dumps(json.loads(kubectl("get", "amc", "main", "-o", "json").stdout).get("status") or {})

    kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    operator, _ = start_operator(plane, tmp_path, namespace)
    try:
        eventually(lambda: '"reason": "Healthy"' in cluster_status(), 60, what="cluster healthy")
        time.sleep(3)  # idle probes (1 s apart here): nothing to do for silences
        kubectl("patch", "secret", secret, "--type=merge", "-p", '{"immutable": true}')
        kubectl("apply", "-f", "-", input=yaml.safe_dump(policy))
        eventually(lambda: "immutable" in cluster_status(), 30, what="the config write refused")
        assert _ours(alertmanager) == []
        kubectl("delete", "secret", secret)  # the next write can create it
        [silence] = eventually(lambda: _ours(alertmanager), 30, what="the window's silence")
        assert silence["endsAt"][:19] == "2030-01-01T03:00:00"
    finally:
        operator.stop()


def test_a_silence_an_alertmanager_restart_brings_back_after_its_window_went_is_expired(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """Alertmanager restores silences from its last snapshot: killed after the operator expired a
    window's silence, it comes back with the silence active. A probe that finds a new start time runs
    the silences step, even while it had nothing left to do."""
    plane = installed_crds
    now = datetime.now(UTC)
    window = {"name": "now", "start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
    policy = {
        "apiVersion": GROUP,
        "kind": "SuppressionPolicy",
        "metadata": {"name": "maint"},
        "spec": {"matchers": [{"name": "service", "value": "db"}], "maintenanceWindows": [window]},
    }
    cluster = {
        "apiVersion": GROUP,
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {"alertmanager": {"url": alertmanager.url}},
    }
    apply = lambda *objs: plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objs))  # noqa: E731
    apply(cluster, policy)
    operator, _ = start_operator(plane, tmp_path, namespace)
    try:
        [silence] = eventually(lambda: _ours(alertmanager), 30, what="silence created")
        alertmanager.stop()  # a graceful stop writes the snapshot: the silence is in it
        alertmanager.start_again("/-/ready")
        assert [s["id"] for s in _ours(alertmanager)] == [silence["id"]]
        apply({**policy, "spec": {**policy["spec"], "maintenanceWindows": []}})
        eventually(lambda: _ours(alertmanager) == [], 30, what="silence expired")
        time.sleep(3)  # idle probes (1 s apart here): nothing left for the silences step
        os.kill(operator.popen.pid, signal.SIGSTOP)  # paused, so the restored silence can be seen first
        try:
            os.killpg(alertmanager.process.popen.pid, signal.SIGKILL)  # no snapshot of the expiry
            alertmanager.process.popen.wait(10)
            alertmanager.start_again("/-/ready")
            assert [s["id"] for s in _ours(alertmanager)] == [silence["id"]], "the snapshot had it active"
        finally:
            os.kill(operator.popen.pid, signal.SIGCONT)
        eventually(lambda: _ours(alertmanager) == [], 30, what="the restored silence expired again")
    finally:
        operator.stop()


def _owner(silence: dict[str, Any]) -> str:
    """The cluster a silence's comment names (empty for the format before clusters were named)."""
    tokens = silence["comment"].split(" ")
    return next((t.split("=", 1)[1] for t in tokens[1:2] if t.startswith("alertagent.io/cluster=")), "")


def _policy_silences(plane: ControlPlane, namespace: str, name: str) -> list[str]:
    policy = json.loads(plane.kubectl("-n", namespace, "get", "sp", name, "-o", "json").stdout)
    return [s["id"] for s in (policy.get("status") or {}).get("silences") or []]


def test_two_clusters_on_one_alertmanager_keep_their_own_silences(
    installed_crds: ControlPlane,
    api_client: client.ApiClient,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    tmp_path: Path,
) -> None:
    """The tester's case: the demo's cluster and one in `ha-test` share one Alertmanager, each run by its
    own operator. Each keeps its own silence and expires nothing of the other's over several health
    intervals (1 s here); a silence made by a version before silences named their cluster is adopted in
    place (same id), one whose policy nobody selects is left alone; a silence expired by hand is made
    again, and the policy's status and a Warning Event say so."""
    plane, other = installed_crds, f"{namespace[:50]}-ha"
    now = datetime.now(UTC)
    later = {"name": "upgrade", "start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z", "comment": "db"}
    started = {
        "name": "now",
        "start": (now - timedelta(minutes=1)).isoformat(),
        "end": (now + timedelta(hours=2)).isoformat(),
    }

    def objects(ns: str, window: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "apiVersion": GROUP,
                "kind": "AlertmanagerCluster",
                "metadata": {"name": "main"},
                "spec": {"alertmanager": {"url": alertmanager.url}},
            },
            {
                "apiVersion": GROUP,
                "kind": "SuppressionPolicy",
                "metadata": {"name": "maint"},
                "spec": {"matchers": [{"name": "service", "value": ns}], "maintenanceWindows": [window]},
            },
        ]

    def post(comment: str, service: str, window: dict[str, str]) -> str:
        body = {
            "matchers": [{"name": "service", "value": service, "isRegex": False, "isEqual": True}],
            "startsAt": window["start"],
            "endsAt": window["end"],
            "createdBy": "alertagent",
            "comment": comment,
        }
        response = httpx.post(f"{alertmanager.url}/api/v2/silences", json=body, timeout=5)
        response.raise_for_status()
        return str(response.json()["silenceID"])

    # Made before silences named their cluster: one for the demo cluster's window, one for a policy
    # that neither cluster selects.
    legacy = post(f"alertagent.io/window={namespace}/maint/upgrade db", namespace, later)
    orphan = post("alertagent.io/window=elsewhere/gone/w", "gone", later)
    with extra_namespaces(api_client, (other,)):
        plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects(namespace, later)))
        plane.kubectl("-n", other, "apply", "-f", "-", input=yaml.safe_dump_all(objects(other, started)))
        env = {"ALERTAGENT_HEALTH_INTERVAL_SECONDS": "1"}
        (tmp_path / "demo").mkdir()
        (tmp_path / "ha").mkdir()
        demo, _ = start_operator(plane, tmp_path / "demo", namespace, env=env)
        try:
            ha, _ = start_operator(plane, tmp_path / "ha", other, env=env)
            try:

                def owners() -> dict[str, str]:
                    return {_owner(s): s["id"] for s in _ours(alertmanager)}

                live = eventually(
                    lambda: (o := owners()).keys() == {f"{namespace}/main", f"{other}/main", ""} and o,
                    60,
                    what="one silence per cluster",
                )
                assert live[f"{namespace}/main"] == legacy  # adopted in place, not replaced
                assert live[""] == orphan  # nobody's to expire
                eventually(lambda: _policy_silences(plane, namespace, "maint") == [legacy], 30, what="demo status")
                eventually(
                    lambda: _policy_silences(plane, other, "maint") == [live[f"{other}/main"]], 30, what="ha status"
                )

                every = {
                    s["id"]: s["status"]["state"]
                    for s in httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
                }
                time.sleep(5)  # five health intervals of each operator, each a silences step
                again = {
                    s["id"]: s["status"]["state"]
                    for s in httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
                }
                assert again == every  # nothing created, nothing expired: no churn
                assert owners() == live

                # Expired by hand: the ha cluster makes it again, its status and an Event say so.
                httpx.delete(f"{alertmanager.url}/api/v2/silence/{live[f'{other}/main']}", timeout=5).raise_for_status()
                renewed = eventually(
                    lambda: (o := owners()).get(f"{other}/main") not in (None, live[f"{other}/main"]) and o,
                    30,
                    what="silence made again",
                )
                assert renewed[f"{namespace}/main"] == legacy and renewed[""] == orphan
                eventually(
                    lambda: _policy_silences(plane, other, "maint") == [renewed[f"{other}/main"]], 30, what="status"
                )
                events = json.loads(
                    plane.kubectl(
                        "-n", other, "get", "events", "--field-selector", "reason=SilenceRecreated", "-o", "json"
                    ).stdout
                )["items"]
                assert [e["involvedObject"]["name"] for e in events] == ["maint"]
                assert live[f"{other}/main"] in events[0]["message"]
            finally:
                ha.stop()
        finally:
            demo.stop()


def test_deleting_a_cluster_expires_its_silences_and_only_its_own(
    installed_crds: ControlPlane, namespace: str, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    """The tester's case: `kubectl delete amc am2` left am2's pending silence behind, to mute alerts when
    its window came. Deleting the cluster expires its silence in Alertmanager before the finalizer goes;
    am1's silence for the same window on the same Alertmanager stays."""
    plane = installed_crds
    window = {"name": "upgrade", "start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z", "comment": "db"}
    objects = [
        *(
            {
                "apiVersion": GROUP,
                "kind": "AlertmanagerCluster",
                "metadata": {"name": name},
                "spec": {"alertmanager": {"url": alertmanager.url}},
            }
            for name in ("am1", "am2")
        ),
        {
            "apiVersion": GROUP,
            "kind": "SuppressionPolicy",
            "metadata": {"name": "maint"},
            "spec": {"matchers": [{"name": "service", "value": "db"}], "maintenanceWindows": [window]},
        },
    ]
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
    operator, _ = start_operator(plane, tmp_path, namespace)
    try:

        def owners() -> dict[str, str]:
            return {_owner(s): s["id"] for s in _ours(alertmanager) if _owner(s).startswith(f"{namespace}/")}

        live = eventually(
            lambda: (o := owners()).keys() == {f"{namespace}/am1", f"{namespace}/am2"} and o,
            60,
            what="a silence per cluster",
        )
        plane.kubectl("-n", namespace, "delete", "amc", "am2", "--timeout=30s")  # returns once the finalizer is gone
        states = {
            s["id"]: s["status"]["state"] for s in httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
        }
        assert states[live[f"{namespace}/am2"]] == "expired"  # already, not eventually: before the finalizer went
        assert states[live[f"{namespace}/am1"]] == "pending"
        time.sleep(3)  # am1 keeps reconciling: nothing of its own is touched, am2's is not made again
        assert owners() == {f"{namespace}/am1": live[f"{namespace}/am1"]}
    finally:
        operator.stop()
