"""The gateway's analysis service (gateway/analysis.py `AnalysisService`) driven directly: a real
`IncidentBook` (settings, leadership and polls through its engine-side methods, as
test_incident_engine.py does), a fixed clock, the Kubernetes side as a small fake of the gateway's own
client interface (`list_for_analysis` serving the API responses recorded in tests/fixtures/analysis,
`pod_log`), and the LLM providers as the local stand-ins of devstack/llm.py over real local HTTP.

What is checked: the built-in report at once and once per material state; the LLM after the hold, once,
and again on a material change; nothing on a follower; the rate cap, a missing key and a refused key
reported in the stored state (the key never in it); anonymisation (no real name in what is sent, real
names back in what is stored); tool calls limited to the incident's namespaces; the metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry

from alertagent.analysis.budget import material_basis
from alertagent.api.analysis import IncidentAnalysis
from alertagent.api.incident import IncidentStatus
from alertagent.clients.gatewaykube import ANALYSIS_KINDS
from alertagent.devstack.llm import DifyStandIn, N8nStandIn, OpenAIStandIn
from alertagent.devstack.robots import running
from alertagent.gateway.analysis import AnalysisService
from alertagent.gateway.incidents import IncidentBook
from alertagent.gateway.metrics import AnalysisMetrics
from alertagent.incidents import record
from alertagent.incidents.track import FIRING, Impact, Incident
from alertagent.render.robots.models import AnalysisSettings, IncidentSettings, LlmSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analysis" / "cluster"
CLUSTER = "monitoring/main"
# The recording's first alert (tests/fixtures/analysis/README.md): shop/database's revision 3 went out
# two minutes before it, and its pods crash-loop.
T0 = datetime(2026, 11, 30, 19, 16, 33, tzinfo=UTC).timestamp()
HOLD = 30.0
# "postgres": the database's container, named in the kubelet's Event messages of the built-in report.
REAL_NAMES = (b"shop", b"database", b"frontend", b"database-76c57dcd69-mqnrb", b"database-b749b5966-997bj", b"postgres")
LOG = "2026-11-30 19:14:35 UTC [1] LOG:  starting PostgreSQL 17.0\n2026-11-30 19:14:36 UTC [1] FATAL:  out of memory\n"
ANSWER = {
    "root_cause": "database crash-loops (OOMKilled) since its revision 3",
    "evidence": [{"fact": "pod:shop/database-76c57dcd69-mqnrb", "detail": "OOMKilled, 3 restarts"}],
    "impact": "api and frontend fail",
    "actions": [
        {
            "kind": "RolloutUndo",
            "namespace": "shop",
            "target": "deployment/database",
            "command": "kubectl rollout undo deployment/database -n shop",
        }
    ],
    "confidence": 0.8,
}
T = TypeVar("T")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeKube:
    """The gateway client's analysis reads: the recorded list responses of a namespace, a log tail."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def list_for_analysis(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        assert kind in ANALYSIS_KINDS
        self.calls.append((kind, namespace, selector))
        path = FIXTURES / namespace / ("events-core.json" if kind == "events" else f"{kind}.json")
        items = json.loads(path.read_text())["items"] if path.exists() else []
        wanted = dict(term.split("=", 1) for term in selector.split(",") if term)  # equality terms only
        return [i for i in items if wanted.items() <= (i["metadata"].get("labels") or {}).items()]

    def pod_log(self, namespace: str, pod: str, container: str | None, lines: int) -> str:
        self.calls.append(("log", namespace, pod, container, lines))
        return LOG

    def lists(self) -> int:
        return sum(1 for call in self.calls if call[0] != "log")


class Notifier:
    def __init__(self) -> None:
        self.ready: list[tuple[str, str]] = []

    async def analysis_ready(self, cluster: str, incident: Incident) -> None:
        self.ready.append((cluster, incident.name))


