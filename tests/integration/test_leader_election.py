"""Two operator replicas with `--leader-elect` on the real test bed (a control plane of its own that
keeps an audit log, each replica authenticated as its own user, so every write is counted by who
made it), a real Alertmanager with its sidecar, and a local webhook receiver:

- only the leader writes: the standby makes no write request at all, and answers /readyz "standby";
- SIGKILL of the leader: the standby takes the Lease within lease duration + retry period, then
  acts on a change made at the kill (a maintenance window moved: its silence replaced); its start
  rewrites nothing else that is live; still one silence in Alertmanager, each test notification
  (NotificationChannel test-send) received once;
- SIGTERM of the leader: it releases the Lease, the standby takes over within about a retry period.

Timings: lease duration 4 s, renew deadline 3 s, retry period 1 s. The figures are printed."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alertagent.devstack.agents import eventually, metric_value, start_alertmanager_sidecar, start_operator
from alertagent.devstack.controlplane import ControlPlane, install_crds, start_control_plane
from alertagent.devstack.monitoring import AlertmanagerTarget
from alertagent.devstack.processes import Process
from alertagent.devstack.receivers import Received, webhook_receiver

REPO = Path(__file__).resolve().parents[2]
GROUP = "alertagent.io/v1alpha1"
NAMESPACE = "ha"
LEASE = (4.0, 3.0, 1.0)  # duration, renew deadline, retry period (seconds)
ELECTION = [
    "--leader-elect",
    "--leader-election-id=alertagent",
    f"--leader-election-namespace={NAMESPACE}",
    f"--lease-duration={LEASE[0]:g}",
    f"--renew-deadline={LEASE[1]:g}",
    f"--retry-period={LEASE[2]:g}",
]
WINDOW = {"name": "upgrade", "start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z"}
LATER = "2030-01-01T05:00:00Z"
TESTS = ("first", "second", "third")  # the channels tested, one per stage
USERS = ("op-a", "op-b", "sidecar")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "verbs": sorted(WRITE_VERBS)}, {"level": "None"}],
}


@dataclass(frozen=True)
class Write:
    user: str
    verb: str
    resource: str  # "leases", "notificationchannels/status", ...
    name: str
    at: float  # epoch seconds, response complete


@dataclass
class Bed:
    plane: ControlPlane
    audit: Path
    kubeconfigs: dict[str, Path]

    def writes(self, since: float = 0.0) -> list[Write]:
        """Every write request completed at or after `since` (epoch seconds)."""
        time.sleep(0.3)  # the last responses are logged as they complete
        out = []
        for line in self.audit.read_text().splitlines():
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if event.get("verb") not in WRITE_VERBS or ref.get("resource", "").endswith("reviews"):
                continue
            at = datetime.fromisoformat(event["stageTimestamp"]).timestamp()
            if at >= since:
                resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
                out.append(Write(event["user"]["username"], event["verb"], resource, ref.get("name", ""), at))
        return out


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    work = tmp_path / "plane"
    work.mkdir()
    tokens = {user: secrets.token_hex(16) for user in USERS}
    (work / "tokens.csv").write_text("".join(f'{tokens[u]},{u},{u},"system:masters"\n' for u in USERS))
    (work / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
    plane = start_control_plane(
        work,
        with_controller_manager=False,
        apiserver_args=(
            f"--token-auth-file={work / 'tokens.csv'}",
            f"--audit-policy-file={work / 'audit-policy.yaml'}",
            f"--audit-log-path={work / 'audit.log'}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
        ),
    )
    try:
        install_crds(plane, REPO / "crds")
        plane.kubectl("create", "namespace", NAMESPACE)
        kubeconfigs = {}
        for user in USERS:
            config = yaml.safe_load(plane.kubeconfig.read_text())
            config["users"] = [{"name": "admin", "user": {"token": tokens[user]}}]
            kubeconfigs[user] = work / f"{user}.kubeconfig"
            kubeconfigs[user].write_text(yaml.safe_dump(config))
        yield Bed(plane, work / "audit.log", kubeconfigs)
    finally:
        plane.stop()


def _replica(bed: Bed, log_dir: Path, identity: str, user: str) -> tuple[Process, int, int]:
    """An operator replica as `user` with holder identity `identity`: (process, http, metrics port)."""
    proc, metrics = start_operator(
        bed.plane,
        log_dir,
        NAMESPACE,
        extra_args=tuple(ELECTION),
        kubeconfig=bed.kubeconfigs[user],
        env={"POD_NAME": identity},
    )
    http_port = int(proc.argv[proc.argv.index("--http-port") + 1])
    return proc, http_port, metrics


def _leader(metrics: int, identity: str) -> bool:
    return metric_value(metrics, "alertagent_leader", {"identity": identity}) == 1


def _holder(bed: Bed) -> str:
    out = bed.plane.kubectl("-n", NAMESPACE, "get", "lease", "alertagent", "-o", "json", check=False)
    return str((json.loads(out.stdout or "{}").get("spec") or {}).get("holderIdentity") or "") if out.stdout else ""


def _silences(alertmanager: AlertmanagerTarget) -> list[dict[str, Any]]:
    silences = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
    return [s for s in silences if s["createdBy"] == "alertagent" and s["status"]["state"] != "expired"]


def _tests_sent(received: Received, channel: str) -> int:
    """Firing test notifications the receiver got for `channel`."""
    return sum(1 for a in received.alerts(f"/{channel}") if a["status"] == "firing")


def _send_test(bed: Bed, channel: str) -> None:
    bed.plane.kubectl("-n", NAMESPACE, "annotate", "nc", channel, "alertagent.io/test-send=1")


def _kill(proc: Process) -> None:
    os.killpg(proc.popen.pid, signal.SIGKILL)
    proc.popen.wait(5)


def test_only_the_leader_writes_and_the_standby_takes_over(  # noqa: PLR0915 - one story, in order
    bed: Bed, alertmanager: AlertmanagerTarget, tmp_path: Path
) -> None:
    duration, _deadline, retry = LEASE
    policy = {
        "apiVersion": GROUP,
        "kind": "SuppressionPolicy",
        "metadata": {"name": "maint"},
        "spec": {"matchers": [{"name": "service", "value": "db"}], "maintenanceWindows": [WINDOW]},
    }
    with webhook_receiver() as (url, received):
        objects = [
            {
                "apiVersion": GROUP,
                "kind": "AlertmanagerCluster",
                "metadata": {"name": "main"},
                "spec": {"alertmanager": {"url": alertmanager.url}},
            },
            *[
                {  # one channel per test-send: Alertmanager sends a still-firing test alert only once
                    "apiVersion": GROUP,
                    "kind": "NotificationChannel",
                    "metadata": {"name": name},
                    "spec": {"type": "webhook", "webhook": {"url": f"{url}/{name}"}, "route": {}},
                }
                for name in TESTS
            ],
            policy,
        ]
        bed.plane.kubectl("-n", NAMESPACE, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
        a, _a_http, a_metrics = _replica(bed, tmp_path, "op-a", "op-a")
        b: Process | None = None
        sidecar, _ = start_alertmanager_sidecar(
            bed.plane,
            tmp_path,
            NAMESPACE,
            "main-alertmanager-config",
            alertmanager.config_path,
            alertmanager.url,
            kubeconfig=bed.kubeconfigs["sidecar"],
        )
        try:
            eventually(lambda: _leader(a_metrics, "op-a"), 30, what="op-a leads")
            eventually(lambda: len(_silences(alertmanager)) == 1, 60, what="the window's silence")
            eventually(lambda: f"{NAMESPACE}/{TESTS[-1]}" in alertmanager.status()["config"]["original"], 60)

            b_started = time.time()
            b, b_http, b_metrics = _replica(bed, tmp_path, "op-b", "op-b")
            ready = httpx.get(f"http://127.0.0.1:{b_http}/readyz", timeout=5)
            assert ready.status_code == 200 and ready.json() == {"status": "standby"}
            graph = httpx.get(f"http://127.0.0.1:{b_http}/api/v1/graph", timeout=5)  # the leader's: said so
            assert graph.status_code == 503 and "alertagent-service-graph" in graph.json()["error"]
            assert metric_value(b_metrics, "alertagent_leader", {"identity": "op-b"}) == 0

            _send_test(bed, "first")
            eventually(lambda: _tests_sent(received, "first") == 1, 60, what="the first test notification")
            time.sleep(3 * retry)
            assert [w for w in bed.writes(b_started) if w.user == "op-b"] == []  # the standby wrote nothing

            # SIGKILL of the leader; a change made at that moment (the maintenance window moved) must
            # be acted on by the standby once it leads: the silence replaced, still exactly one.
            killed = time.time()
            _kill(a)
            moved = {**policy, "spec": {**policy["spec"], "maintenanceWindows": [{**WINDOW, "end": LATER}]}}
            bed.plane.kubectl("-n", NAMESPACE, "apply", "-f", "-", input=yaml.safe_dump(moved))
            eventually(lambda: _holder(bed) == "op-b", 30, 0.1, what="op-b holds the Lease")
            eventually(lambda: [s["endsAt"][:19] for s in _silences(alertmanager)] == [LATER[:19]], 60, what="moved")
            after = bed.writes(killed)
            taken = min(w.at for w in after if w.user == "op-b" and w.resource == "leases")
            first_write = min(w.at for w in after if w.user == "op-b" and w.resource != "leases")
            print(
                f"SIGKILL failover: Lease taken after {taken - killed:.2f}s, first write after "
                f"{first_write - killed:.2f}s (lease {duration:g}s, retry {retry:g}s)"
            )
            assert taken - killed <= duration + retry + 1.0  # client-go's bound, 1 s of slack for polling
            assert first_write - killed <= duration + retry + 15.0  # + the operator's start on a busy machine
            eventually(lambda: _leader(b_metrics, "op-b"), 10, what="op-b's metric says it leads")
            # The new leader's start rewrote nothing live: its writes concern the moved window only.
            rewritten = sorted({(w.resource, w.name) for w in after if w.user == "op-b" and w.resource != "leases"})
            assert rewritten == [("suppressionpolicies/status", "maint")], rewritten
            assert not [w for w in after if w.user == "op-a"]  # the killed leader wrote nothing since
            _send_test(bed, "second")
            eventually(lambda: _tests_sent(received, "second") == 1, 60, what="the second test notification")
            time.sleep(3 * retry)
            assert len(_silences(alertmanager)) == 1  # no duplicate silence
            assert (_tests_sent(received, "first"), _tests_sent(received, "second")) == (1, 1)

            # SIGTERM of the leader: it releases the Lease; the standby takes over at its next retry.
            a, _a_http, a_metrics = _replica(bed, tmp_path, "op-a", "op-a")  # back as a standby
            assert metric_value(a_metrics, "alertagent_leader", {"identity": "op-a"}) == 0
            terminated = time.time()
            b.stop(grace=30)
            stopped = time.time()
            eventually(lambda: _holder(bed) == "op-a", 30, 0.1, what="op-a holds the Lease")
            after = bed.writes(terminated)
            released = [w.at for w in after if w.user == "op-b" and w.resource == "leases"]
            taken = min(w.at for w in after if w.user == "op-a" and w.resource == "leases")
            _send_test(bed, "third")
            eventually(lambda: _tests_sent(received, "third") == 1, 60, what="the third test notification")
            print(
                f"SIGTERM handover: leader stopped in {stopped - terminated:.2f}s, Lease released after "
                f"{max(released) - terminated:.2f}s, taken after {taken - terminated:.2f}s"
            )
            assert released and taken - max(released) <= retry + 1.0
            eventually(lambda: _leader(a_metrics, "op-a"), 10, what="op-a's metric says it leads")
            time.sleep(3 * retry)
            assert len(_silences(alertmanager)) == 1
            assert [_tests_sent(received, v) for v in ("first", "second", "third")] == [1, 1, 1]
        finally:
            for proc in (a, b, sidecar):
                if proc is not None:
                    proc.stop()
