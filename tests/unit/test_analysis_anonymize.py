"""Anonymisation: names become stable tokens, nothing of them is left in what is sent, and the answer
maps back exactly (whole names only, longest first, pods keeping a mapped prefix)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertagent.analysis.anonymize import Anonymizer
from alertagent.api.analysis import (
    AnalysisResult,
    BuiltinReport,
    EventFinding,
    Evidence,
    PodFinding,
    RolloutFinding,
    SuggestedAction,
    WorkloadFinding,
)
from alertagent.api.incident import ImpactedService, IncidentStatus, RootCause

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def incident() -> tuple[IncidentStatus, BuiltinReport]:
    status = IncidentStatus(
        root=RootCause(namespace="data", name="postgres", alerts=["PostgresDown"]),
        impacted=[
            ImpactedService(namespace="shop", name="api", depth=1, alerts=2, parent="data/postgres"),
            ImpactedService(namespace="shop", name="api-gateway", depth=2, alerts=1, parent="shop/api"),
        ],
        services=3,
        start_time=T0,
    )
    report = BuiltinReport(
        root="data/postgres",
        summary="Root cause candidate: data/postgres. 1 of 1 pods of StatefulSet data/postgres is not ready.",
        workloads=[
            WorkloadFinding(
                kind="StatefulSet",
                namespace="data",
                name="postgres",
                desired=1,
                pods=[PodFinding(name="postgres-0", reasons=["CrashLoopBackOff"]), PodFinding(name="debug-shell")],
            )
        ],
        rollouts=[
            RolloutFinding(
                kind="StatefulSet",
                namespace="data",
                name="postgres",
                revision="postgres-6f7",
                time=T0,
                before_first_alert=60,
            )
        ],
        events=[
            EventFinding(
                time=T0, type="Warning", reason="BackOff", object="Pod/postgres-0", message="Back-off restarting"
            )
        ],
        impacted=["shop/api", "shop/api-gateway"],
        generated_time=T0,
    )
    return status, report


def test_for_incident_gives_sorted_stable_tokens_per_kind() -> None:
    status, report = incident()
    names = Anonymizer.for_incident(status, report)
    assert names.tokens == {
        "data": "namespace-1",
        "shop": "namespace-2",
        "api": "service-1",
        "api-gateway": "service-2",
        "postgres": "service-3",
        "debug-shell": "pod-1",  # postgres-0 derives from postgres: no token of its own
    }
    assert Anonymizer.for_incident(status, report).tokens == names.tokens  # deterministic


def test_no_registered_name_survives_anonymisation_and_restore_is_exact() -> None:
    status, report = incident()
    names = Anonymizer.for_incident(status, report)
    sent = {"incident": status.to_wire(), "report": report.to_wire()}
    hidden = names.anonymize(sent)
    text = json.dumps(hidden)
    for name in ["postgres", "api", "api-gateway", "debug-shell", "data", "shop"]:
        assert f'"{name}' not in text and f"/{name}" not in text and f" {name}" not in text
    assert "namespace-1/service-3" in text  # data/postgres
    assert "service-3-0" in text  # pod postgres-0 keeps its mapped prefix
    assert names.restore(hidden) == sent


def test_whole_names_only_and_longest_first() -> None:
    names = Anonymizer()
    names.add("service", "api")
    names.add("service", "api-gateway")
    names.add("namespace", "shop")
    text = "api-gateway calls api.shop.svc:8080; apiVersion v1; shopping /api/v1 my_api api2"
    hidden = names.anonymize(text)
    assert hidden == (
        "service-2 calls service-1.namespace-1.svc:8080; apiVersion v1; shopping /service-1/v1 my_api api2"
    )
    assert names.restore(hidden) == text


def test_a_name_keeps_its_first_token_and_pods_derive_from_workloads() -> None:
    names = Anonymizer()
    assert names.add("service", "database") == "service-1"
    assert names.add("workload", "database") == "service-1"  # the Deployment named like its Service
    assert names.add("pod", "database-7d9f4-x2x9k") == "service-1-7d9f4-x2x9k"
    assert names.add("pod", "web-0") == "pod-1"
    assert names.add("namespace", "") == ""
    with pytest.raises(ValueError, match="unknown kind"):
        names.add("secret", "x")  # type: ignore[arg-type]


def test_names_that_look_like_tokens_are_never_issued_as_tokens() -> None:
    status = IncidentStatus(
        root=RootCause(namespace="prod", name="service-1"),
        impacted=[ImpactedService(namespace="prod", name="web", depth=1, alerts=1)],
    )
    names = Anonymizer.for_incident(status)
    assert names.tokens["service-1"] != "service-1"
    text = "service-1 is down; web depends on service-1"
    assert names.restore(names.anonymize(text)) == text


def test_workload_roots_register_the_workload_name() -> None:
    status = IncidentStatus(root=RootCause(namespace="jobs", name="Deployment/worker"))
    assert Anonymizer.for_incident(status).tokens == {"jobs": "namespace-1", "worker": "workload-1"}


def test_restore_of_a_result_keeps_its_type_and_fits_field_limits() -> None:
    names = Anonymizer()
    long_name = "a" * 60
    token = names.add("service", long_name)
    result = AnalysisResult(
        root_cause=f"{token} crashed",
        evidence=[Evidence(fact=f"pod:{token}-0", detail=(token + " ") * 100)],  # 1000+ chars once restored
        actions=[
            SuggestedAction(
                kind="Restart", target=f"deployment/{token}", command=f"kubectl rollout restart deployment/{token}"
            )
        ],
        confidence=0.7,
    )
    restored = names.restore(result)
    assert isinstance(restored, AnalysisResult)
    assert restored.root_cause == f"{long_name} crashed"
    assert restored.evidence[0].fact == f"pod:{long_name}-0"
    assert len(restored.evidence[0].detail) == 1024 and restored.evidence[0].detail.endswith("…")
    assert restored.actions[0].command == f"kubectl rollout restart deployment/{long_name}"


def test_keys_and_non_strings_are_left_alone() -> None:
    names = Anonymizer()
    names.add("service", "pods")
    assert names.anonymize({"pods": ["pods", 3, None, True]}) == {"pods": ["service-1", 3, None, True]}


def test_an_empty_anonymizer_returns_its_input() -> None:
    value = {"a": ["b"]}
    assert Anonymizer().anonymize(value) is value


_NAME = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4}){0,2}", fullmatch=True)


@given(
    st.lists(st.tuples(st.sampled_from(["namespace", "service", "workload", "pod"]), _NAME), max_size=8),
    st.lists(st.one_of(_NAME, st.sampled_from([" ", "/", ".", "-", ":", "_", "x", "1"])), max_size=30),
)
def test_restore_inverts_anonymize_for_any_names_and_text(added: list[tuple[str, str]], parts: list[str]) -> None:
    names = Anonymizer()
    for kind, name in added:
        names.add(kind, name)  # type: ignore[arg-type]
    text = "".join(parts)
    issued = set(names.tokens.values())
    if any(token in text for token in issued):
        return  # the text already holds a token: restore cannot tell it apart (documented)
    assert names.restore(names.anonymize(text)) == text
