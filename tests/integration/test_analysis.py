"""Root-cause analysis on the real test bed: a real kube-apiserver whose kube-controller-manager runs the
Deployment and ReplicaSet controllers (so the rollout and its ReplicaSets are real), real Alertmanager
and Prometheus, the real gateway process under the chart's gateway RBAC. Only the LLM providers and
the DingTalk robot are local stand-ins that check what the real services check.

The demo's outage: `database` is rolled out to a new image whose pod then crash-loops (there is no
kubelet: its state is written through the pod's status subresource, as a kubelet would), DatabaseDown
fires, and the api above it alerts too. The built-in report must name the root, the failing pod and the
rollout; an OpenAI-compatible model performs scripted read-only tool calls inside the incident's
namespace (a call outside it is refused); Dify and n8n get the incident as inputs. No canary secret
value (a Secret's, an env value, a bearer token in an Event) appears in any request to a provider.

The log-tail tool cannot run live here (no kubelet serves logs): tests/unit covers it against a
recorded API response."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml

from alertagent.devstack.agents import eventually, metric_value, start_gateway
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.llm import DifyStandIn, N8nStandIn, OpenAIStandIn
from alertagent.devstack.monitoring import AlertmanagerTarget, RuleTarget
from alertagent.devstack.processes import free_port
from alertagent.devstack.robots import Robot, running

from .test_incident_notifications import TOKEN, configure, post
from .test_incidents import gateway_kubeconfig, incidents, publish_graph  # noqa: F401 (a fixture)

CANARIES = ("canary-secret-7f3a91", "canary-env-c0ffee42", "canary-token-d15ea5e")
EXPR = "vector(1) > 0"  # DatabaseDown's expression, as Prometheus evaluates it


def _manifests(namespace: str) -> list[dict[str, Any]]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "database-credentials", "namespace": namespace},
        "stringData": {"password": CANARIES[0]},
    }
    out: list[dict[str, Any]] = [secret]
    for name in ("database", "api"):
        env = [
            {"name": "POSTGRES_PASSWORD", "value": CANARIES[1]},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "database-credentials", "key": "password"}}},
        ]
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": name, "image": f"example/{name}:1", "env": env}]},
                    },
                },
            }
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
            }
        )
    return out


def _json(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl(*args, "-o", "json").stdout)


def bad_rollout(plane: ControlPlane, namespace: str) -> str:
    """Roll `database` out to a new image and make its new pod crash-loop; the pod's name."""
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(_manifests(namespace)))
    eventually(
        lambda: _json(plane, "-n", namespace, "get", "pods", "-l", "app=database")["items"], 60, what="database pods"
    )
    plane.kubectl("-n", namespace, "set", "image", "deployment/database", "database=example/database:2")

    def new_pod() -> str | None:
        sets = _json(plane, "-n", namespace, "get", "replicasets", "-l", "app=database")["items"]
        newest = [r for r in sets if r["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "2"]
        if not newest:
            return None
        owner = newest[0]["metadata"]["name"]
        pods = _json(plane, "-n", namespace, "get", "pods", "-l", "app=database")["items"]
        mine = [p for p in pods if p["metadata"]["ownerReferences"][0]["name"] == owner]
        return str(mine[0]["metadata"]["name"]) if mine else None

    pod = eventually(new_pod, 60, what="the rollout's new pod")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
            "containerStatuses": [
                {
                    "name": "database",
                    "ready": False,
                    "restartCount": 6,
                    "image": "example/database:2",
                    "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                }
            ],
        }
    }
    plane.kubectl(
        "-n", namespace, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.backoff", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace, "apiVersion": "v1"},
        "reason": "BackOff",
        "type": "Warning",
        "message": f"Back-off restarting failed container database; probe sent Authorization: Bearer {CANARIES[2]}",
        "count": 6,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": "kubelet"},
    }
    plane.kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(event))
    return str(pod)


def outage(alertmanager: AlertmanagerTarget, prometheus: RuleTarget, namespace: str) -> None:
    """DatabaseDown on the database (its generatorURL names Prometheus and the expression), then the
    api's alert."""
    now = datetime.now(UTC)
    url = f"{prometheus.url}/graph?g0.expr={quote(EXPR)}&g0.tab=1"
    alerts = [
        {
            "labels": {
                "alertname": "DatabaseDown",
                "service": "database",
                "namespace": namespace,
                "severity": "critical",
            },
            "annotations": {"summary": "the database is down"},
            "startsAt": (now - timedelta(seconds=1)).isoformat(),
            "generatorURL": url,
        }
    ]
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=10)
    assert response.status_code == 200, response.text
    time.sleep(1)
    post(alertmanager, namespace, {"api": "ApiErrors"})


def channels_file(
    path: Path, namespace: str, robot: Robot, alertmanager: AlertmanagerTarget, llm: dict[str, Any]
) -> Path:
    key = f"{namespace}/oncall"
    channel = {"key": key, "type": "dingtalk", "webhook_url": robot.url, "token": TOKEN, "language": "en"}
    incidents = {
        "alertmanager_url": alertmanager.url,
        "window": 300,
        "hold": 8,
        "update_interval": 2,
        "poll_interval": 1,
        "graph_namespace": namespace,
        "namespaces": None,
        "analysis": {"builtin": True, "lookback": 3600, "rollout_window": 1800, "llm": llm},
    }
    path.write_text(json.dumps({"cluster": f"{namespace}/main", "channels": {key: channel}, "incidents": incidents}))
    return path