def incident(
    name: str = "database-1a2b3c4d",
    root: str = "shop/database",
    impacted: tuple[str, ...] = ("shop/api", "shop/frontend"),
) -> Incident:
    services = tuple(Impact(node, 1, 1, 0, root) for node in impacted)
    return Incident(
        name=name,
        root=root,
        root_alerts=("DatabaseDown",),
        root_fingerprints=frozenset({f"{name}-fp"}),
        impacted=services,
        alerts=1 + len(services),
        suppressed=0,
        fingerprints=frozenset({f"{name}-fp"}),
        severity="critical",
        state=FIRING,
        started=T0,
    )


def basis_of(item: Incident) -> str:
    return material_basis(IncidentStatus.model_validate(record.incident_status(item)))


def openai(stand_in: OpenAIStandIn, **fields: Any) -> LlmSettings:
    base: dict[str, Any] = {"type": "OpenAI", "url": stand_in.base_url, "model": stand_in.model}
    return LlmSettings.model_validate(base | {"api_key": stand_in.api_key, "max_steps": 0} | fields)


class Harness:
    """One gateway's book and analysis service for CLUSTER (its leader unless told otherwise)."""

    def __init__(self, llm: LlmSettings | None = None, now: float = T0 + 60, **analysis: Any) -> None:
        self.clock = Clock(now)
        self.book = IncidentBook(clock=self.clock)
        self.kube = FakeKube()
        self.notifier = Notifier()
        self.registry = CollectorRegistry()
        self.service = AnalysisService(
            self.book,
            lambda: self.kube,  # type: ignore[arg-type, return-value]  # the client's interface, faked
            AnalysisMetrics(self.registry),
            lambda: self.notifier,
            self.clock,
        )
        settings = IncidentSettings(
            alertmanager_url="http://am:9093",
            graph_namespace="alertagent",
            hold=HOLD,
            analysis=AnalysisSettings(llm=llm, **analysis),
        )
        self.book._attach(CLUSTER, settings)
        self.book._set_leader(CLUSTER, True)
        self.service.start()

    async def poll(self, *incidents: Incident) -> None:
        """One poll of the engine: publish the incidents, then wait for the analyses it started."""
        await self.book._publish(CLUSTER, list(incidents))
        while self.service._running:
            await asyncio.gather(*self.service._running.values())
            await asyncio.sleep(0)

    def analysis(self, name: str = "database-1a2b3c4d") -> IncidentAnalysis | None:
        return self.book.analysis(CLUSTER, name)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def run(harness: Callable[[], Harness], body: Callable[[Harness], Awaitable[T]]) -> T:
    """body(harness) on a fresh event loop (the service's HTTP client belongs to it), then stop it."""

    async def main() -> T:
        h = harness()
        try:
            return await body(h)
        finally:
            await h.service.stop()

    return asyncio.run(main())


# -- when analyses run -----------------------------------------------------------------------------


def test_the_builtin_report_runs_at_once_and_not_again_for_the_same_basis() -> None:
    async def body(h: Harness) -> None:
        first = incident()
        await h.poll(first)  # 5 s after the start: within the hold, the report is made anyway
        got = h.analysis()
        assert got is not None and got.builtin is not None and got.llm is None
        assert got.basis == basis_of(first)
        assert got.builtin.root == "shop/database"
        assert "database-76c57dcd69-mqnrb (CrashLoopBackOff, OOMKilled" in got.builtin.summary
        assert "rolled out revision 3 (from 2)" in got.builtin.summary
        assert sorted(k for k, ns, _ in h.kube.calls) == sorted(ANALYSIS_KINDS) and {
            ns for _, ns, _ in h.kube.calls
        } == {"shop"}
        h.clock.now += 60
        await h.poll(replace(first, alerts=9, suppressed=4))  # counts change, not the root or services
        assert h.kube.lists() == len(ANALYSIS_KINDS)  # not read again
        assert h.analysis() == got

    run(lambda: Harness(now=T0 + 5), body)


