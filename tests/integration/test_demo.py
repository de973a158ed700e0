"""`alertagent demo`, run as a user runs it (non-interactively: `--exit-after-incident`): the stack comes
up, every example is Ready, the scripted database outage ends in exactly the expected notifications (the
database's alert delivered, the api's and frontend's inhibited, as Alertmanager's own API says while it
runs; the local DingTalk robot got exactly one message, the database's, through the real gateway, signed
with the example's secret, carrying the incident section that names the root and the impacted services,
and the demo printed it as the group sees it), the outage is exactly one Incident (root, impacted tree,
state, the notification counted), printed with `kubectl get incidents -A` and `alertagent incidents
show`; its built-in analysis found the cause the demo staged (a rollout of the database StatefulSet,
made real by the StatefulSet controller, whose new pod the demo wrote as crash-looping, as a kubelet
would: there is none) and the DingTalk message and `incidents show` carry it; and nothing is left
behind: no process, no listening port, no temporary folder."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import yaml

from alertagent.devstack.agents import BIN

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEPENDANTS = ("APIHighErrorRate", "FrontendSlow")


def _dingtalk_signing_secret() -> str:
    docs = yaml.safe_load_all((EXAMPLES / "discovery" / "dingtalk.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "Secret")["stringData"]["sign-secret"]


def _watch_alertmanager(lines: list[str], done: threading.Event, seen: dict[str, Any]) -> None:
    """Poll the demo's Alertmanager (its URL from the demo's output) and keep what it says of the
    dependants' alerts, until the demo ends."""
    url = None
    while not done.is_set():
        if url is None:
            url = next(
                (m.group(1) for line in list(lines) if (m := re.search(r"Alertmanager +(http://\S+)", line))), None
            )
        else:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                for alert in httpx.get(f"{url}/api/v2/alerts", timeout=2).json():
                    name = alert["labels"]["alertname"]
                    if (
                        name in DEPENDANTS
                        and alert["status"]["state"] == "suppressed"
                        and alert["status"]["inhibitedBy"]
                    ):
                        seen[name] = alert["status"]
        time.sleep(0.5)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _assert_the_robot_got_the_database_message_signed(incident: dict[str, Any], output: str, started_ms: int) -> None:
    """The DingTalk robot accepted exactly one message, the database's, mentioning the on-call phone,
    and refused none; its signature is DingTalk's, recomputed here from the example's secret; and the
    demo printed it as the group sees it: the title, the text, the mention."""
    robot = incident["robots"]["shop/oncall-dingtalk"]
    assert (robot["type"], robot["refused"]) == ("dingtalk", {})
    [message], [signature] = robot["messages"], robot["signatures"]
    text = json.dumps(message, ensure_ascii=False)
    assert message["msgtype"] == "markdown" and "DatabaseDown" in message["markdown"]["title"]
    assert not [name for name in DEPENDANTS if name in text]
    assert message["at"]["atMobiles"] == ["13800000000"] and "@13800000000" in message["markdown"]["text"]
    timestamp, secret = int(signature["timestamp"]), _dingtalk_signing_secret()
    assert started_ms < timestamp < int(time.time() * 1000)
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert unquote_plus(signature["sign"]) == base64.b64encode(digest).decode()
    shown = output.split("robot message -> shop/oncall-dingtalk (dingtalk, signature verified), as the group sees it:")
    assert len(shown) == 2, output
    view = shown[1].split("└" + "─" * 72)[0]
    assert f"│ {message['markdown']['title']}\n" in view and "│ @13800000000" in view
    assert "mentions (notified): @13800000000" in shown[1].split("\n[")[0]


