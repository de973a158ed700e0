"""`alertagent demo` applies examples/ as they are, with the URLs of a real cluster replaced by its local
stack's (`local_overlay`, a pure function, as a kustomize overlay would)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from alertagent.devstack.demo import LocalUrls, local_overlay, receiver_path
from alertagent.manifests import load_manifests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
URLS = LocalUrls(
    alertmanager="http://127.0.0.1:1001",
    evaluators={"prometheus": "http://127.0.0.1:1002", "vmalert": "http://127.0.0.1:1003"},
    receiver="http://127.0.0.1:1004",
)


def _find(docs: list[dict], kind: str, namespace: str, name: str) -> dict:
    return next(
        d
        for d in docs
        if d["kind"] == kind and (d["metadata"].get("namespace"), d["metadata"]["name"]) == (namespace, name)
    )


def test_the_examples_get_the_local_urls_and_keep_everything_else() -> None:
    objects = load_manifests([EXAMPLES])
    before = copy.deepcopy(objects)
    docs = local_overlay(objects, URLS)

    assert objects == before  # the input is untouched
    cluster = _find(docs, "AlertmanagerCluster", "default", "main")["spec"]
    assert cluster["alertmanager"]["url"] == URLS.alertmanager
    assert {e["name"]: e["url"] for e in cluster["ruleEvaluators"]} == {
        "prometheus": "http://127.0.0.1:1002",
        "vmalert": "http://127.0.0.1:1003",
    }
    # The Slack channel's URL is a Secret key: the Secret gets the local receiver's Slack path.
    secret = _find(docs, "Secret", "default", "team-a-slack")
    assert secret["stringData"] == {"webhook-url": "http://127.0.0.1:1004/slack/default/team-a-critical"}
    assert _find(docs, "NotificationChannel", "shop", "oncall")["spec"]["webhook"]["url"] == (
        "http://127.0.0.1:1004" + receiver_path("webhook", "shop", "oncall")
    )
    # A Namespace is cluster-scoped: the namespace load_manifests defaulted is dropped.
    assert "namespace" not in _find(docs, "Namespace", None, "shop")["metadata"]  # type: ignore[arg-type]
    # Nothing else changes: the rules, the policies, the application manifests.
    unchanged = [
        d for d in docs if d["kind"] not in {"AlertmanagerCluster", "Secret", "NotificationChannel", "Namespace"}
    ]
    assert unchanged == [
        d for d in before if d["kind"] not in {"AlertmanagerCluster", "Secret", "NotificationChannel", "Namespace"}
    ]


def test_a_webhook_url_in_a_secret_and_base64_data_are_replaced() -> None:
    channel = {
        "kind": "NotificationChannel",
        "metadata": {"name": "hook", "namespace": "team"},
        "spec": {"type": "webhook", "webhook": {"urlSecret": {"name": "hook-url", "key": "url"}}},
    }
    secret = {
        "kind": "Secret",
        "metadata": {"name": "hook-url", "namespace": "team"},
        "data": {"url": "aHR0cA==", "x": "eA=="},
    }
    other = {"kind": "Secret", "metadata": {"name": "hook-url", "namespace": "elsewhere"}, "data": {"url": "aHR0cA=="}}
    docs = local_overlay([channel, secret, other], URLS)
    assert docs[0] == channel
    assert docs[1]["data"] == {"x": "eA=="}
    assert docs[1]["stringData"] == {"url": "http://127.0.0.1:1004/webhook/team/hook"}
    assert docs[2] == other


def test_an_evaluator_type_the_demo_does_not_run_is_an_error() -> None:
    cluster = {
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": "default"},
        "spec": {
            "alertmanager": {"url": "http://am"},
            "ruleEvaluators": [{"name": "t", "type": "thanos", "url": "http://t"}],
        },
    }
    with pytest.raises(ValueError, match="runs no thanos"):
        local_overlay([cluster], URLS)