def test_the_llm_waits_for_the_hold_then_runs_once() -> None:
    stand_in = OpenAIStandIn(script=[json.dumps(ANSWER)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        got = h.analysis()
        assert got is not None and got.builtin is not None and got.llm is None and stand_in.requests == []
        h.clock.now = T0 + HOLD
        await h.poll(incident())
        got = h.analysis()
        assert got is not None and got.llm is not None
        assert (got.llm.state, got.llm.provider, got.llm.model, got.llm.basis) == (
            "Succeeded",
            "OpenAI",
            "gpt-test",
            basis_of(incident()),
        )
        assert got.llm.result is not None and got.llm.result.root_cause == ANSWER["root_cause"]
        assert got.llm.result.confidence == 0.8 and got.llm.result.actions[0].kind == "RolloutUndo"
        assert h.notifier.ready == [(CLUSTER, "database-1a2b3c4d")]  # the update follows the answer
        assert h.kube.lists() == len(ANALYSIS_KINDS)  # the report was not made again for the LLM
        h.clock.now += 120
        await h.poll(incident())
        assert len(stand_in.requests) == 1 and h.notifier.ready == [(CLUSTER, "database-1a2b3c4d")]

    with running(stand_in):
        run(lambda: Harness(openai(stand_in), now=T0 + 5), body)


def test_a_material_change_runs_both_again() -> None:
    stand_in = OpenAIStandIn(script=[json.dumps(ANSWER)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        before = h.analysis()
        assert before is not None and before.llm is not None and before.llm.state == "Succeeded"
        grown = incident(impacted=("shop/api", "shop/frontend", "shop/worker"))
        h.clock.now += 60
        await h.poll(grown)
        after = h.analysis()
        assert after is not None and after.builtin is not None and after.llm is not None
        assert after.basis == basis_of(grown) != before.basis and after.llm.basis == after.basis
        assert "shop/worker" in after.builtin.impacted
        assert h.kube.lists() == 2 * len(ANALYSIS_KINDS) and len(stand_in.requests) == 2
        assert b"shop/worker" in stand_in.requests[1].raw

    with running(stand_in):
        run(lambda: Harness(openai(stand_in)), body)


def test_a_follower_does_nothing() -> None:
    stand_in = OpenAIStandIn()

    async def body(h: Harness) -> None:
        h.book._set_leader(CLUSTER, False)
        await h.poll(incident())
        assert h.analysis() is None and h.kube.calls == [] and stand_in.requests == []
        assert h.metric("alertagent_analyses_started_total", provider="builtin") == 0

    with running(stand_in):
        run(lambda: Harness(openai(stand_in)), body)


# -- caps and failures -----------------------------------------------------------------------------


def test_over_the_rate_cap_the_next_incidents_llm_is_skipped_with_the_reason() -> None:
    stand_in = OpenAIStandIn(script=[json.dumps(ANSWER)])
    other = incident("postgres-5e6f7a8b", "data/postgres", ())

    async def body(h: Harness) -> None:
        await h.poll(incident())
        await h.poll(incident(), other)
        first, second = h.analysis(), h.analysis(other.name)
        assert first is not None and first.llm is not None and first.llm.state == "Succeeded"
        assert second is not None and second.llm is not None and second.builtin is not None  # the report still runs
        assert second.llm.state == "Skipped" and second.llm.result is None
        assert second.llm.message == "rate cap: 1 analyses in the last hour (at most 1)"
        assert len(stand_in.requests) == 1
        assert h.metric("alertagent_analyses_total", provider="OpenAI", outcome="skipped") == 1
        assert h.notifier.ready == [(CLUSTER, "database-1a2b3c4d")]

    with running(stand_in):
        run(lambda: Harness(openai(stand_in), max_per_hour=1), body)


def test_a_missing_key_skips_the_llm_and_says_why() -> None:
    stand_in = OpenAIStandIn()
    problem = "spec.incidents.analysis.llm.apiKey: secret monitoring/llm key token not found"

    async def body(h: Harness) -> None:
        await h.poll(incident())
        got = h.analysis()
        assert got is not None and got.builtin is not None and got.llm is not None
        assert (got.llm.state, got.llm.message, got.llm.result) == ("Skipped", problem, None)
        assert stand_in.requests == [] and h.notifier.ready == []
        assert h.metric("alertagent_analyses_started_total", provider="OpenAI") == 0

    with running(stand_in):
        run(lambda: Harness(openai(stand_in, api_key=None, problem=problem)), body)


def test_a_refused_key_fails_the_llm_without_the_key_in_the_message() -> None:
    stand_in = OpenAIStandIn()
    wrong = "sk-wrong-" + "9" * 24

    async def body(h: Harness) -> None:
        await h.poll(incident())
        got = h.analysis()
        assert got is not None and got.llm is not None
        assert got.llm.state == "Failed" and got.llm.result is None
        assert "401" in got.llm.message
        assert wrong not in got.llm.message and wrong[-4:] + "." not in got.llm.message  # not even OpenAI's masked form
        assert wrong not in got.model_dump_json()
        assert [r.status for r in stand_in.requests] == [401] and h.notifier.ready == []
        assert h.metric("alertagent_analyses_total", provider="OpenAI", outcome="failed") == 1

    with running(stand_in):
        run(lambda: Harness(openai(stand_in, api_key=wrong)), body)


# -- what is sent ----------------------------------------------------------------------------------


def test_anonymised_requests_hold_no_real_name_and_the_stored_result_has_them_back() -> None:
    # The placeholders Anonymizer.for_incident gives, per kind in sorted order: namespace shop is
    # namespace-1; services api, database, frontend are service-1, -2, -3.
    tokens = {"shop": "namespace-1", "database": "service-2"}
    anonymous = json.loads(json.dumps(ANSWER).replace("shop", tokens["shop"]).replace("database", tokens["database"]))
    stand_in = OpenAIStandIn(script=[json.dumps(anonymous)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        (request,) = stand_in.requests
        for name in REAL_NAMES:
            assert name not in request.raw, name
        assert b"service-2" in request.raw and b"namespace-1" in request.raw
        got = h.analysis()
        assert got is not None and got.llm is not None and got.llm.result is not None
        assert got.llm.result.root_cause == ANSWER["root_cause"]
        assert got.llm.result.actions[0].command == "kubectl rollout undo deployment/database -n shop"
        assert got.llm.result.evidence[0].fact == "pod:shop/database-76c57dcd69-mqnrb"

    with running(stand_in):
        run(lambda: Harness(openai(stand_in, anonymize=True)), body)


def test_tool_calls_outside_the_incidents_namespaces_are_answered_with_an_error() -> None:
    calls: list[tuple[str, dict[str, Any] | str]] = [
        ("get_pods", {"namespace": "kube-system"}),
        ("get_logs", {"namespace": "shop", "pod": "database-76c57dcd69-mqnrb", "lines": 20}),
        ("query_prometheus", {"query": 'up{namespace="payments"}'}),
    ]
    stand_in = OpenAIStandIn(script=[calls, json.dumps(ANSWER)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        last = stand_in.requests[-1].body
        answers = {m["tool_call_id"]: m["content"] for m in last["messages"] if m["role"] == "tool"}
        assert answers["call_0_0"].startswith("error: namespace 'kube-system' is not one of the incident's namespaces")
        assert answers["call_0_1"] == LOG
        assert answers["call_0_2"].startswith("error: namespace 'payments' is not one of the incident's namespaces")
        assert ("log", "shop", "database-76c57dcd69-mqnrb", None, 20) in h.kube.calls
        assert not any("kube-system" in call for call in h.kube.calls)
        got = h.analysis()
        assert got is not None and got.llm is not None and got.llm.state == "Succeeded" and got.llm.tool_calls == 3

    with running(stand_in):
        run(lambda: Harness(openai(stand_in, max_steps=2)), body)


def test_anonymised_tool_calls_are_run_with_real_names_and_answered_anonymised() -> None:
    calls: list[tuple[str, dict[str, Any] | str]] = [
        ("get_pods", {"namespace": "namespace-1", "selector": "app=service-2"})
    ]
    stand_in = OpenAIStandIn(script=[calls, json.dumps(ANSWER)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        assert ("pods", "shop", "app=database") in h.kube.calls
        (tool,) = [m for m in stand_in.requests[-1].body["messages"] if m["role"] == "tool"]
        assert '"namespace":"namespace-1"' in tool["content"] and "-mqnrb" in tool["content"]  # the pod, renamed
        for request in stand_in.requests:  # the tools' own descriptions aside, every message
            messages = json.dumps(request.body["messages"]).encode()
            for name in REAL_NAMES:
                assert name not in messages, name

    with running(stand_in):
        run(lambda: Harness(openai(stand_in, max_steps=2, anonymize=True)), body)


# -- other providers and the metrics ---------------------------------------------------------------


def test_metrics_count_each_provider_and_outcome() -> None:
    stand_in = OpenAIStandIn(script=[json.dumps(ANSWER)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        got = h.analysis()
        assert got is not None and got.llm is not None and got.llm.state == "Succeeded"
        assert h.metric("alertagent_analyses_started_total", provider="builtin") == 1
        assert h.metric("alertagent_analyses_total", provider="builtin", outcome="succeeded") == 1
        assert h.metric("alertagent_analysis_duration_seconds_count", provider="builtin") == 1
        assert h.metric("alertagent_analyses_started_total", provider="OpenAI") == 1
        assert h.metric("alertagent_analyses_total", provider="OpenAI", outcome="succeeded") == 1
        assert h.metric("alertagent_analyses_total", provider="OpenAI", outcome="failed") == 0
        assert h.metric("alertagent_analysis_duration_seconds_count", provider="OpenAI") == 1
        assert got.llm.tokens > 0 and h.metric("alertagent_analysis_tokens_total", provider="OpenAI") == got.llm.tokens
        assert got.llm.bytes_sent == sum(len(r.raw) for r in stand_in.requests)
        assert h.metric("alertagent_analysis_bytes_sent_total", provider="OpenAI") == got.llm.bytes_sent

    with running(stand_in):
        run(lambda: Harness(openai(stand_in)), body)


@pytest.mark.parametrize("provider", ["Dify", "N8n"])
def test_dify_and_n8n_answers_are_stored_and_counted(provider: str) -> None:
    dify = DifyStandIn(answer=json.dumps(ANSWER), tokens=321)
    n8n = N8nStandIn(answer=ANSWER, header=("X-N8n-Key", "n8n-s3cret"))

    async def body(h: Harness) -> None:
        await h.poll(incident())
        got = h.analysis()
        assert got is not None and got.llm is not None
        assert (got.llm.provider, got.llm.state) == (provider, "Succeeded")
        assert got.llm.result is not None and got.llm.result.root_cause == ANSWER["root_cause"]
        (request,) = (dify if provider == "Dify" else n8n).accepted()
        inputs = request.body["inputs"] if provider == "Dify" else request.body
        assert json.loads(inputs["incident"])["root"]["name"] == "database"
        assert h.metric("alertagent_analyses_total", provider=provider, outcome="succeeded") == 1
        if provider == "Dify":
            assert got.llm.tokens == 321 and h.metric("alertagent_analysis_tokens_total", provider="Dify") == 321

    with running(dify, n8n):
        settings = (
            LlmSettings(type="Dify", url=dify.base_url, api_key=dify.api_key)
            if provider == "Dify"
            else LlmSettings(type="N8n", url=n8n.url, api_key="n8n-s3cret", auth_header="X-N8n-Key")
        )
        run(lambda: Harness(settings), body)