def _assert_one_incident_named_in_the_one_message(incident: dict[str, Any], output: str) -> None:
    """Exactly one Incident: root the database (its alert named), the api then the frontend above it
    (a tree by dependency), firing, 3 alerts of which 2 suppressed, its one notification counted; the
    robot's one message carries its section (name, root, impacted services as the tree, suppressed
    count); the demo printed the Incident with kubectl and `alertagent incidents show`."""
    [found] = incident["incidents"]
    name, status = found["name"], found["status"]
    assert found["namespace"] == "shop"
    assert status["root"] == {"namespace": "shop", "name": "database", "inGraph": True, "alerts": ["DatabaseDown"]}
    impacted = [(i["namespace"], i["name"], i["depth"], i["parent"], i["alerts"]) for i in status["impacted"]]
    assert impacted == [("shop", "api", 1, "shop/database", 1), ("shop", "frontend", 2, "shop/api", 1)]
    assert (status["state"], status["severity"], status["services"]) == ("Firing", "critical", 3)
    assert (status["alerts"], status["suppressedAlerts"]) == (3, 2)
    assert status["notifications"]["sent"] == 1
    assert status["notifications"]["channels"] == ["shop/oncall-dingtalk"]

    [message] = incident["robots"]["shop/oncall-dingtalk"]["messages"]
    text = message["markdown"]["text"]
    for expected in (
        f"Incident {name}",
        "Root cause: **shop/database** (DatabaseDown) · 2 services impacted · 2 of 3 alerts suppressed",
        "- shop/database (root)\n- └ shop/api · 1 alert\n- \u00a0\u00a0\u00a0└ shop/frontend · 1 alert",
    ):
        assert expected in text, text

    table = output.split("kubectl get incidents -A\n", 1)[1]
    assert re.search(rf"shop +{name} +database +critical +3 +3 +Firing", table), table
    report = output.split(f"alertagent incidents show {name} -n shop\n", 1)[1]
    for expected in (
        f"Incident:      shop/{name}",
        "Notifications: 1 sent to shop/oncall-dingtalk",
        "shop/database (root: DatabaseDown)",
        "└─ shop/api",
        "└─ shop/frontend",
        "first alert: DatabaseDown on shop/database",
    ):
        assert expected in report, report


def _assert_the_analysis_found_the_bad_rollout(incident: dict[str, Any], output: str) -> None:
    """The demo's rollout was real (the StatefulSet controller made a new revision and replaced
    database-0); the Incident's built-in report names the root, the crash-looping pod with its reasons
    and restarts, the rollout (the controller's revisions, before the first alert) and the kubelet's
    BackOff Event next to the controller's own; the one DingTalk message carries its summary and the
    suggestion; `incidents show` prints the analysis section."""
    rollout = incident["rollout"]
    revision, previous = rollout["revision"], rollout["previous"]
    assert (rollout["statefulset"], rollout["pod"], rollout["image"]) == ("shop/database", "database-0", "postgres:17")
    assert revision != previous and revision.startswith("database-") and previous.startswith("database-")
    assert "no kubelet here: the demo writes the pod's state as a kubelet would: database-0 (StatefulSet" in output
    assert "no kubelet here: the demo writes the pod's state as a kubelet would: database-0 crash-loops" in output

    [found] = incident["incidents"]
    report = found["status"]["analysis"]["builtin"]
    assert report["root"] == "shop/database"
    [workload] = report["workloads"]
    assert (workload["kind"], workload["namespace"], workload["name"]) == ("StatefulSet", "shop", "database")
    assert (workload["desired"], workload["ready"]) == (1, 0)
    [pod] = workload["pods"]
    assert (pod["name"], pod["phase"], pod["ready"], pod["restarts"]) == ("database-0", "Running", False, 3)
    assert pod["reasons"] == ["CrashLoopBackOff", "OOMKilled"]
    [change] = report["rollouts"]
    assert (change["kind"], change["name"], change["revision"], change["previous"]) == (
        "StatefulSet",
        "database",
        revision,
        previous,
    )
    assert change["beforeFirstAlert"] >= 0
    events = {(e["type"], e["reason"], e["object"]) for e in report["events"]}
    assert {("Warning", "BackOff", "Pod/database-0"), ("Normal", "SuccessfulDelete", "StatefulSet/database")} <= events
    summary = report["summary"]
    for expected in (
        "Root cause candidate: shop/database.",
        "database-0 (CrashLoopBackOff, OOMKilled, restarts 3)",
        f"StatefulSet shop/database rolled out revision {revision} (from {previous})",
        "before the first alert",
        "Impacted: shop/api, shop/frontend.",
    ):
        assert expected in summary, summary

    [message] = incident["robots"]["shop/oncall-dingtalk"]["messages"]
    text = message["markdown"]["text"]
    assert f"**Analysis**: {summary}" in text, text
    assert "Suggested (not run): `kubectl rollout undo statefulset/database -n shop`" in text, text
    shown = output.split("as the group sees it:", 1)[1].split("└" + "─" * 72, maxsplit=1)[0]
    assert f"│ Analysis: {summary}\n" in shown, shown

    name = found["name"]
    section = output.split(f"alertagent incidents show {name} -n shop\n", 1)[1].split("Analysis (built-in):\n", 1)[1]
    for expected in (
        "Root cause candidate: shop/database",
        "StatefulSet shop/database: 0/1 ready",
        "database-0 Running not ready, restarts 3 (CrashLoopBackOff, OOMKilled)",
        f"Rollout: StatefulSet shop/database rolled out revision {revision} (from {previous})",
        "Warning BackOff Pod/database-0 x3: Back-off restarting failed container postgres in pod database-0_shop(",
        "Suggested (not run): kubectl rollout undo statefulset/database -n shop",
    ):
        assert expected in section, section


