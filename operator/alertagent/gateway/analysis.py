"""Incident analysis (I/O): after each poll, the replica holding a cluster's Lease analyses every firing
incident whose material state (root, services, state: `analysis.budget.material_basis`) it has not
analysed yet — one analysis per incident, redone only when that changes.

1. **Built-in report** (`analysis.builtin`): the root's namespace is read (Services, pods, workloads,
   ControllerRevisions, Events: `GatewayKube.list_for_analysis`, read-only) and the root alerts' own
   expressions are evaluated over `lookback` (`/api/v1/query_range` on the evaluator their
   generatorURL names). It is stored in the Incident at once (`IncidentBook.write_now`, not waiting out
   the 10 s between writes), so the first notification, held for the cascade, carries it.
2. **LLM** (`llm` set, within the cluster's rate and token caps): the incident and the report, redacted
   (and anonymised when asked), go to the provider (`clients.llm`); an OpenAI-compatible model may call
   the read-only tools of `analysis.tools`, limited to the incident's namespaces, each output redacted
   and capped. The answer is parsed into an `AnalysisResult`, stored, and sent as an update to the
   channels that got the incident's first message. A provider outage or timeout never delays a
   notification: the notification never waits for it.

Nothing is ever executed: suggested actions are data."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

import httpx

from ..analysis import actions, answer, budget, builtin, context, promql, summaries, tools
from ..analysis.anonymize import Anonymizer
from ..analysis.facts import ClusterFacts
from ..api.analysis import BuiltinReport, IncidentAnalysis, LlmAnalysis, QueryFinding
from ..api.incident import IncidentStatus
from ..clients import llm
from ..clients.gatewaykube import ANALYSIS_KINDS, GatewayKube, GatewayKubeError
from ..discovery.snapshot import Graph
from ..incidents import record, track
from ..render.robots.models import AnalysisSettings, LlmSettings
from ..render.tenancy import scope_selectors
from .incidents import IncidentBook
from .metrics import AnalysisMetrics

log = logging.getLogger("alertagent.gateway.analysis")

QUERY_POINTS = 240  # samples per series over the lookback (the step follows)
MIN_STEP = 15.0  # seconds
ROOT_QUERIES = 4  # root alert expressions evaluated per incident


class Notifier(Protocol):
    async def analysis_ready(self, cluster: str, incident: track.Incident) -> None: ...


def _iso(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


class AnalysisService:
    """See the module docstring. `kube` returns the engines' client (None until connected);
    `notifier` the gateway's incident notifier (None: no updates are sent)."""

    def __init__(
        self,
        book: IncidentBook,
        kube: Callable[[], GatewayKube | None],
        metrics: AnalysisMetrics | None = None,
        notifier: Callable[[], Notifier | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        request_timeout: float = 10.0,
    ) -> None:
        self.book, self.kube, self.metrics, self.notifier, self.clock = book, kube, metrics, notifier, clock
        self.http = httpx.AsyncClient(timeout=request_timeout)
        self.rate = budget.RateCap()
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}

    def start(self) -> None:
        self.book.subscribe(self.on_poll)

    async def stop(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await self.http.aclose()

    # -- what to analyse ---------------------------------------------------------------------------
    async def on_poll(self, cluster: str, incidents: list[track.Incident]) -> None:
        """Start the analyses due (see the module docstring); never waits for one. The built-in report
        is made at once and again on each material change; the LLM is asked once the incident's hold
        has passed (the cascade has gathered: its first message goes out then), and again on a
        material change."""
        settings = self.book.settings(cluster)
        options = settings.analysis if settings is not None else None
        if settings is None or options is None or not self.book.is_leader(cluster):
            return
        now = self.clock()
        for incident in incidents:
            key = (cluster, incident.name)
            if incident.state != track.FIRING or key in self._running:
                continue
            status = record.status_model(incident)
            basis = budget.material_basis(status)
            have = self.book.analysis(cluster, incident.name)
            builtin_due = options.builtin and (have is None or have.basis != basis)
            llm_due = (
                options.llm is not None
                and now >= incident.started + settings.hold
                and (have is None or have.llm is None or have.llm.basis != basis)
            )
            if not (builtin_due or llm_due):
                continue
            task = asyncio.create_task(self._analyse(cluster, incident, status, basis, options, builtin_due, llm_due))
            self._running[key] = task
            task.add_done_callback(partial(self._done, key))

    def _done(self, key: tuple[str, str], _task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)

    async def _analyse(
        self,
        cluster: str,
        incident: track.Incident,
        status: IncidentStatus,
        basis: str,
        options: AnalysisSettings,
        builtin_due: bool,
        llm_due: bool,
    ) -> None:
        name = incident.name
        try:
            have = self.book.analysis(cluster, name)
            report, asked = (have.builtin, have.llm) if have is not None else (None, None)
            if builtin_due:
                report = await self._builtin(cluster, incident, status, options)
                await self._store(cluster, name, IncidentAnalysis(basis=basis, builtin=report, llm=asked))
            if not llm_due or options.llm is None:
                return
            result = await self._llm(cluster, incident, status, report, options.llm, options, basis)
            await self._store(cluster, name, IncidentAnalysis(basis=basis, builtin=report, llm=result))
            notifier = self.notifier()
            if notifier is not None and result.state == "Succeeded":
                await notifier.analysis_ready(cluster, incident)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("incident %s: its analysis failed", name)

    async def _store(self, cluster: str, name: str, analysis: IncidentAnalysis) -> None:
        self.book.set_analysis(cluster, name, analysis)
        await self.book.write_now(cluster, name)

    # -- the built-in report -----------------------------------------------------------------------
    async def _builtin(
        self, cluster: str, incident: track.Incident, status: IncidentStatus, options: AnalysisSettings
    ) -> BuiltinReport:
        started = time.monotonic()
        if self.metrics:
            self.metrics.started.labels("builtin").inc()
        namespace = status.root.namespace if status.root is not None else ""
        facts, queries = await asyncio.gather(self._facts(namespace), self._queries(cluster, incident, options))
        report = builtin.builtin_report(status, facts, queries, _iso(self.clock()), options.rollout_window)
        if self.metrics:
            self.metrics.finished.labels("builtin", "succeeded").inc()
            self.metrics.duration.labels("builtin").observe(time.monotonic() - started)
        log.info("incident %s: built-in analysis: %s", incident.name, report.summary)
        return report

    async def _facts(self, namespace: str) -> ClusterFacts:
        """The root namespace's objects; a kind that cannot be read is empty (and logged)."""
        kube = self.kube()

        async def read(kind: str) -> list[dict[str, Any]]:
            if kube is None or not namespace:
                return []
            try:
                return await asyncio.to_thread(kube.list_for_analysis, kind, namespace)
            except GatewayKubeError as err:
                log.warning("analysis: %s (that part of the report is empty)", err)
                return []

        kinds = sorted(ANALYSIS_KINDS)
        lists = await asyncio.gather(*(read(kind) for kind in kinds))
        return ClusterFacts(**dict(zip(kinds, lists, strict=True)))

    async def _queries(self, cluster: str, incident: track.Incident, options: AnalysisSettings) -> list[QueryFinding]:
        """The root alerts' expressions over the lookback window (one per alert name)."""
        alerts = self.book.alerts(cluster)
        seen: dict[str, tuple[str, str]] = {}
        for fingerprint in sorted(incident.root_fingerprints):
            alert = alerts.get(fingerprint)
            if alert is None:
                continue
            name = alert.labels.get("alertname", "")
            if not name or name in seen:
                continue
            found = promql.expr_from_generator_url(alert.generator_url) or await self._vmalert_expression(
                alert.generator_url
            )
            if found is not None:
                base, expr = found
                # Grafana and vmalert links name no Prometheus-compatible API: the cluster's evaluator answers.
                base = base or self._evaluator(cluster)
                if base:
                    seen[name] = (base, expr)
        findings = []
        for name, (base, expr) in sorted(seen.items())[:ROOT_QUERIES]:
            findings.append(await self._query(name, base, expr, options.lookback))
        return findings

    async def _vmalert_expression(self, url: str) -> tuple[str, str] | None:
        """("", expression) of a vmalert alert whose generatorURL (vmalert's default) holds no
        expression: read from vmalert's `/api/v1/alert` JSON; None when it is not one or unreadable."""
        api = promql.vmalert_alert_api(url)
        if api is None:
            return None
        try:
            response = await self.http.get(api)
            expr = response.json().get("expression") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return ("", expr) if isinstance(expr, str) and expr else None

    def _evaluator(self, cluster: str) -> str:
        """Where PromQL goes when an alert's link names no Prometheus-compatible API: the evaluator a
        root alert's Prometheus link names, else the cluster's first Prometheus evaluator; "" for none."""
        for alert in self.book.alerts(cluster).values():
            found = promql.expr_from_generator_url(alert.generator_url)
            if found is not None and found[0]:
                return found[0]
        settings = self.book.settings(cluster)
        evaluators = settings.analysis.evaluators if settings is not None and settings.analysis is not None else []
        return evaluators[0] if evaluators else ""

    async def _query(self, alert: str, base: str, expr: str, lookback: float) -> QueryFinding:
        end = self.clock()
        params = promql.query_range_params(expr, end, lookback, max(MIN_STEP, lookback / QUERY_POINTS))
        try:
            response = await self.http.get(base.rstrip("/") + "/api/v1/query_range", params=params)
            body = response.json()
            if response.status_code != 200 or body.get("status") != "success":
                raise ValueError(f"HTTP {response.status_code}: {str(body.get('error', ''))[:200]}")
            crossed, series = promql.crossing(body, end, float(params["step"]))
        except (httpx.HTTPError, ValueError) as err:
            reason = str(err) if isinstance(err, ValueError) else type(err).__name__  # httpx may quote the URL
            return QueryFinding(alert=alert, expr=expr[:4096], error=reason[:1024])
        return QueryFinding(alert=alert, expr=expr[:4096], crossed_time=crossed, series=series)

    # -- the LLM -----------------------------------------------------------------------------------
    async def _llm(
        self,
        cluster: str,
        incident: track.Incident,
        status: IncidentStatus,
        report: BuiltinReport | None,
        settings: LlmSettings,
        options: AnalysisSettings,
        basis: str,
    ) -> LlmAnalysis:
        provider, now = settings.type, self.clock()
        base = LlmAnalysis(provider=provider, model=settings.model, basis=basis, started_time=_iso(now))
        if settings.problem:
            return self._ended(base, "Skipped", settings.problem)
        refused = self.rate.allow(cluster, now, options.max_per_hour, options.max_tokens_per_day)
        if refused is not None:
            return self._ended(base, "Skipped", refused)
        if self.metrics:
            self.metrics.started.labels(provider).inc()
        namespaces = sorted(
            {status.root.namespace if status.root else "", *(i.namespace for i in status.impacted)} - {""}
        )
        data = context.AnalysisInput(
            incident=incident.name, cluster=cluster, status=status, report=report, namespaces=namespaces
        )
        names = await self._anonymizer(status, report, namespaces) if settings.anonymize else None
        started = time.monotonic()
        try:
            got = await self._ask(cluster, settings, data, names)
        except llm.ProviderError as err:
            spent = err.answer or llm.ProviderAnswer()
            self.rate.spent(cluster, self.clock(), spent.tokens)
            if self.metrics:
                self.metrics.tokens.labels(provider).inc(spent.tokens)
                self.metrics.bytes_sent.labels(provider).inc(spent.bytes_sent)
            failed = base.model_copy(
                update={"tokens": spent.tokens, "tool_calls": len(spent.tool_calls), "bytes_sent": spent.bytes_sent}
            )
            return self._ended(failed, "Failed", str(err))
        self.rate.spent(cluster, self.clock(), got.tokens)
        result = answer.answer_from_json(got.data) if got.data is not None else answer.parse_answer(got.text)
        if names is not None:
            result = names.restore(result)
        result = actions.vet_actions(result, namespaces, len(got.tool_calls))
        if self.metrics:
            self.metrics.duration.labels(provider).observe(time.monotonic() - started)
            self.metrics.tokens.labels(provider).inc(got.tokens)
            self.metrics.bytes_sent.labels(provider).inc(got.bytes_sent)
        done = base.model_copy(
            update={
                "tokens": got.tokens,
                "tool_calls": len(got.tool_calls),
                "bytes_sent": got.bytes_sent,
                "result": result,
            }
        )
        message = "" if result.structured else "the answer did not parse: kept as text"
        return self._ended(done, "Succeeded", message)

    async def _anonymizer(
        self, status: IncidentStatus, report: BuiltinReport | None, namespaces: list[str]
    ) -> Anonymizer:
        """The incident's names, and those of every pod and container of the root's namespace (the
        report's Event messages name containers: "failed container postgres"), so none is sent as is."""
        names = Anonymizer.for_incident(status, report)
        namespace = status.root.namespace if status.root is not None else ""
        if namespace in namespaces:
            facts = await self._facts(namespace)
            names.learn(summaries.pods_summary(namespace, facts.pods))
        return names

    def _ended(self, analysis: LlmAnalysis, state: str, message: str) -> LlmAnalysis:
        if self.metrics:
            self.metrics.finished.labels(analysis.provider, state.lower()).inc()
        log.info("analysis by %s: %s%s", analysis.provider, state, f" ({message})" if message else "")
        return analysis.model_copy(
            update={"state": state, "message": message[:1024], "finished_time": _iso(self.clock())}
        )

    async def _ask(
        self, cluster: str, settings: LlmSettings, data: context.AnalysisInput, names: Anonymizer | None
    ) -> llm.ProviderAnswer:
        limit = llm.Budget(max_steps=settings.max_steps, max_tokens=settings.max_tokens, timeout=settings.timeout)
        if settings.type == "OpenAI":
            run_tool = self._tool_runner(cluster, data.namespaces, names)
            return await llm.openai_chat(
                self.http,
                settings.url,
                settings.api_key,
                settings.model,
                context.chat_messages(data, anonymizer=names),
                tools.openai_tools() if settings.max_steps > 0 else [],
                run_tool,
                limit,
                settings.temperature,
            )
        inputs = context.workflow_inputs(data, anonymizer=names)
        if settings.type == "Dify":
            mode = "chat" if settings.dify_mode == "Chat" else "workflow"
            return await llm.dify(
                self.http, settings.url, settings.api_key or "", mode, inputs, inputs["question"], limit
            )
        headers = {settings.auth_header: settings.api_key} if settings.api_key else {}
        return await llm.n8n(self.http, settings.url, headers, inputs, limit)

    # -- the read-only tools -----------------------------------------------------------------------
    def _tool_runner(
        self, cluster: str, namespaces: list[str], names: Anonymizer | None
    ) -> Callable[[str, str], Awaitable[str]]:
        """The OpenAI tool runner: a call checked (`tools.check_call`), run, summarised, and — when
        anonymising — the names in its output learned first, so none reaches the provider."""

        async def run(name: str, arguments: str) -> str:
            if names is not None:
                arguments = json.dumps(names.restore(_loads(arguments)))
            call = tools.check_call(name, arguments, namespaces)
            if isinstance(call, str):
                return str(names.anonymize(call)) if names is not None else call  # it lists the namespaces
            try:
                output: Any = await self._run_tool(cluster, call, namespaces)
            except GatewayKubeError as err:
                output = {"error": str(err)}
            if names is not None:
                names.learn(output)
                output = names.anonymize(output)
            return tools.cap_output(output, tail=call.name == "get_logs")

        return run

    async def _run_tool(self, cluster: str, call: tools.ToolCall, namespaces: list[str]) -> Any:
        """A checked call's output: summaries (`analysis.summaries`) of what the API returns, the log
        tail as text, the scoped PromQL result, or the graph neighbours."""
        args, kube = call.arguments, self.kube()
        if call.name == "graph_neighbours":
            return _neighbours(self.book.graph(cluster), str(args["service"]))
        if call.name == "query_prometheus":
            return await self._instant(cluster, str(args["query"]), namespaces, args.get("range"))
        if kube is None:
            return {"error": "no Kubernetes connection"}
        namespace = str(args["namespace"])
        if call.name == "get_logs":
            container = args.get("container")
            lines = int(args["lines"])
            return await asyncio.to_thread(kube.pod_log, namespace, str(args["pod"]), container, lines)
        if call.name == "get_pods":
            pods = await asyncio.to_thread(kube.list_for_analysis, "pods", namespace, str(args.get("selector") or ""))
            return summaries.pods_summary(namespace, pods)
        if call.name == "get_events":
            events = await asyncio.to_thread(kube.list_for_analysis, "events", namespace)
            wanted = str(args.get("object") or "")
            return summaries.events_summary(namespace, [e for e in events if not wanted or _about(e, wanted)])
        kinds = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
        found = {k: await asyncio.to_thread(kube.list_for_analysis, plural, namespace) for k, plural in kinds.items()}
        return summaries.workloads_summary(namespace, found)

    async def _instant(self, cluster: str, query: str, namespaces: list[str], seconds: float | None = None) -> Any:
        """A PromQL query, scoped first to the incident's namespaces (every selector gets a matcher on
        the cluster's namespace label, `render.tenancy.scope_selectors`), run as an instant query (or a
        range query over the last `seconds`); series of other namespaces still in the answer are
        dropped. A query that cannot be scoped faithfully is answered with an `error: …` string, never
        run."""
        settings = self.book.settings(cluster)
        label = settings.namespace_label if settings is not None else "namespace"
        try:
            op, value = tools.namespace_matcher(namespaces)
            scoped = scope_selectors(query, label, value, op)
        except ValueError as err:  # ScopeError included
            return f"error: the query was not run: {err}"
        base = self._evaluator(cluster)
        if not base:
            return {"error": "no evaluator to query"}
        if seconds:
            step = max(MIN_STEP, seconds / tools.RANGE_POINTS)
            path, params = "/api/v1/query_range", promql.query_range_params(scoped, self.clock(), seconds, step)
        else:
            path, params = "/api/v1/query", {"query": scoped}
        try:
            response = await self.http.get(base.rstrip("/") + path, params=params)
            body = response.json()
        except (httpx.HTTPError, ValueError) as err:
            return {"error": type(err).__name__}
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            return {"query": scoped, "error": str(error or f"HTTP {response.status_code}")[:1024]}
        body, dropped = tools.scope_prometheus_result(body, label, namespaces)
        data = body.get("data") or {}
        out: dict[str, Any] = {"query": scoped, "resultType": data.get("resultType"), "result": data.get("result")}
        if dropped:
            out["dropped"] = f"{dropped} series of other namespaces"
        return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _about(event: Mapping[str, Any], wanted: str) -> bool:
    """Whether an Event is about `wanted` (`Kind/name` or a bare name)."""
    target = event.get("involvedObject") or event.get("regarding") or {}
    kind, name = str(target.get("kind", "")), str(target.get("name", ""))
    return wanted in (name, f"{kind}/{name}")


def _neighbours(graph: Graph, service: str) -> dict[str, Any]:
    """What `service` (a node id) calls and what calls it, over the edges the incidents use."""
    edges = [e for e in graph.edges if graph.selected(e)]
    calls = sorted(e.callee for e in edges if e.caller == service)
    callers = sorted(e.caller for e in edges if e.callee == service)
    return {"service": service, "calls": calls, "calledBy": callers}
