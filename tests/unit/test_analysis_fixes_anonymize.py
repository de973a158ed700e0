"""`anonymize: true` hides names outside the incident too: `Anonymizer.learn` registers the names a tool
output holds (namespaces, pods, owners, containers, nodes, Prometheus series labels) before it is
anonymised, and images' path segments equal to a known name are replaced."""

from __future__ import annotations

import json
from typing import Any

from alertagent.analysis.anonymize import Anonymizer
from alertagent.analysis.summaries import pods_summary
from alertagent.devstack.llm import OpenAIStandIn
from alertagent.devstack.robots import running

from .test_analysis_fixes_scope import prometheus
from .test_analysis_fixes_summaries import FAILING, noisy_pod
from .test_analysis_service import ANSWER, REAL_NAMES, Harness, incident, openai, run

OTHER = ("bank-0", "billing", "billing-7d9f", "payments", "ledger", "node-7", "10.0.0.9:9100", "default")


def test_learned_names_of_a_summary_are_anonymised_and_restored() -> None:
    names = Anonymizer()
    names.add("namespace", "shop")
    summary = pods_summary("shop", [FAILING, noisy_pod("api-7f-a")])
    names.learn(summary)
    sent = names.anonymize(summary)
    text = json.dumps(sent)
    for name in ("database-0", "database", "api-7f-a", "api-7f", "postgres", "node-a", "node-b", "shop"):
        assert f'"{name}"' not in text and f"/{name}" not in text, name
    assert sent["pods"][0]["owner"] == "StatefulSet/workload-2" and sent["pods"][0]["name"] == "workload-2-0"
    assert sent["pods"][0]["containers"] == [{"name": "container-2", "image": "container-2:17"}]
    assert names.restore(sent) == summary


def test_prometheus_series_labels_are_learned() -> None:
    result = {
        "query": 'x{namespace="shop"}',
        "result": [
            {
                "metric": {
                    "__name__": "kube_pod_info",
                    "namespace": "default",
                    "pod": "bank-0",
                    "service": "payments",
                    "job": "payments",
                    "container": "ledger",
                    "instance": "10.0.0.9:9100",
                    "deployment": "billing",
                    "statefulset": "bank",
                    "node": "node-7",
                },
                "value": [1, "1"],
            }
        ],
    }
    names = Anonymizer()
    names.learn(result)
    sent = names.anonymize(result)
    text = json.dumps(sent)
    for name in (*OTHER, "bank"):
        assert f'"{name}"' not in text, name
    assert sent["result"][0]["metric"]["__name__"] == "kube_pod_info"  # a metric name is not a name of a thing
    assert names.restore(sent) == result


def test_image_path_segments_equal_to_known_names_are_replaced() -> None:
    names = Anonymizer()
    pod = {"name": "billing-7d9f-x", "owner": "ReplicaSet/billing", "containers": [{"name": "app", "image": ""}]}
    names.learn({"namespace": "payments", "pods": [pod]})
    image = names.anonymize("ghcr.io/payments/billing:1.0")
    assert image == "ghcr.io/namespace-1/workload-1:1.0"
    assert names.anonymize("ghcr.io/acme/billingx:1.0") == "ghcr.io/acme/billingx:1.0"  # not a whole segment


def test_learning_is_deterministic_and_keeps_the_incidents_tokens() -> None:
    output = {"namespace": "default", "pods": [{"name": "bank-0", "owner": "StatefulSet/bank", "node": "n1"}]}
    first, second = Anonymizer(), Anonymizer()
    for names in (first, second):
        names.add("namespace", "shop")
        names.learn(output)
    assert first.tokens == second.tokens
    assert first.tokens["shop"] == "namespace-1" and first.tokens["default"] == "namespace-2"


def test_anonymised_tool_outputs_hold_no_name_from_outside_the_incident() -> None:
    calls: list[tuple[str, dict[str, Any] | str]] = [
        ("get_pods", {"namespace": "namespace-1"}),
        ("get_events", {"namespace": "namespace-1"}),
        ("get_workloads", {"namespace": "namespace-1"}),
        ("query_prometheus", {"query": "x"}),
        ("get_pods", {"namespace": "kube-system"}),  # refused: the error lists the namespaces, anonymised
    ]
    stand_in = OpenAIStandIn(script=[calls, json.dumps(ANSWER)])
    # Names in the recorded namespace the incident does not know (tests/fixtures/analysis/cluster/shop).
    unknown = (b"worker", b"postgres", b"node-a", b"node-b", b"node-c", b"registry.example/api", b"web")

    with prometheus() as url, running(stand_in):

        async def body(h: Harness) -> None:
            await h.poll(incident())
            for request in stand_in.requests:
                messages = json.dumps(request.body["messages"]).encode()
                for name in (*REAL_NAMES, b"bank-0", b"default"):
                    assert name not in messages, name
            tools = [m["content"] for m in stand_in.requests[-1].body["messages"] if m["role"] == "tool"]
            # (The first message's built-in report quotes Event messages naming the container and its
            # image, which the incident's anonymizer does not know: the tool outputs are checked here.)
            for name in unknown:
                assert name.decode() not in json.dumps(tools), name
            assert "worker" not in tools[0] and '"namespace":"namespace-1"' in tools[0]
            assert tools[4].startswith("error: namespace 'kube-system'") and "namespace-1" in tools[4]
            got = h.analysis()
            assert got is not None and got.llm is not None and got.llm.result is not None
            assert got.llm.result.actions[0].target == "deployment/database"  # restored

        run(lambda: Harness(openai(stand_in, max_steps=2, anonymize=True), evaluators=[url]), body)