def test_the_demo_brings_up_the_stack_fires_the_incident_and_cleans_up() -> None:
    started_ms = int(time.time() * 1000)
    demo = subprocess.Popen(
        [str(BIN / "alertagent"), "demo", "--exit-after-incident", "--examples", str(EXAMPLES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    done, inhibited_seen = threading.Event(), {}
    watcher = threading.Thread(target=_watch_alertmanager, args=(lines, done, inhibited_seen), daemon=True)
    watcher.start()
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
        demo.wait(timeout=30)
    finally:
        done.set()
        if demo.poll() is None:
            demo.kill()
    output = "\n".join(lines)
    assert demo.returncode == 0, output
    result = json.loads(next(line.split("demo-result: ", 1)[1] for line in lines if "demo-result: " in line))

    # The stack came up, with the overview a user needs.
    assert "everything up in" in output
    for expected in ("NAMESPACE   NAME", "flowchart LR", "export KUBECONFIG=", "Prometheus    http://"):
        assert expected in output, expected
    assert set(result["phases"]) >= {"control plane (etcd, kube-apiserver, kube-controller-manager)", "CRDs installed"}

    # Every example is Ready: the cluster, both rules, both channels, both policies.
    assert result["ready"] == {
        "AlertmanagerCluster default/main": True,
        "AlertRule default/api-availability": True,
        "AlertRule shop/shop": True,
        "NotificationChannel default/team-a-critical": True,
        "NotificationChannel shop/oncall": True,
        "NotificationChannel shop/oncall-dingtalk": True,
        "SuppressionPolicy default/api-maintenance": True,
        "SuppressionPolicy shop/dependencies": True,
    }

    # Three alerts fired; only the database's was notified: once to the shop's on-call webhook, once to
    # its DingTalk group (through the gateway), once to the cluster-wide Slack channel (which gets a
    # copy of every critical alert).
    incident = result["incident"]
    assert incident["notified"] == {
        "/dingtalk/shop/oncall-dingtalk": ["DatabaseDown"],
        "/slack/default/team-a-critical": ["DatabaseDown"],
        "/webhook/shop/oncall": ["DatabaseDown"],
    }
    assert incident["alerts"]["DatabaseDown"] == {"state": "active", "inhibitedBy": []}
    for name in DEPENDANTS:
        assert incident["alerts"][name]["state"] == "suppressed"
        assert set(incident["alerts"][name]["inhibitedBy"]) <= {"DatabaseDown", "APIHighErrorRate"}
    assert incident["alerts"]["APIHighErrorRate"]["inhibitedBy"] == ["DatabaseDown"]
    # ... and Alertmanager's API said so itself while the demo ran.
    assert set(inhibited_seen) == set(DEPENDANTS)
    assert re.search(r"notification -> shop/oncall \(webhook\): firing: DatabaseDown \{.*service=database", output)

    _assert_the_robot_got_the_database_message_signed(incident, output, started_ms)
    # One Incident for the outage, and the one DingTalk message names its root and what it took down.
    _assert_one_incident_named_in_the_one_message(incident, output)
    # Its built-in analysis found the bad rollout behind it; the message and `incidents show` carry it.
    _assert_the_analysis_found_the_bad_rollout(incident, output)

    # Nothing is left: the folder, the processes, the ports.
    workdir = result["workdir"]
    assert not Path(workdir).exists()
    leftovers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if workdir.encode() in cmdline.read_bytes():
                leftovers.append(cmdline.parent.name)
    assert leftovers == []
    for pid in result["pids"]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            raise AssertionError(f"process {pid} still runs")
    assert [port for port in result["ports"] if _listening(port)] == []
