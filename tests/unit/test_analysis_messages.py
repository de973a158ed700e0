# ruff: noqa: RUF001 - the Chinese templates' punctuation is full-width on purpose
"""An incident's analysis where people see it: the robot messages (render/robots/incidents.py
`analysis_context`, the incident templates through formats.render_requests(incidents=..., analyses=...)
and render_notice(..., "analysis", ...)), `alertagent incidents show` (incidents/present.py
`analysis_lines`), and the Incident's status (incidents/record.py `incident_status`,
`analysis_from_object`, `plan_writes(analyses=...)`). Pure, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from alertagent.api.analysis import (
    AnalysisResult,
    BuiltinReport,
    Evidence,
    IncidentAnalysis,
    LlmAnalysis,
    PodFinding,
    RolloutFinding,
    SuggestedAction,
    WorkloadFinding,
)
from alertagent.incidents.present import analysis_lines, incident_report
from alertagent.incidents.record import (
    Sent,
    Written,
    analysis_from_object,
    incident_status,
    plan_writes,
    status_digest,
)
from alertagent.render.robots.formats import render_notice, render_requests
from alertagent.render.robots.incidents import analysis_context

from .test_incident_messages import T0, incident
from .test_robot_formats import channel, payload, text_of

NAME = "postgres-1a2b3c4d"  # test_incident_messages.incident()'s name
CLUSTER = "monitoring/main"
GENERATED = datetime(2024, 5, 1, 2, 1, tzinfo=UTC)
SUMMARY = "Root cause candidate: data/postgres. 1 of 3 pods of StatefulSet data/postgres is not ready."
UNDO = "kubectl rollout undo statefulset/postgres -n data"
FORCED = "kubectl delete pod postgres-2 -n data"  # a StatefulSet's undo: its pod never ready is deleted


def report() -> BuiltinReport:
    """data/postgres: a crash-looping pod, and a rollout 10 minutes before the first alert."""
    return BuiltinReport(
        root="data/postgres",
        summary=SUMMARY,
        workloads=[
            WorkloadFinding(
                kind="StatefulSet",
                namespace="data",
                name="postgres",
                desired=3,
                ready=2,
                pods=[PodFinding(name="postgres-2", phase="Running", restarts=5, reasons=["CrashLoopBackOff"])],
            )
        ],
        rollouts=[
            RolloutFinding(
                kind="StatefulSet",
                namespace="data",
                name="postgres",
                revision="postgres-7d9",
                previous="postgres-5c4",
                time=datetime(2024, 5, 1, 1, 50, tzinfo=UTC),
                before_first_alert=600,
            )
        ],
        impacted=["shop/api", "shop/cart"],
        generated_time=GENERATED,
    )


def structured() -> AnalysisResult:
    return AnalysisResult(
        root_cause="postgres-2 is OOMKilled since revision postgres-7d9 lowered its memory limit",
        impact="checkout fails for every user",
        confidence=0.853,
        evidence=[
            Evidence(fact="pod:data/postgres-2", detail="OOMKilled, 5 restarts"),
            Evidence(fact="rollout:data/StatefulSet/postgres", detail="revision postgres-7d9 10m before"),
            Evidence(fact="tool:1", detail="the log ends with out of memory"),
            Evidence(fact="query:DatabaseDown", detail="held since 02:00"),
        ],
        actions=[
            SuggestedAction(kind="RolloutUndo", namespace="data", target="statefulset/postgres", command=UNDO),
            SuggestedAction(kind="Scale", namespace="data", target="statefulset/postgres", replicas=3),
        ],
    )


def llm(
    result: AnalysisResult | None = None, state: str = "Succeeded", message: str = "", provider: str = "OpenAI"
) -> LlmAnalysis:
    return LlmAnalysis.model_validate(
        {
            "provider": provider,
            "model": "gpt-4o-mini" if provider == "OpenAI" else "",
            "state": state,
            "message": message,
            "result": result.model_dump() if result is not None else None,
            "tokens": 1234 if state != "Pending" else 0,
            "toolCalls": 2 if state != "Pending" else 0,
            "bytesSent": 5678 if state != "Pending" else 0,
        }
    )


def analysis(builtin: bool = True, answer: LlmAnalysis | None = None) -> IncidentAnalysis:
    return IncidentAnalysis(basis="b1", builtin=report() if builtin else None, llm=answer)


def root_message(language: str = "en", analyses: dict[str, IncidentAnalysis] | None = None) -> str:
    (request,) = render_requests(
        channel("dingtalk", language=language), payload(), incidents=[incident()], analyses=analyses
    )
    return text_of(request)


# -- analysis_context ------------------------------------------------------------------------------


def test_the_context_has_the_summary_the_suggested_commands_and_no_llm_without_one() -> None:
    assert analysis_context(analysis()) == {"summary": SUMMARY, "actions": [UNDO, FORCED], "llm": None}


def test_the_context_of_an_llm_answer_gives_percent_and_at_most_three_items() -> None:
    context = analysis_context(analysis(answer=llm(structured())))
    assert context is not None and context["llm"] is not None
    got = context["llm"]
    assert (got["provider"], got["state"], got["structured"], got["confidence"]) == ("OpenAI", "Succeeded", True, 85)
    assert got["root_cause"] == structured().root_cause and got["impact"] == "checkout fails for every user"
    assert got["evidence"] == [  # each with the fact it points to
        "OOMKilled, 5 restarts [pod:data/postgres-2]",
        "revision postgres-7d9 10m before [rollout:data/StatefulSet/postgres]",
        "the log ends with out of memory [tool:1]",
    ]
    assert got["actions"] == [UNDO, "Scale statefulset/postgres"]  # no command: its kind and target


def test_no_context_without_an_analysis_or_with_an_empty_one() -> None:
    assert analysis_context(None) is None
    assert analysis_context(IncidentAnalysis(basis="b1")) is None
    pending = analysis_context(analysis(builtin=False, answer=llm(state="Pending")))
    assert pending == {"summary": "", "actions": [], "llm": None}  # nothing to show until it answers


# -- the incident section of a root alert's message ------------------------------------------------


def test_the_section_carries_the_builtin_summary_and_commands_marked_not_run() -> None:
    text = root_message(analyses={NAME: analysis()})
    assert f"**Analysis**: {SUMMARY}" in text
    assert f"- Suggested (not run): `{UNDO}`" in text
    # After the incident's tree, before the alert's own details.
    assert text.index("Incident postgres-1a2b3c4d") < text.index("**Analysis**") < text.index("p99 latency above 1s")


def test_an_llm_answer_gives_root_cause_confidence_evidence_and_actions() -> None:
    text = root_message(analyses={NAME: analysis(answer=llm(structured()))})
    assert f"(OpenAI, confidence 85%): {structured().root_cause}" in text
    assert "Impact: checkout fails for every user" in text
    assert "- Evidence: OOMKilled, 5 restarts" in text and "- Evidence: the log ends with out of memory" in text
    assert "held since 02:00" not in text  # the fourth evidence item is left out
    assert "- Suggested (not run): `Scale statefulset/postgres`" in text
    assert text.count(f"`{UNDO}`") == 2  # the built-in suggestion and the model's


def test_an_unstructured_answer_is_shown_as_its_text() -> None:
    answer = llm(AnalysisResult(structured=False, text="The database ran out of memory, I think."))
    text = root_message(analyses={NAME: analysis(answer=answer)})
    assert "(OpenAI, unstructured): The database ran out of memory, I think." in text
    assert "confidence" not in text


def test_without_an_analysis_there_is_no_analysis_line() -> None:
    for text in (root_message(), root_message(analyses={"another-incident": analysis()})):
        assert "Analysis" not in text and "not run" not in text
        assert "Incident postgres-1a2b3c4d" in text  # the section itself is there


def test_the_chinese_section() -> None:
    text = root_message("zh", {NAME: analysis(answer=llm(structured()))})
    assert f"**分析**：{SUMMARY}" in text
    assert f"- 建议（未执行）：`{UNDO}`" in text
    assert f"（OpenAI，置信度 85%）：{structured().root_cause}" in text
    assert "- 证据：OOMKilled, 5 restarts" in text and "影响：checkout fails for every user" in text
    unstructured = llm(AnalysisResult(structured=False, text="内存不足"))
    assert "（OpenAI，非结构化）：内存不足" in root_message("zh", {NAME: analysis(answer=unstructured)})
    assert "分析" not in root_message("zh") and "未执行" not in root_message("zh")


# -- the analysis notice ---------------------------------------------------------------------------


def notice(language: str, answer: LlmAnalysis) -> tuple[str, str]:
    (request,) = render_notice(
        channel("dingtalk", language=language), "analysis", incident(), analysis=analysis(answer=answer)
    )
    return str(request.body["markdown"]["title"]), text_of(request)


def test_the_analysis_notice_names_the_incident_and_carries_the_llm_answer() -> None:
    title, text = notice("en", llm(structured()))
    assert title == "[ANALYSIS] Incident data/postgres"
    assert "**Analysis of incident postgres-1a2b3c4d** (root data/postgres, 5 services)." in text
    assert f"(OpenAI, confidence 85%): {structured().root_cause}" in text
    assert "- Evidence: OOMKilled, 5 restarts" in text
    assert f"- Suggested (not run): `{UNDO}`" in text
    unstructured = notice("en", llm(AnalysisResult(structured=False, text="Look at the database.")))[1]
    assert "(OpenAI, unstructured): Look at the database." in unstructured


def test_the_chinese_analysis_notice() -> None:
    title, text = notice("zh", llm(structured()))
    assert title == "[分析] 故障 data/postgres"
    assert "**故障 postgres-1a2b3c4d 的分析**（根因 data/postgres，5 个服务）。" in text
    assert f"（OpenAI，置信度 85%）：{structured().root_cause}" in text and f"- 建议（未执行）：`{UNDO}`" in text


# -- incidents show --------------------------------------------------------------------------------


def wire(value: IncidentAnalysis) -> dict[str, Any]:
    return value.model_dump(mode="json", by_alias=True)


def test_show_gives_the_builtin_report_and_its_suggestions() -> None:
    lines = analysis_lines(wire(analysis()))
    assert lines[:3] == ["", "Analysis (built-in):", "  Root cause candidate: data/postgres"]
    assert "    postgres-2 Running not ready, restarts 5 (CrashLoopBackOff)" in lines
    assert lines[-2:] == [f"  Suggested (not run): {UNDO}", f"  Suggested (not run): {FORCED}"]
    assert not any(line.startswith("Analysis (OpenAI") for line in lines)


def test_show_gives_a_succeeded_llm_answer_in_full() -> None:
    lines = analysis_lines(wire(analysis(answer=llm(structured()))))
    start = lines.index("Analysis (OpenAI gpt-4o-mini): Succeeded")
    assert lines[start + 1 :] == [
        f"  Root cause (85% confident): {structured().root_cause}",
        "  Impact: checkout fails for every user",
        "  Evidence [pod:data/postgres-2]: OOMKilled, 5 restarts",
        "  Evidence [rollout:data/StatefulSet/postgres]: revision postgres-7d9 10m before",
        "  Evidence [tool:1]: the log ends with out of memory",
        "  Evidence [query:DatabaseDown]: held since 02:00",
        f"  Suggested (not run): {UNDO}",
        "  Suggested (not run): Scale statefulset/postgres",
        "  1234 tokens, 2 tool calls, 5678 bytes sent",
    ]


def test_show_gives_a_failed_llm_with_its_reason_and_the_builtin_as_off() -> None:
    failed = llm(state="Failed", message="OpenAI: HTTP 401 invalid_api_key")
    lines = analysis_lines(wire(analysis(builtin=False, answer=failed)))
    assert lines == [
        "",
        "Analysis (built-in):",
        "  (off)",
        "",
        "Analysis (OpenAI gpt-4o-mini): Failed: OpenAI: HTTP 401 invalid_api_key",
        "  1234 tokens, 2 tool calls, 5678 bytes sent",
    ]


def test_show_gives_a_pending_llm_without_counts() -> None:
    lines = analysis_lines(wire(analysis(answer=llm(state="Pending", provider="Dify"))))
    assert lines[-1] == "Analysis (Dify): Pending"


def test_show_gives_an_unstructured_answer_as_text() -> None:
    answer = llm(AnalysisResult(structured=False, text="line one\nline two"), message="the answer did not parse")
    lines = analysis_lines(wire(analysis(answer=answer)))
    assert "Analysis (OpenAI gpt-4o-mini): Succeeded: the answer did not parse" in lines
    assert lines[-3:] == ["  line one", "  line two", "  1234 tokens, 2 tool calls, 5678 bytes sent"]


def test_show_says_when_the_analysis_is_unreadable_and_nothing_without_one() -> None:
    assert analysis_lines({"llm": {"provider": "OpenAI", "state": "Thinking"}}) == ["", "Analysis: (unreadable)"]
    assert analysis_lines(None) == [] and analysis_lines({}) == []


def test_the_report_of_incidents_show_ends_with_the_analysis() -> None:
    status = incident_status(incident(), analysis=analysis(answer=llm(structured())))
    text = incident_report(
        {"metadata": {"namespace": "data", "name": NAME}, "spec": {"cluster": CLUSTER}, "status": status}
    )
    assert text.index("Timeline:") < text.index("Analysis (built-in):") < text.index("Analysis (OpenAI gpt-4o-mini)")


# -- the Incident's status -------------------------------------------------------------------------


def test_the_status_holds_the_analysis_in_wire_form_and_reads_back() -> None:
    stored = analysis(answer=llm(structured()))
    status = incident_status(incident(), Sent(), stored)
    assert status["analysis"]["builtin"]["generatedTime"] == "2024-05-01T02:01:00Z"
    assert status["analysis"]["llm"]["toolCalls"] == 2 and status["analysis"]["llm"]["result"]["rootCause"]
    assert analysis_from_object({"status": status}) == stored


def test_without_an_analysis_the_status_says_null_and_reads_back_none() -> None:
    status = incident_status(incident())
    assert "analysis" in status and status["analysis"] is None  # a merge patch clears a stale one
    assert analysis_from_object({"status": status}) is None
    assert analysis_from_object({}) is None
    assert analysis_from_object({"status": {"analysis": {"llm": {"state": "Done"}}}}) is None  # invalid: none


@pytest.fixture
def written() -> dict[str, Written]:
    """The incident as last written, without an analysis, a minute ago."""
    return {NAME: Written("data", T0, status_digest(incident_status(incident())))}


def test_an_analysis_alone_is_written_when_its_incident_is_pending(written: dict[str, Written]) -> None:
    quiet = replace(incident(), changed=False)
    plan = plan_writes([quiet], written, CLUSTER, None, T0 + 60, pending={NAME}, analyses={NAME: analysis()})
    (write,) = plan.writes
    assert (write.op, write.name, write.namespace) == ("status", NAME, "data")
    assert write.status is not None and write.status["analysis"] == wire(analysis())
    assert write.digest == status_digest(incident_status(quiet, Sent(), analysis()))


def test_an_analysis_is_not_written_unless_its_incident_is_pending(written: dict[str, Written]) -> None:
    quiet = replace(incident(), changed=False)
    assert (
        plan_writes([quiet], written, CLUSTER, None, T0 + 60, pending=set(), analyses={NAME: analysis()}).writes == ()
    )


def test_a_pending_incident_whose_analysis_did_not_change_is_not_written(written: dict[str, Written]) -> None:
    quiet = replace(incident(), changed=False)
    assert plan_writes([quiet], written, CLUSTER, None, T0 + 60, pending={NAME}).writes == ()
    stored = {NAME: analysis()}
    again = {NAME: Written("data", T0, status_digest(incident_status(quiet, Sent(), analysis())))}
    assert plan_writes([quiet], again, CLUSTER, None, T0 + 60, pending={NAME}, analyses=stored).writes == ()
