"""`query_prometheus` reads only the incident's namespaces: every selector is scoped by rewriting it
(`render.tenancy.scope_selectors`, with `=~` for several namespaces), a query that cannot be scoped is
answered with an error and never run, and series of other namespaces in the answer are dropped.

The gateway side runs through `AnalysisService` with the OpenAI stand-in and a small local HTTP server
answering `/api/v1/query` as Prometheus does (it records each query, and answers with a series of
namespace `default` too, as a Prometheus would for an unscoped selector)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import promql_parser
import pytest

from alertagent.analysis.tools import namespace_matcher, openai_tools, scope_prometheus_result
from alertagent.devstack.llm import OpenAIStandIn
from alertagent.devstack.robots import running
from alertagent.render.tenancy import ScopeError, scope_selectors

from .test_analysis_service import ANSWER, CLUSTER, Harness, incident, openai, run

# -- the rewrite (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "scoped"),
    [
        ("otherteam:revenue_secret_figure", 'otherteam:revenue_secret_figure{namespace=~"data|shop"}'),
        ('up{team="other"}', 'up{namespace=~"data|shop",team="other"}'),
        ('up{namespace="default"}', 'up{namespace=~"data|shop"}'),
        ('sum(rate(x{namespace!="shop"}[5m]))', 'sum(rate(x{namespace=~"data|shop"}[5m]))'),
        ("vector(1)", "vector(1)"),
    ],
)
def test_several_namespaces_scope_every_selector_with_an_anchored_alternation(expr: str, scoped: str) -> None:
    op, value = namespace_matcher(["shop", "data"])
    assert (op, value) == ("=~", "data|shop")
    assert scope_selectors(expr, "namespace", value, op) == scoped
    for selector in _selectors(scoped):
        assert ("=~", "namespace", "data|shop") in selector


def test_the_equal_form_is_unchanged_and_other_operators_are_refused() -> None:
    assert namespace_matcher(["shop"]) == ("=", "shop")
    assert scope_selectors("up", "namespace", "shop") == scope_selectors("up", "namespace", "shop", "=")
    assert scope_selectors("up", "namespace", "shop") == 'up{namespace="shop"}'
    with pytest.raises(ScopeError, match="operator '!='"):
        scope_selectors("up", "namespace", "shop", "!=")  # type: ignore[arg-type]


def test_regex_metacharacters_in_a_namespace_are_escaped() -> None:
    # Namespace names cannot hold them; a label value in another convention might.
    op, value = namespace_matcher(["a.b", "c"])
    assert (op, value) == ("=~", "a\\.b|c")
    assert scope_selectors("up", "ns", value, op) == 'up{ns=~"a\\\\.b|c"}'


def test_no_namespace_cannot_scope() -> None:
    with pytest.raises(ValueError, match="no namespace"):
        namespace_matcher([])


def test_series_of_other_namespaces_are_dropped_from_an_answer() -> None:
    body = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"namespace": "shop", "pod": "a"}, "value": [1, "1"]},
                {"metric": {"namespace": "default", "pod": "b"}, "value": [1, "2"]},
                {"metric": {"job": "sum"}, "value": [1, "3"]},
            ],
        },
    }
    kept, dropped = scope_prometheus_result(body, "namespace", ["shop"])
    assert dropped == 1
    assert [s["metric"] for s in kept["data"]["result"]] == [{"namespace": "shop", "pod": "a"}, {"job": "sum"}]
    assert scope_prometheus_result({"status": "error"}, "namespace", ["shop"]) == ({"status": "error"}, 0)


def test_the_tool_description_says_queries_are_scoped() -> None:
    (tool,) = [t for t in openai_tools() if t["function"]["name"] == "query_prometheus"]
    assert (
        "scoped" in tool["function"]["description"] and "reads those namespaces only" in tool["function"]["description"]
    )


def _selectors(expr: str) -> list[list[tuple[str, str, str]]]:
    found: list[list[tuple[str, str, str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append([(_op(m.op), m.name, m.value) for m in node.matchers.matchers])

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


def _op(op: Any) -> str:
    for known, text in (
        (promql_parser.MatchOp.Equal, "="),
        (promql_parser.MatchOp.NotEqual, "!="),
        (promql_parser.MatchOp.Re, "=~"),
        (promql_parser.MatchOp.NotRe, "!~"),
    ):
        if op == known:
            return text
    raise AssertionError(op)


# -- through the gateway ---------------------------------------------------------------------------


class FakePrometheus(BaseHTTPRequestHandler):
    """`/api/v1/query` and `/api/v1/query_range` as Prometheus answers them; each query recorded."""

    queries: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)["query"][0]
        type(self).queries.append((url.path, query))
        series = [
            {"metric": {"__name__": "x", "namespace": "shop", "pod": "database-0"}, "value": [1, "1"]},
            {"metric": {"__name__": "x", "namespace": "default", "pod": "bank-0"}, "value": [1, "42"]},
        ]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": series}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def prometheus() -> Iterator[str]:
    FakePrometheus.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _tool_answers(stand_in: OpenAIStandIn) -> list[str]:
    return [m["content"] for m in stand_in.requests[-1].body["messages"] if m["role"] == "tool"]


def test_queries_run_scoped_to_the_incidents_namespace_and_other_series_are_dropped() -> None:
    calls: list[tuple[str, dict[str, Any] | str]] = [
        ("query_prometheus", {"query": "otherteam:revenue_secret_figure"}),
        ("query_prometheus", {"query": 'up{team="other"}'}),
        ("query_prometheus", {"query": "sum(x) keep_metric_names"}),  # MetricsQL: cannot be scoped
        ("query_prometheus", {"query": "rate(x[5m])", "range": "30m"}),
    ]
    stand_in = OpenAIStandIn(script=[calls, json.dumps(ANSWER)])

    with prometheus() as url, running(stand_in):

        async def body(h: Harness) -> None:
            await h.poll(incident())
            assert FakePrometheus.queries == [
                ("/api/v1/query", 'otherteam:revenue_secret_figure{namespace="shop"}'),
                ("/api/v1/query", 'up{namespace="shop",team="other"}'),
                ("/api/v1/query_range", 'rate(x{namespace="shop"}[5m])'),
            ]
            first, second, refused, ranged = _tool_answers(stand_in)
            for answer in (first, second, ranged):
                got = json.loads(answer)
                assert [s["metric"]["namespace"] for s in got["result"]] == ["shop"]
                assert got["dropped"] == "1 series of other namespaces"
                assert "bank-0" not in answer and '"42"' not in answer
            assert json.loads(first)["query"] == 'otherteam:revenue_secret_figure{namespace="shop"}'
            assert refused.startswith("error: the query was not run: its selectors cannot be scoped")

        run(lambda: Harness(openai(stand_in, max_steps=2), evaluators=[url]), body)


def test_the_clusters_namespace_label_is_the_one_scoped() -> None:
    calls: list[tuple[str, dict[str, Any] | str]] = [("query_prometheus", {"query": "up"})]
    stand_in = OpenAIStandIn(script=[calls, json.dumps(ANSWER)])
    several = incident(impacted=("shop/api", "data/postgres"))

    with prometheus() as url, running(stand_in):

        async def body(h: Harness) -> None:
            settings = h.book.settings(CLUSTER)
            assert settings is not None
            h.book._attach(CLUSTER, settings.model_copy(update={"namespace_label": "k8s_namespace"}))
            await h.poll(several)
            assert FakePrometheus.queries == [("/api/v1/query", 'up{k8s_namespace=~"data|shop"}')]

        run(lambda: Harness(openai(stand_in, max_steps=2), evaluators=[url]), body)