def analysed(plane: ControlPlane, namespace: str, llm_done: bool) -> dict[str, Any] | None:
    """The Incident once its analysis is in (with `llm_done`, once the LLM's ended too)."""
    for item in incidents(plane, namespace):
        analysis = (item.get("status") or {}).get("analysis") or {}
        if analysis.get("builtin") and (
            not llm_done or (analysis.get("llm") or {}).get("state") not in (None, "Pending")
        ):
            return item
    return None


@pytest.fixture
def gateway(
    installed_crds: ControlPlane,
    namespace: str,
    gateway_kubeconfig: Path,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> Iterator[Any]:
    """Start the gateway on a channels file (`start(path)`), stopped afterwards; its log is checked."""
    started: list[Any] = []
    port = free_port()

    def start(channels: Path) -> int:
        proc, _ = start_gateway(
            tmp_path,
            [channels],
            tmp_path / "queue.db",
            port,
            ("--pod-name", "gw-a", "--pod-namespace", "test", "--kubeconfig", str(gateway_kubeconfig)),
        )
        started.append(proc)
        return port

    yield start
    for proc in started:
        proc.stop()
        log = proc.log_path.read_text()
        assert "Traceback" not in log, log[-3000:]
        assert not any(canary in log for canary in CANARIES)


def test_builtin_report_and_openai_tool_calls_name_the_root_the_failing_pod_and_the_rollout(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    prometheus: RuleTarget,
    gateway: Any,
    tmp_path: Path,
) -> None:
    plane = installed_crds
    publish_graph(plane, namespace, [("api", "database")])
    pod = bad_rollout(plane, namespace)
    answer = {
        "root_cause": "The rollout of deployment database to example/database:2 crash-loops (OOMKilled).",
        "evidence": [
            {"fact": f"pod:{namespace}/{pod}", "detail": "CrashLoopBackOff, 6 restarts, last OOMKilled"},
            {"fact": "tool:1", "detail": "the new pod is not ready"},
        ],
        "impact": "api fails because the database is down",
        "actions": [
            {
                "kind": "RolloutUndo",
                "namespace": namespace,
                "target": "deployment/database",
                "command": f"kubectl rollout undo deployment/database -n {namespace}",
            }
        ],
        "confidence": 0.85,
    }
    script: list[Any] = [
        [
            ("get_pods", {"namespace": namespace, "selector": "app=database"}),
            ("get_events", {"namespace": namespace}),
            ("get_workloads", {"namespace": "kube-system"}),  # outside the incident: refused
            ("query_prometheus", {"query": "up"}),
        ],
        "```json\n" + json.dumps(answer) + "\n```",
    ]
    # A slow model (5 s an answer): the notification never waits for it; its analysis follows.
    with running(Robot("dingtalk"), OpenAIStandIn(script=script, latency=5.0)) as (robot, model):
        llm = {"type": "OpenAI", "url": model.base_url, "model": model.model, "api_key": model.api_key, "max_steps": 3}
        port = gateway(channels_file(tmp_path / "channels.json", namespace, robot, alertmanager, llm))
        configure(alertmanager, namespace, port)
        outage(alertmanager, prometheus, namespace)

        eventually(lambda: incidents(plane, namespace), 30, interval=0.05, what="the Incident")
        created = time.monotonic()
        found = eventually(lambda: analysed(plane, namespace, False), 60, interval=0.05, what="the built-in report")
        print(f"\nIncident seen -> built-in report seen in it: {time.monotonic() - created:.2f}s")
        report = found["status"]["analysis"]["builtin"]
        assert report["root"] == f"{namespace}/database"
        (workload,) = [w for w in report["workloads"] if w["name"] == "database"]
        assert workload["kind"] == "Deployment" and workload["ready"] == 0
        failing = {p["name"]: p for p in workload["pods"]}
        assert {"CrashLoopBackOff", "OOMKilled"} <= set(failing[pod]["reasons"]) and failing[pod]["restarts"] == 6
        (rollout,) = report["rollouts"]
        assert (rollout["kind"], rollout["name"], rollout["revision"], rollout["previous"]) == (
            "Deployment",
            "database",
            "2",
            "1",
        )
        assert any(e["reason"] == "BackOff" for e in report["events"])
        (query,) = report["queries"]
        assert query["alert"] == "DatabaseDown" and query["expr"] == EXPR and query["crossedTime"], query
        assert pod in report["summary"] and "rolled out" in report["summary"], report["summary"]

        done = eventually(lambda: analysed(plane, namespace, True), 60, what="the LLM's analysis")
        llm_status = done["status"]["analysis"]["llm"]
        assert llm_status["state"] == "Succeeded", llm_status
        result = llm_status["result"]
        assert result["structured"] and result["actions"][0]["kind"] == "RolloutUndo"
        assert result["confidence"] == 0.85 and llm_status["toolCalls"] == 4 and llm_status["tokens"] > 0
        print(f"LLM context sent: {llm_status['bytesSent']} bytes over {len(model.requests)} requests")

        # The tools ran read-only, inside the incident's namespace only.
        tool_answers = {
            m["tool_call_id"]: m["content"] for m in model.requests[-1].body["messages"] if m["role"] == "tool"
        }
        outputs = list(tool_answers.values())
        assert pod in outputs[0] and "BackOff" in outputs[1]
        assert outputs[2].startswith("error:") and "kube-system" in outputs[2]
        sent = b"".join(r.raw for r in model.requests)
        for canary in CANARIES:
            assert canary.encode() not in sent, canary

        # The first message carried the built-in report; the LLM's answer followed as an update.
        eventually(lambda: robot.count("Analysis of incident") == 1, 30, what="the analysis message")
        texts = robot.texts()
        first = next(t for t in texts if "DatabaseDown" in t)
        assert "Analysis" in first and "CrashLoopBackOff" in first and "Root cause (OpenAI" not in first, first
        assert "kubectl rollout undo deployment/database" in texts[-1]
        assert metric_value(port, "alertagent_analyses_total", {"provider": "OpenAI", "outcome": "succeeded"}) == 1
        assert metric_value(port, "alertagent_analysis_tokens_total", {"provider": "OpenAI"}) == llm_status["tokens"]

    # Suggestions only: nothing was rolled back.
    image = plane.kubectl(
        "-n", namespace, "get", "deployment", "database", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    ).stdout
    assert image == "example/database:2"


@pytest.mark.parametrize("provider", ["Dify", "N8n"])
def test_dify_and_n8n_get_the_incident_as_inputs_and_their_answer_is_stored(
    installed_crds: ControlPlane,
    namespace: str,
    alertmanager: AlertmanagerTarget,
    prometheus: RuleTarget,
    gateway: Any,
    tmp_path: Path,
    provider: str,
) -> None:
    plane = installed_crds
    publish_graph(plane, namespace, [("api", "database")])
    pod = bad_rollout(plane, namespace)
    answer = {"rootCause": f"database pod {pod} is crash-looping", "confidence": "70%", "actions": []}
    stand_in: Any
    if provider == "Dify":
        stand_in = DifyStandIn(app="workflow", outputs=answer, required_inputs=("incident", "report"))
    else:
        stand_in = N8nStandIn(answer=[answer], header=("X-N8N-Key", "n8n-key-for-test"))
    with running(Robot("dingtalk"), stand_in) as (robot, server):
        if provider == "Dify":
            llm = {"type": "Dify", "url": server.base_url, "dify_mode": "Workflow", "api_key": server.api_key}
        else:
            llm = {"type": "N8n", "url": server.url, "auth_header": "X-N8N-Key", "api_key": "n8n-key-for-test"}
        port = gateway(channels_file(tmp_path / "channels.json", namespace, robot, alertmanager, llm))
        configure(alertmanager, namespace, port)
        outage(alertmanager, prometheus, namespace)
        done = eventually(lambda: analysed(plane, namespace, True), 60, what=f"{provider}'s analysis")
        llm_status = done["status"]["analysis"]["llm"]
        assert llm_status["state"] == "Succeeded", llm_status
        assert llm_status["result"]["structured"] and pod in llm_status["result"]["rootCause"]
        assert llm_status["result"]["confidence"] == 0.7
        (request,) = server.requests
        inputs = request.body["inputs"] if provider == "Dify" else request.body
        incident = json.loads(inputs["incident"])
        assert incident["root"]["name"] == "database" and f"{namespace}/database" in inputs["report"]
        for canary in CANARIES:
            assert canary.encode() not in request.raw, canary


def test_the_gateway_reads_for_analysis_and_can_change_nothing(
    installed_crds: ControlPlane,
    namespace: str,
    gateway_kubeconfig: Path,  # noqa: F811 (the fixture imported above: the chart's gateway RBAC applied)
) -> None:
    gateway_sa = f"system:serviceaccount:{namespace}:g{namespace[-6:]}-alertagent-gateway"
    expectations = [
        ("list", "pods", "yes"),
        ("list", "events", "yes"),
        ("list", "services", "yes"),
        ("list", "replicasets.apps", "yes"),
        ("list", "controllerrevisions.apps", "yes"),
        ("get", "pods/log", "no"),  # only with gateway.incidents.analysis.podLogs
        ("get", "secrets", "no"),
        ("list", "secrets", "no"),
        ("watch", "pods", "no"),
        ("patch", "deployments.apps", "no"),
        ("delete", "pods", "no"),
        ("create", "pods/eviction", "no"),
        ("update", "deployments.apps/scale", "no"),
    ]
    for verb, resource, expected in expectations:
        answer = installed_crds.kubectl(
            "auth", "can-i", verb, resource, "-n", "default", "--as", gateway_sa, check=False
        ).stdout.strip()
        assert answer == expected, (verb, resource, answer)
