"""Answers: structured results found in bare JSON, fences or prose, read leniently; anything malformed
kept as capped unstructured text; workflow JSON outputs unwrapped."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertagent.analysis.answer import RESULT_SCHEMA, answer_from_json, parse_answer
from alertagent.api.analysis import AnalysisResult

GOOD = {
    "root_cause": "Deployment shop/database rolled out a bad image and crash-loops.",
    "evidence": [{"fact": "pod:shop/database-7d9f4-x2x9k", "detail": "CrashLoopBackOff, 7 restarts"}],
    "impact": "shop/api and shop/frontend return 500s.",
    "actions": [
        {
            "kind": "RolloutUndo",
            "namespace": "shop",
            "target": "deployment/database",
            "command": "kubectl rollout undo deployment/database -n shop",
            "reason": "revision 3 started 2m before the first alert",
        }
    ],
    "confidence": 0.8,
}


def test_bare_json_parses_into_a_structured_result() -> None:
    result = parse_answer(json.dumps(GOOD))
    assert result.structured and result.text == ""
    assert result.root_cause == GOOD["root_cause"]
    assert result.evidence[0].fact == "pod:shop/database-7d9f4-x2x9k"
    assert result.actions[0].kind == "RolloutUndo" and result.actions[0].target == "deployment/database"
    assert result.confidence == 0.8


def test_fenced_json_after_prose_parses() -> None:
    text = f"Looking at the facts…\n\n```json\n{json.dumps(GOOD, indent=2)}\n```\nHope this helps."
    assert parse_answer(text).root_cause == GOOD["root_cause"]


def test_the_first_decodable_object_in_prose_is_found() -> None:
    text = 'I checked {the pods} and {"x": 1}. Result: ' + json.dumps(GOOD) + ' and {"root_cause": "other"}'
    assert parse_answer(text).root_cause == GOOD["root_cause"]


def test_camel_case_wrapped_and_loose_forms_are_read() -> None:
    text = json.dumps(
        {
            "analysis": {
                "rootCause": "OOMKilled",
                "evidence": ["pod restarted 5 times", {"source": "tool:1", "description": "OOMKilled"}],
                "impact": ["shop/api", "shop/frontend"],
                "actions": [
                    "kubectl scale deployment/api --replicas=3 -n shop",
                    "check the memory limit",
                    {"type": "rollback", "replicas": "2"},
                    {"kind": "delete-namespace", "replicas": -1},
                    {"command": "kubectl rollout restart statefulset/db -n data"},
                ],
                "confidence": "80%",
            }
        }
    )
    result = parse_answer(text)
    assert result.structured and result.root_cause == "OOMKilled"
    assert [(e.fact, e.detail) for e in result.evidence] == [("", "pod restarted 5 times"), ("tool:1", "OOMKilled")]
    assert result.impact == "shop/api; shop/frontend"
    assert [a.kind for a in result.actions] == ["Scale", "Other", "RolloutUndo", "Other", "Restart"]
    assert result.actions[0].command.startswith("kubectl scale")
    assert result.actions[1].reason == "check the memory limit" and result.actions[1].command == ""
    assert result.actions[2].replicas == 2 and result.actions[3].replicas is None
    assert result.confidence == 0.8


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        *[(0.8, 0.8), ("0.8", 0.8), ("80%", 0.8), (80, 0.8), ("high", 0.8), ("Low", 0.2), (1, 1.0), (0, 0.0)],
        *[(-3, 0.0), (250, 1.0), ("very", 0.0), (None, 0.0), (True, 0.0), ([0.5], 0.0), ("NaN", 0.0)],
    ],
)
def test_confidence_forms(confidence: object, expected: float) -> None:
    result = parse_answer(json.dumps({"root_cause": "x", "confidence": confidence}))
    assert result.structured and result.confidence == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The database is down, roll it back.",
        '{"root_cause": ',  # cut off
        '{"summary": "no root cause key"}',
        '{"root_cause": ""}',  # says nothing
        '["root_cause", "x"]',
        "```json\n{not json}\n```",
    ],
)
def test_malformed_answers_are_kept_as_unstructured_text(text: str) -> None:
    result = parse_answer(text)
    assert not result.structured and result.text == text and result.root_cause == ""


def test_unstructured_text_is_capped() -> None:
    result = parse_answer("x" * 20_000)
    assert not result.structured and len(result.text) == 8192 and result.text.endswith("…")


def test_over_long_fields_and_lists_are_cut_to_the_status_limits() -> None:
    answer = {"root_cause": "r" * 5000, "evidence": ["e"] * 50, "actions": [{"kind": "Other"}] * 30}
    result = parse_answer(json.dumps(answer))
    assert result.structured
    assert len(result.root_cause) == 2048 and len(result.evidence) == 20 and len(result.actions) == 10
    AnalysisResult.model_validate(result.model_dump())  # still valid for the status


def test_workflow_outputs_are_unwrapped() -> None:
    assert answer_from_json(GOOD).root_cause == GOOD["root_cause"]
    assert answer_from_json([GOOD]).root_cause == GOOD["root_cause"]  # n8n's one-item list
    assert answer_from_json({"text": "```json\n" + json.dumps(GOOD) + "\n```"}).structured  # Dify text output
    assert answer_from_json({"output": GOOD}).root_cause == GOOD["root_cause"]
    assert answer_from_json({"result": {"rootCause": "x"}}).root_cause == "x"


def test_workflow_outputs_without_a_result_are_kept_as_text() -> None:
    result = answer_from_json({"text": "no idea", "n": 1})
    assert not result.structured and json.loads(result.text) == {"text": "no idea", "n": 1}
    assert answer_from_json("plain words").text == "plain words"
    assert not answer_from_json([GOOD, GOOD]).structured


def test_the_schema_names_every_result_field() -> None:
    assert set(RESULT_SCHEMA["properties"]) == {"root_cause", "evidence", "impact", "actions", "confidence"}
    kinds = RESULT_SCHEMA["properties"]["actions"]["items"]["properties"]["kind"]["enum"]
    assert kinds == ["RolloutUndo", "Scale", "Restart", "Other"]
    json.dumps(RESULT_SCHEMA)  # serialisable as sent


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_any_json_value_gives_a_valid_result_without_raising(value: object) -> None:
    for result in (answer_from_json(value), parse_answer(json.dumps(value))):
        AnalysisResult.model_validate(result.model_dump())
