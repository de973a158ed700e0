"""Read-only tools: the OpenAI tools JSON, calls checked against the incident's namespaces and caps,
and tool output redacted and never larger than its byte cap."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertagent.analysis.tools import (
    TOOLS,
    ToolCall,
    cap_output,
    check_call,
    cut_bytes,
    duration_seconds,
    openai_tools,
    promql_namespace_problem,
)

ALLOWED = ["data", "shop"]


def test_openai_tools_json_shape() -> None:
    listed = openai_tools()
    assert [t["function"]["name"] for t in listed] == [
        "get_workloads",
        "get_pods",
        "get_events",
        "get_logs",
        "query_prometheus",
        "graph_neighbours",
    ]
    for tool in listed:
        assert tool["type"] == "function"
        params = tool["function"]["parameters"]
        assert params["type"] == "object" and params["additionalProperties"] is False
        assert set(params["required"]) <= set(params["properties"])
        assert tool["function"]["description"]
    logs = listed[3]["function"]["parameters"]
    assert logs["required"] == ["namespace", "pod"] and logs["properties"]["lines"]["maximum"] == 100
    json.dumps(listed)
    assert len(TOOLS) == 6


def test_valid_calls_are_returned_with_defaults_and_their_namespace() -> None:
    assert check_call("get_workloads", '{"namespace": "shop"}', ALLOWED) == ToolCall(
        "get_workloads", {"namespace": "shop"}, "shop"
    )
    call = check_call("get_logs", '{"namespace": "data", "pod": "postgres-0"}', ALLOWED)
    assert call == ToolCall("get_logs", {"namespace": "data", "pod": "postgres-0", "lines": 50}, "data")
    call = check_call("get_pods", '{"namespace": "shop", "selector": "app=api,tier!=cache"}', ALLOWED)
    assert isinstance(call, ToolCall) and call.arguments["selector"] == "app=api,tier!=cache"
    call = check_call("get_events", '{"namespace": "shop", "object": "Pod/api-7d9f4-x2x9k"}', ALLOWED)
    assert isinstance(call, ToolCall)
    assert check_call("graph_neighbours", '{"service": "data/postgres"}', ALLOWED) == ToolCall(
        "graph_neighbours", {"service": "data/postgres"}, "data"
    )
    call = check_call("query_prometheus", '{"query": "up{namespace=\\"shop\\"}", "range": "1h30m"}', ALLOWED)
    assert call == ToolCall("query_prometheus", {"query": 'up{namespace="shop"}', "range": 5400.0})
    assert isinstance(check_call("get_workloads", "", ["shop"]), str)  # namespace is required


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("delete_pod", '{"namespace": "shop"}', "unknown tool 'delete_pod'"),
        ("get_pods", '{"namespace": "shop"', "not valid JSON"),
        ("get_pods", '["shop"]', "must be a JSON object"),
        (
            "get_pods",
            '{"namespace": "kube-system"}',
            "'kube-system' is not one of the incident's namespaces: data, shop",
        ),
        ("get_pods", "{}", "needs the argument 'namespace'"),
        ("get_pods", '{"namespace": "shop", "all": true}', "unknown argument 'all'"),
        ("get_pods", '{"namespace": 3}', "namespace must be a string"),
        ("get_pods", '{"namespace": "Shop!"}', "namespace is not a valid namespace"),
        ("get_logs", '{"namespace": "shop", "pod": "api-0", "lines": 500}', "lines must be at most 100"),
        ("get_logs", '{"namespace": "shop", "pod": "api-0", "lines": 0}', "lines must be at least 1"),
        ("get_logs", '{"namespace": "shop", "pod": "api-0", "lines": 10.5}', "lines must be a whole number"),
        ("get_logs", '{"namespace": "shop", "pod": "api-0", "lines": true}', "lines must be a whole number"),
        ("get_logs", '{"namespace": "shop", "pod": "../etc"}', "pod is not a valid pod"),
        ("graph_neighbours", '{"service": "kube-system/coredns"}', "'kube-system' is not one"),
        ("graph_neighbours", '{"service": "postgres"}', "service is not a valid service"),
        ("query_prometheus", '{"query": "up", "range": "1d"}', "range must be more than 0 and at most 6h"),
        ("query_prometheus", '{"query": "up", "range": "soon"}', "range is not a valid range"),
        ("query_prometheus", json.dumps({"query": "x" * 5000}), "query must be at most 4096 characters"),
        ("query_prometheus", json.dumps({"query": 'up{namespace="kube-system"}'}), "'kube-system' is not one"),
    ],
)
def test_bad_calls_give_an_error_for_the_model(name: str, arguments: str, error: str) -> None:
    result = check_call(name, arguments, ALLOWED)
    assert isinstance(result, str) and result.startswith("error: ")
    assert error in result


@pytest.mark.parametrize(
    "query",
    [
        "up",
        'up{namespace="shop"}',
        'rate(http_requests_total{job="api", namespace="shop"}[5m]) / on(namespace) up{namespace="data"}',
        'kube_pod_status_ready{namespace=~"shop|data"}',
        "sum by (namespace) (up{namespace='shop'})",
        "up{exported_namespace=`data`}",
        'up{namespace=""}',
        'label_replace(up{namespace="shop"}, "namespace", "other", "", "")',
    ],
)
def test_promql_within_the_namespaces_is_allowed(query: str) -> None:
    assert promql_namespace_problem(query, ALLOWED) is None


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ('up{namespace="kube-system"}', "'kube-system' is not one"),
        ('up{namespace="shop"} or up{namespace="billing"}', "'billing' is not one"),
        ('up{namespace=~"shop|billing"}', "'billing' is not one"),
        ('up{namespace=~".*"}', "'.*' is not one"),
        ('up{namespace!="shop"}', "negative namespace matchers"),
        ('up{k8s_namespace_name!~"shop"}', "negative namespace matchers"),
        ("up{kubernetes_namespace = 'billing'}", "'billing' is not one"),
    ],
)
def test_promql_naming_other_namespaces_is_refused(query: str, problem: str) -> None:
    assert problem in (promql_namespace_problem(query, ALLOWED) or "")


def test_durations() -> None:
    assert duration_seconds("90s") == 90 and duration_seconds("1h30m") == 5400 and duration_seconds("500ms") == 0.5
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds("1 hour")


def test_small_output_is_compact_json_and_redacted() -> None:
    out = cap_output({"pods": [{"name": "api-0", "env": [{"name": "PW", "value": "CanaryX1"}]}], "token": "CanaryX2"})
    assert out == '{"pods":[{"name":"api-0","env":[{"name":"PW","value":"[REDACTED]"}]}],"token":"[REDACTED]"}'


def test_managed_fields_are_dropped() -> None:
    out = json.loads(cap_output({"metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}]}}))
    assert out == {"metadata": {"name": "a"}}


def test_long_lists_are_cut_with_a_count_of_the_rest() -> None:
    pods = [{"name": f"api-{i}", "phase": "Running", "restarts": i} for i in range(500)]
    out = cap_output(pods, 4000)
    assert len(out.encode()) <= 4000
    summary = json.loads(out)
    assert summary[0]["name"] == "api-0" and summary[-1].startswith("… ") and summary[-1].endswith(" more")
    assert int(summary[-1].split()[1]) == 500 - (len(summary) - 1)


def test_tail_keeps_the_newest_log_lines() -> None:
    lines = [f"line {i}" for i in range(1000)]
    out = json.loads(cap_output(lines, 2000, tail=True))
    assert out[-1] == "line 999" and out[0].endswith(" earlier")
    text = cap_output("\n".join(lines), 500, tail=True)
    assert len(text.encode()) <= 500 and text.endswith("line 999") and text.startswith("… (truncated)\nline ")


def test_secrets_are_redacted_before_cutting() -> None:
    # A cut through the middle of a token would leave a prefix no pattern recognises.
    text = "x" * 3990 + " Bearer CanaryTokenValue123456"
    assert "Canary" not in cap_output(text, 4000) and "Canary" not in cap_output(text, 4010)


def test_cut_bytes_keeps_whole_characters() -> None:
    assert cut_bytes("ééééé", 5) == "éé"  # no room for the mark: 2 two-byte characters
    assert cut_bytes("abc", 0) == ""
    assert cut_bytes("é" * 100, 20).endswith("… (truncated)")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda children: st.lists(children, max_size=40) | st.dictionaries(st.text(max_size=20), children, max_size=20),
    max_leaves=200,
)


@settings(max_examples=150)
@given(_JSON, st.integers(min_value=0, max_value=5000), st.booleans())
def test_cap_output_never_exceeds_max_bytes(value: object, max_bytes: int, tail: bool) -> None:
    assert len(cap_output(value, max_bytes, tail=tail).encode()) <= max_bytes
