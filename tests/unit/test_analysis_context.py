"""Context: the chat messages and workflow inputs carry the incident and the report, redacted and
optionally anonymised, within their byte bound, saying what was dropped to fit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from alertagent.analysis.anonymize import Anonymizer
from alertagent.analysis.context import (
    MIN_BYTES,
    SYSTEM_PROMPT,
    AnalysisInput,
    chat_messages,
    incident_namespaces,
    workflow_inputs,
)
from alertagent.api.analysis import (
    BuiltinReport,
    EventFinding,
    IncidentAnalysis,
    PodFinding,
    RolloutFinding,
    WorkloadFinding,
)
from alertagent.api.incident import ImpactedService, IncidentStatus, Notifications, RootCause, TimelineEntry

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
CANARY = "CanaryS3cret9x7"


def sample(events: int = 3, pods: int = 2, impacted: int = 2) -> AnalysisInput:
    status = IncidentStatus(
        severity="critical",
        root=RootCause(namespace="shop", name="database", alerts=["DatabaseDown"]),
        impacted=[
            ImpactedService(namespace="shop" if i % 2 else "web", name=f"svc-{i}", depth=1 + i // 10, alerts=1)
            for i in range(impacted)
        ],
        services=impacted + 1,
        alerts=impacted + 1,
        start_time=T0,
        notifications=Notifications(sent=2, channels=["monitoring/ops"]),
        timeline=[TimelineEntry(time=T0 + timedelta(seconds=i), event=f"entry {i}") for i in range(10)],
        analysis=IncidentAnalysis(basis="0123456789abcdef"),
    )
    report = BuiltinReport(
        root="shop/database",
        summary="Root cause candidate: shop/database. 2 of 2 pods of Deployment shop/database are not ready.",
        workloads=[
            WorkloadFinding(
                kind="Deployment",
                namespace="shop",
                name="database",
                desired=pods,
                pods=[
                    PodFinding(
                        name=f"database-7d9f4-{i:05d}", phase="Running", restarts=7, reasons=["CrashLoopBackOff"]
                    )
                    for i in range(pods)
                ],
            )
        ],
        rollouts=[
            RolloutFinding(
                kind="Deployment",
                namespace="shop",
                name="database",
                revision="3",
                previous="2",
                time=T0,
                before_first_alert=120,
            )
        ],
        events=[
            EventFinding(
                time=T0 - timedelta(seconds=i),
                type="Warning",
                reason="BackOff",
                object=f"Pod/database-7d9f4-{i:05d}",
                message=f"Back-off restarting failed container; DB_PASSWORD={CANARY} " + "x" * 200,
            )
            for i in range(events)
        ],
        impacted=[f"shop/svc-{i}" for i in range(min(impacted, 100))],
        generated_time=T0,
    )
    return AnalysisInput(incident="shop-database-1a2b", cluster="monitoring/main", status=status, report=report)


def user_payload(content: str) -> dict:  # type: ignore[type-arg]
    return json.loads(content[content.index("{") :])


def test_chat_messages_hold_the_prompt_and_the_incident_as_json() -> None:
    messages = chat_messages(sample())
    assert [m["role"] for m in messages] == ["system", "user"]
    system = messages[0]["content"]
    assert system == SYSTEM_PROMPT
    for phrase in ["read-only", "Nothing you suggest is executed", '"root_cause"', "pod:ns/name", "tool:N"]:
        assert phrase in system
    user = messages[1]["content"]
    assert user.startswith("Incident shop-database-1a2b of cluster monitoring/main.\n")
    assert "Tools may read only these namespaces: shop, web." in user and "Omitted" not in user
    sent = user_payload(user)
    assert sent["incident"]["root"] == {
        "namespace": "shop",
        "name": "database",
        "inGraph": True,
        "alerts": ["DatabaseDown"],
    }
    assert not {"analysis", "notifications", "conditions"} & set(sent["incident"])
    assert sent["report"]["rollouts"][0]["revision"] == "3"
    assert ", " not in user[user.index("{") :].replace('", "', "")  # compact JSON: no blanks after separators


def test_nothing_secret_is_sent() -> None:
    messages = chat_messages(sample())
    inputs = workflow_inputs(sample())
    assert CANARY not in json.dumps(messages) and CANARY not in json.dumps(inputs)
    assert "DB_PASSWORD=[REDACTED]" in messages[1]["content"]


def test_big_incidents_drop_events_then_pods_first_and_say_so() -> None:
    data = sample(events=20, pods=20, impacted=200)
    for max_bytes in (24_000, 12_000, 8_000, MIN_BYTES):
        messages = chat_messages(data, max_bytes=max_bytes)
        assert sum(len(m["content"].encode()) for m in messages) <= max_bytes
    messages = chat_messages(data, max_bytes=24_000)
    user = messages[1]["content"]
    assert "Omitted to fit the context: " in user
    sent = user_payload(user)
    assert len(sent["report"]["events"]) < 20
    omitted = user.splitlines()[2]
    assert omitted.startswith(f"Omitted to fit the context: {20 - len(sent['report']['events'])} of 20 events")


def test_events_go_before_anything_else() -> None:
    data = sample(events=20, pods=2, impacted=2)
    full = sum(len(m["content"].encode()) for m in chat_messages(data, max_bytes=100_000))
    messages = chat_messages(data, max_bytes=full - 300)
    sent = user_payload(messages[1]["content"])
    assert 0 < len(sent["report"]["events"]) < 20
    assert len(sent["report"]["workloads"][0]["pods"]) == 2 and len(sent["incident"]["timeline"]) == 10
    assert sent["report"]["events"][0]["object"] == "Pod/database-7d9f4-00000"  # the first (most relevant) kept


def test_when_lists_are_not_enough_the_rest_is_summarised_within_the_bound() -> None:
    data = sample()
    long_summary = data.report.model_copy(update={"summary": "s" * 2048, "root": "shop/" + "d" * 240})  # type: ignore[union-attr]
    data = AnalysisInput(incident="i" * 250, cluster="c/" + "c" * 250, status=data.status, report=long_summary)
    messages = chat_messages(data, max_bytes=MIN_BYTES)
    assert sum(len(m["content"].encode()) for m in messages) <= MIN_BYTES
    assert "the rest summarised" in messages[1]["content"]


def test_timeline_keeps_its_newest_entries() -> None:
    data = sample(events=0, pods=0, impacted=60)
    full = sum(len(m["content"].encode()) for m in chat_messages(data, max_bytes=100_000))
    sent = user_payload(chat_messages(data, max_bytes=full - 100)[1]["content"])
    timeline = [entry["event"] for entry in sent["incident"]["timeline"]]
    assert timeline and timeline[-1] == "entry 9" and len(timeline) < 10
    assert len(sent["incident"]["impacted"]) == 60  # cut only after the timeline


def test_anonymised_messages_hold_no_names_and_fit() -> None:
    data = sample(events=5)
    names = Anonymizer.for_incident(data.status, data.report)
    messages = chat_messages(data, max_bytes=MIN_BYTES * 2, anonymizer=names)
    user = messages[1]["content"]
    assert sum(len(m["content"].encode()) for m in messages) <= MIN_BYTES * 2
    assert "database" not in user and "shop" not in user
    assert "Tools may read only these namespaces: namespace-1, namespace-2." in user
    assert names.restore(user_payload(user))["incident"]["root"]["name"] == "database"


def test_workflow_inputs_are_strings_within_the_bound() -> None:
    inputs = workflow_inputs(sample())
    assert set(inputs) == {"incident", "report", "question"}
    assert json.loads(inputs["incident"])["name"] == "shop-database-1a2b"
    assert json.loads(inputs["report"])["root"] == "shop/database"
    assert '"root_cause"' in inputs["question"] and "suggestions" in inputs["question"]
    big = workflow_inputs(sample(events=20, pods=20, impacted=500), max_bytes=10_000)
    assert sum(len(v.encode()) for v in big.values()) <= 10_000
    assert "Omitted to fit:" in big["question"]


def test_no_report_is_sent_as_null() -> None:
    data = sample()
    data = AnalysisInput(incident="x", cluster="m/c", status=data.status)
    assert user_payload(chat_messages(data)[1]["content"])["report"] is None
    assert workflow_inputs(data)["report"] == "null"


def test_namespaces() -> None:
    data = sample()
    assert incident_namespaces(data.status, data.report) == ("shop", "web")
    assert data.allowed_namespaces == ("shop", "web")
    given = AnalysisInput(incident="x", cluster="m/c", status=data.status, namespaces=["b", "a", "a"])
    assert given.allowed_namespaces == ("a", "b")


def test_too_small_a_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        chat_messages(sample(), max_bytes=MIN_BYTES - 1)
    with pytest.raises(ValueError, match="at least"):
        workflow_inputs(sample(), max_bytes=100)
