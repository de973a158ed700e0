"""Suggested actions are structured from their kubectl command and checked (`analysis.actions.vet_actions`):
a command outside a small grammar, or outside the incident's namespaces, becomes a refused `Other`;
evidence pointing to what the model could not have seen is marked unverified."""

from __future__ import annotations

import json

import pytest

from alertagent.analysis.actions import vet_actions
from alertagent.api.analysis import AnalysisResult, Evidence, SuggestedAction
from alertagent.devstack.llm import OpenAIStandIn
from alertagent.devstack.robots import running

from .test_analysis_service import Harness, incident, openai, run

ALLOWED = ["shop"]


def vetted(command: str, **fields: object) -> SuggestedAction:
    action = SuggestedAction.model_validate({"kind": "Other", "command": command, **fields})
    (out,) = vet_actions(AnalysisResult(root_cause="x", actions=[action]), ALLOWED).actions
    return out


@pytest.mark.parametrize(
    ("command", "kind", "target", "replicas", "canonical"),
    [
        (
            "kubectl rollout undo statefulset/database -n shop",
            "RolloutUndo",
            "statefulset/database",
            None,
            "kubectl rollout undo statefulset/database -n shop",
        ),
        (
            "kubectl -n shop rollout undo deploy database --to-revision=2",
            "RolloutUndo",
            "deployment/database",
            None,
            "kubectl rollout undo deployment/database -n shop --to-revision=2",
        ),
        (
            "kubectl rollout restart deployment/api --namespace=shop",
            "Restart",
            "deployment/api",
            None,
            "kubectl rollout restart deployment/api -n shop",
        ),
        (
            "kubectl scale --replicas 3 sts/database --namespace shop",
            "Scale",
            "statefulset/database",
            3,
            "kubectl scale statefulset/database -n shop --replicas=3",
        ),
        ("kubectl delete pod database-0 -n shop", "Restart", "pod/database-0", None, None),
        ("kubectl logs database-0 -n shop --previous", "Other", "pod/database-0", None, None),
        (
            "kubectl describe pod database-0 -n shop",
            "Other",
            "pod/database-0",
            None,
            "kubectl describe pod/database-0 -n shop",
        ),
    ],
)
def test_commands_in_the_grammar_fill_the_structured_fields(
    command: str, kind: str, target: str, replicas: int | None, canonical: str | None
) -> None:
    got = vetted(command, reason="the rollout broke it")
    assert (got.kind, got.namespace, got.target, got.replicas) == (kind, "shop", target, replicas)
    assert got.command == (canonical or command) and got.reason == "the rollout broke it"


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("kubectl delete namespace kube-system", "refused: no namespace (-n) given"),
        ("kubectl delete namespace shop -n shop", "refused: the kind 'namespace' is not accepted here"),
        ("rm -rf / ; kubectl get pods -n shop", "refused: shell syntax"),
        ("kubectl rollout undo deployment/x -n shop && rm -rf /", "refused: shell syntax"),
        (
            "kubectl -n prod rollout undo deployment/bank",
            "refused: namespace 'prod' is not one of the incident's: shop",
        ),
        ("kubectl rollout undo deployment/x -n shop --context prod", "refused: the flag --context is not accepted"),
        ("kubectl get secret db -n shop -o yaml", "refused: the kind 'secret' is not accepted here"),
        ("kubectl scale deployment/x -n shop", "refused: scale needs --replicas=N"),
        ("kubectl exec -it database-0 -n shop -- sh", "refused: the flag -it is not accepted"),
        ("helm rollback shop 1", "refused: not a kubectl command"),
        ("kubectl apply -f fix.yaml -n shop", "refused: the flag -f is not accepted"),
        ("kubectl rollout undo 'deployment/x -n shop", "refused: cannot split it into words"),
    ],
)
def test_other_commands_are_refused_and_never_structured(command: str, why: str) -> None:
    got = vetted(command, kind="RolloutUndo", namespace="shop", target="deployment/x", reason="do it")
    assert (got.kind, got.namespace, got.target, got.replicas) == ("Other", "", "", None)
    assert got.reason.startswith(why) and got.reason.endswith("; do it") and got.command == command


def test_an_action_without_a_command_gets_the_one_its_fields_describe() -> None:
    action = SuggestedAction(kind="Scale", namespace="shop", target="deployment/api", replicas=2)
    outside = SuggestedAction(kind="RolloutUndo", namespace="prod", target="deployment/bank")
    advice = SuggestedAction(kind="Other", reason="raise the memory limit")
    result = vet_actions(AnalysisResult(root_cause="x", actions=[action, outside, advice]), ALLOWED)
    first, second, third = result.actions
    assert first.command == "kubectl scale deployment/api -n shop --replicas=2" and first.kind == "Scale"
    assert second.kind == "Other" and second.reason.startswith("refused: namespace 'prod'")
    assert third == advice  # advice in words is kept


def test_evidence_the_model_could_not_have_seen_is_marked() -> None:
    evidence = [
        Evidence(fact="pod:shop/database-0", detail="OOMKilled"),
        Evidence(fact="pod:kube-system/etcd-0", detail="down"),
        Evidence(fact="event:prod/Pod/bank-0", detail="BackOff"),
        Evidence(fact="rollout:shop/deployment/database", detail="revision 3"),
        Evidence(fact="tool:2", detail="not ready"),
        Evidence(fact="tool:3", detail="invented"),
        Evidence(fact="tool:0", detail="invented"),
        Evidence(fact="query:DatabaseDown", detail="since 10:01"),
    ]
    result = vet_actions(AnalysisResult(root_cause="x", evidence=evidence), ALLOWED, tool_calls=2)
    details = [e.detail for e in result.evidence]
    assert details == [
        "OOMKilled",
        "unverified: down",
        "unverified: BackOff",
        "revision 3",
        "not ready",
        "unverified: invented",
        "unverified: invented",
        "since 10:01",
    ]
    assert vet_actions(result, ALLOWED, tool_calls=2) == result  # once


def test_the_gateway_stores_vetted_actions() -> None:
    answer = {
        "root_cause": "database crash-loops",
        "evidence": [{"fact": "tool:5", "detail": "no such call"}],
        "impact": "api fails",
        "actions": [
            {"command": "kubectl rollout undo statefulset/database -n shop"},
            {"kind": "Other", "command": "kubectl delete namespace kube-system"},
            {"kind": "RolloutUndo", "command": "kubectl -n prod rollout undo deployment/bank"},
        ],
        "confidence": 0.7,
    }
    stand_in = OpenAIStandIn(script=[json.dumps(answer)])

    async def body(h: Harness) -> None:
        await h.poll(incident())
        got = h.analysis()
        assert got is not None and got.llm is not None and got.llm.result is not None
        undo, delete, bank = got.llm.result.actions
        assert (undo.kind, undo.namespace, undo.target) == ("RolloutUndo", "shop", "statefulset/database")
        assert (delete.kind, delete.target) == ("Other", "") and delete.reason.startswith("refused: ")
        assert (bank.kind, bank.namespace) == ("Other", "") and bank.reason.startswith("refused: namespace 'prod'")
        assert got.llm.result.evidence[0].detail == "unverified: no such call"

    with running(stand_in):
        run(lambda: Harness(openai(stand_in)), body)
