"""Root-cause analysis, the pure part (no cluster): how long the built-in report takes and how many bytes
of context an LLM analysis sends.

- The demo's outage, from the objects recorded off a real kube-apiserver (tests/fixtures/analysis).
- A busy namespace (synthetic, in the recorded objects' shapes): 100 Deployments with 2 ReplicaSets and
  5 pods each, a rollout of the root 2 minutes before the first alert, 2,000 Events (the API server's
  default list would be larger still; the gateway reads at most 500 per kind).
- The context sent to a model (`chat_messages`, `workflow_inputs`) for the demo's incident and for one
  of 1,000 impacted services (bounded at 24 KB).

The end-to-end figures (Incident created → report stored; LLM answer with the stand-in) come from
tests/integration/test_analysis.py, which prints them.

    .venv/bin/python -m benchmarks.bench_analysis
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alertagent.analysis.builtin import builtin_report
from alertagent.analysis.context import AnalysisInput, chat_messages, workflow_inputs
from alertagent.analysis.facts import ClusterFacts
from alertagent.api.incident import IncidentStatus

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "analysis" / "cluster"
FIRST_ALERT = datetime(2026, 11, 30, 19, 16, 33, tzinfo=UTC)
NOW = FIRST_ALERT + timedelta(minutes=1)


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall time of `runs` calls (ms) and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def status(root: str, impacted: int = 2) -> IncidentStatus:
    namespace, _, name = root.partition("/")
    return IncidentStatus.model_validate(
        {
            "root": {"namespace": namespace, "name": name, "alerts": ["DatabaseDown"]},
            "impacted": [
                {"namespace": namespace, "name": f"svc-{i:04d}", "depth": 1 + i % 3, "alerts": 2}
                for i in range(impacted)
            ],
            "services": impacted + 1,
            "alerts": 2 * impacted + 1,
            "startTime": FIRST_ALERT.isoformat(),
        }
    )


def recorded() -> ClusterFacts:
    items = [json.loads(p.read_text()) for p in sorted((FIXTURES / "shop").glob("*.json"))]
    return ClusterFacts.from_responses(items)


def busy_namespace() -> ClusterFacts:
    """100 Deployments x (2 ReplicaSets, 5 pods) and 2,000 Events, built from the recorded shapes."""
    base = recorded()
    pod0, rs0, deploy0, svc0 = base.pods[0], base.replicasets[0], base.deployments[0], base.services[0]
    event0 = base.events[0]
    pods, sets, deploys, services, events = [], [], [], [], []
    for d in range(100):
        name = "database" if d == 0 else f"app-{d:03d}"
        deploy = copy.deepcopy(deploy0)
        deploy["metadata"].update(name=name, uid=f"d-{d}")
        deploy["spec"]["selector"] = {"matchLabels": {"app": name}}
        deploys.append(deploy)
        svc = copy.deepcopy(svc0)
        svc["metadata"]["name"] = name
        svc["spec"]["selector"] = {"app": name}
        services.append(svc)
        for revision in (1, 2):
            rs = copy.deepcopy(rs0)
            created = FIRST_ALERT - (timedelta(minutes=2) if revision == 2 and d == 0 else timedelta(days=revision))
            rs["metadata"].update(
                name=f"{name}-rs{revision}",
                uid=f"rs-{d}-{revision}",
                creationTimestamp=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ownerReferences=[{"kind": "Deployment", "name": name, "uid": f"d-{d}", "controller": True}],
            )
            rs["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
            sets.append(rs)
        for p in range(5):
            pod = copy.deepcopy(pod0)
            pod["metadata"].update(
                name=f"{name}-rs2-{p}",
                uid=f"p-{d}-{p}",
                labels={"app": name},
                ownerReferences=[{"kind": "ReplicaSet", "name": f"{name}-rs2", "uid": f"rs-{d}-2", "controller": True}],
            )
            pods.append(pod)
    for e in range(2000):
        event = copy.deepcopy(event0)
        event["metadata"].update(name=f"ev-{e}", uid=f"ev-{e}")
        target = event.get("involvedObject") or event.get("regarding") or {}
        pod = pods[e % len(pods)]["metadata"]
        target.update(name=pod["name"], uid=pod["uid"], kind="Pod", namespace=pod.get("namespace", "shop"))
        events.append(event)
    return ClusterFacts(
        services=services,
        pods=pods,
        replicasets=sets,
        deployments=deploys,
        statefulsets=[],
        daemonsets=[],
        controllerrevisions=[],
        events=events,
    )


def main() -> None:
    demo_facts = recorded()
    ms, report = timed(lambda: builtin_report(status("shop/database"), demo_facts, [], NOW), 200)
    print(f"built-in report, demo outage (recorded objects): {ms:.2f} ms median")
    print(f"  summary: {report.summary}")
    busy = busy_namespace()
    counts = f"{len(busy.pods)} pods, {len(busy.replicasets)} ReplicaSets, {len(busy.events)} Events"
    ms_busy, busy_report = timed(lambda: builtin_report(status("shop/database"), busy, [], NOW), 20)
    print(f"built-in report, busy namespace ({counts}): {ms_busy:.1f} ms median")
    print(f"  rollouts found: {len(busy_report.rollouts)}; events kept: {len(busy_report.events)}")

    for label, incident, facts_report in (
        ("demo incident (3 services)", status("shop/database"), report),
        ("1,000 impacted services", status("shop/database", impacted=1000), busy_report),
    ):
        data = AnalysisInput(incident="database-x", cluster="monitoring/main", status=incident, report=facts_report)
        ms_ctx, messages = timed(lambda data=data: chat_messages(data), 5)
        chat_bytes = sum(len(m["content"].encode()) for m in messages)
        inputs = workflow_inputs(data)
        flow_bytes = sum(len(v.encode()) for v in inputs.values())
        print(
            f"context, {label}: chat {chat_bytes:,} bytes ({ms_ctx:.0f} ms), "
            f"Dify/n8n inputs {flow_bytes:,} bytes (cap 24,000 each)"
        )


if __name__ == "__main__":
    main()
