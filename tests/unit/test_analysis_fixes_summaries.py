"""Tool outputs are summaries, unhealthy first, before they are capped: `get_pods` (no spec noise, no
env or args), `get_events` (Warnings first, then newest), `get_workloads` (replicas, revision, images,
False conditions). Pure (`analysis.summaries`) and through the gateway with the recorded fixtures."""

from __future__ import annotations

import json
from typing import Any

from alertagent.analysis.summaries import events_summary, pods_summary, workloads_summary
from alertagent.analysis.tools import cap_output
from alertagent.devstack.llm import OpenAIStandIn
from alertagent.devstack.robots import running

from .test_analysis_service import ANSWER, Harness, incident, openai, run


def noisy_pod(name: str) -> dict[str, Any]:
    """A healthy pod with the spec noise real pods carry."""
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7f", "controller": True}],
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [
                {
                    "name": "api",
                    "image": "registry.example/api:2",
                    "args": ["--db-url=postgres://db", "--secret-flag"],
                    "env": [{"name": f"VAR_{i}", "value": "x" * 40} for i in range(20)],
                    "volumeMounts": [{"name": f"v{i}", "mountPath": f"/mnt/{i}"} for i in range(20)],
                }
            ],
            "volumes": [{"name": f"v{i}", "configMap": {"name": f"config-{i}"}} for i in range(20)],
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-11-30T19:00:00Z",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "api", "restartCount": 0, "state": {"running": {}}}],
        },
    }


FAILING = {
    "metadata": {
        "name": "database-0",
        "namespace": "shop",
        "ownerReferences": [{"kind": "StatefulSet", "name": "database", "controller": True}],
    },
    "spec": {"nodeName": "node-b", "containers": [{"name": "postgres", "image": "postgres:17", "args": ["-c", "x"]}]},
    "status": {
        "phase": "Running",
        "startTime": "2026-11-30T19:10:00Z",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {
                "name": "postgres",
                "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled"}},
            }
        ],
    },
}


def test_the_failing_pod_comes_first_and_survives_the_cap() -> None:
    pods = [*(noisy_pod(f"api-7f-{c}") for c in "abcdefgh"), FAILING]
    assert "database-0" not in cap_output(pods)  # what the model got before: the first pod's spec
    summary = pods_summary("shop", pods)
    assert summary["pods"][0] == {
        "name": "database-0",
        "phase": "Running",
        "ready": False,
        "restarts": 7,
        "reasons": ["CrashLoopBackOff", "OOMKilled"],
        "owner": "StatefulSet/database",
        "node": "node-b",
        "started": "2026-11-30T19:10:00Z",
        "containers": [{"name": "postgres", "image": "postgres:17"}],
    }
    assert [p["name"] for p in summary["pods"][1:]] == [f"api-7f-{c}" for c in "abcdefgh"]
    text = cap_output(summary)
    assert "database-0" in text and "CrashLoopBackOff" in text
    for noise in ("volume", "VAR_0", "args", "--secret-flag", "managedFields", "mountPath"):
        assert noise not in text, noise


def event(name: str, type_: str, reason: str, time: str, obj: str = "database-0") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "uid": name},
        "type": type_,
        "reason": reason,
        "involvedObject": {"kind": "Pod", "name": obj},
        "message": f"{reason} token=hunter2secretvalue",
        "lastTimestamp": time,
        "count": 3,
    }


def test_events_are_warnings_first_then_newest_and_redacted() -> None:
    events = [
        event("a", "Normal", "Pulled", "2026-11-30T19:15:00Z"),
        event("b", "Warning", "BackOff", "2026-11-30T19:10:00Z"),
        event("c", "Normal", "Created", "2026-11-30T19:16:00Z"),
        event("d", "Warning", "Unhealthy", "2026-11-30T19:12:00Z"),
        event("d", "Warning", "Unhealthy", "2026-11-30T19:12:00Z"),  # the same Event twice (by uid)
    ]
    summary = events_summary("shop", events)
    assert [(e["type"], e["reason"]) for e in summary["events"]] == [
        ("Warning", "Unhealthy"),
        ("Warning", "BackOff"),
        ("Normal", "Created"),
        ("Normal", "Pulled"),
    ]
    first = summary["events"][0]
    assert first == {
        "time": "2026-11-30T19:12:00Z",
        "type": "Warning",
        "reason": "Unhealthy",
        "object": "Pod/database-0",
        "message": first["message"],
        "count": 3,
    }
    assert "hunter2secretvalue" not in json.dumps(summary) and "[REDACTED]" in first["message"]


def test_workloads_are_unhealthy_first_with_replicas_revision_images_and_false_conditions() -> None:
    deployment = {
        "metadata": {"name": "api", "annotations": {"deployment.kubernetes.io/revision": "4"}},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "api", "image": "api:2", "args": ["--x"], "env": []}]}},
        },
        "status": {
            "readyReplicas": 2,
            "updatedReplicas": 2,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
        },
    }
    statefulset = {
        "metadata": {"name": "database"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "postgres", "image": "postgres:17"}]}}},
        "status": {
            "readyReplicas": 0,
            "updatedReplicas": 1,
            "currentRevision": "database-5d8",
            "updateRevision": "database-7c9",
            "conditions": [{"type": "Healthy", "status": "False", "reason": "CrashLoop", "message": "pod down"}],
        },
    }
    summary = workloads_summary("shop", {"Deployment": [deployment], "StatefulSet": [statefulset]})
    assert summary == {
        "namespace": "shop",
        "workloads": [
            {
                "kind": "StatefulSet",
                "name": "database",
                "desired": 1,
                "ready": 0,
                "updated": 1,
                "revision": "database-7c9 (current database-5d8)",
                "images": ["postgres:17"],
                "conditions": [{"type": "Healthy", "reason": "CrashLoop", "message": "pod down"}],
            },
            {
                "kind": "Deployment",
                "name": "api",
                "desired": 2,
                "ready": 2,
                "updated": 2,
                "revision": "4",
                "images": ["api:2"],
                "conditions": [],
            },
        ],
    }


def test_the_gateways_tools_answer_with_summaries() -> None:
    calls: list[tuple[str, dict[str, Any] | str]] = [
        ("get_pods", {"namespace": "shop"}),
        ("get_events", {"namespace": "shop"}),
        ("get_workloads", {"namespace": "shop"}),
    ]
    stand_in = OpenAIStandIn(script=[calls, json.dumps(ANSWER)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        pods, events, workloads = [m["content"] for m in stand_in.requests[-1].body["messages"] if m["role"] == "tool"]
        pods_json = json.loads(pods)
        assert pods_json["namespace"] == "shop"
        names = [p["name"] for p in pods_json["pods"]]
        assert names[0].startswith("database-") and not pods_json["pods"][0]["ready"]
        assert len(names) == 8 and "… " not in pods  # all eight pods fit once summarised
        assert '"spec"' not in pods and '"volumes"' not in pods
        kinds = [e["type"] for e in json.loads(events)["events"] if isinstance(e, dict)]  # then "… N more"
        assert "Warning" in kinds and kinds == sorted(kinds, key=lambda t: t != "Warning")
        first = json.loads(workloads)["workloads"][0]
        assert (first["kind"], first["name"]) == ("Deployment", "database") and first["ready"] < first["desired"]

    with running(stand_in):
        run(lambda: Harness(openai(stand_in, max_steps=2)), body)
