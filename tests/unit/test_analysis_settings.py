"""The analysis settings the operator hands the gateway (plans/gateway.py `analysis_settings`,
`with_llm_key`, `plan_gateway(..., incidents=...)`) and the CRD-level rules of the LLM provider
(api/alertmanagercluster.py `LlmProvider`, `AnalysisOptions`): durations in seconds, the evaluators'
URLs, the LLM's key resolved from the cluster's own namespace, a missing key Secret reported rather than
fatal, and the key written only into the channels Secret, with deterministic bytes. Pure, no I/O."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from alertagent.api import AlertmanagerCluster
from alertagent.api.alertmanagercluster import AnalysisOptions, LlmProvider
from alertagent.api.common import SecretKeyRef
from alertagent.plans.gateway import (
    CHANNELS_KEY,
    analysis_settings,
    channels_text,
    incident_settings,
    plan_gateway,
    with_llm_key,
)
from alertagent.render.receivers import Secrets
from alertagent.render.robots.models import ChannelsFile, IncidentSettings

OWNER = {"name": "main", "namespace": "monitoring", "uid": "uid-1"}
LLM_KEY = "sk-live-0123456789abcdef0123456789"
OPENAI = {"type": "OpenAI", "url": "https://api.openai.com/v1", "model": "gpt-4o-mini"}


def cluster(analysis: dict[str, Any] | None = None, **spec: Any) -> AlertmanagerCluster:
    body: dict[str, Any] = {"alertmanager": {"url": "http://am:9093"}, "gateway": {"url": "http://gw:8083"}, **spec}
    if analysis is not None:
        body["incidents"] = {"analysis": analysis}
    return AlertmanagerCluster.model_validate({"metadata": {"name": "main", "namespace": "monitoring"}, "spec": body})


class Resolver:
    """A SecretResolver over a fixed table (namespace, Secret, key) → value, recording each lookup."""

    def __init__(self, values: dict[tuple[str, str, str], str]) -> None:
        self.values = values
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, namespace: str, ref: SecretKeyRef) -> str | None:
        self.asked.append((namespace, ref.name, ref.key))
        return self.values.get((namespace, ref.name, ref.key))


def with_key(**llm: Any) -> dict[str, Any]:
    return {"llm": {**OPENAI, "apiKey": {"name": "llm", "key": "token"}, **llm}}


def settings_of(amc: AlertmanagerCluster) -> IncidentSettings:
    settings = incident_settings(amc, "alertagent", {})
    assert settings is not None
    return settings


# -- analysis_settings -----------------------------------------------------------------------------


def test_durations_are_converted_to_seconds() -> None:
    amc = cluster({"lookback": "2h", "rolloutWindow": "15m", "llm": {**OPENAI, "timeout": "1m30s"}})
    settings = analysis_settings(amc)
    assert settings is not None and settings.llm is not None
    assert (settings.lookback, settings.rollout_window, settings.llm.timeout) == (7200.0, 900.0, 90.0)


def test_the_llm_section_carries_the_providers_options_and_no_key_yet() -> None:
    llm = {
        "type": "Dify",
        "url": "https://api.dify.ai/v1",
        "difyMode": "Workflow",
        "apiKey": {"name": "llm", "key": "token"},
        "temperature": 0.7,
        "maxTokens": 4000,
        "maxSteps": 2,
        "anonymize": True,
    }
    settings = analysis_settings(cluster({"llm": llm, "maxPerHour": 3, "maxTokensPerDay": 9000}))
    assert settings is not None and settings.llm is not None
    got = settings.llm
    assert (got.type, got.url, got.model, got.dify_mode) == ("Dify", "https://api.dify.ai/v1", "", "Workflow")
    assert (got.temperature, got.max_tokens, got.max_steps, got.anonymize) == (0.7, 4000, 2, True)
    assert got.api_key is None and got.problem == ""  # resolved later, by with_llm_key
    assert (settings.max_per_hour, settings.max_tokens_per_day) == (3, 9000)


def test_evaluator_urls_are_the_prometheus_ones_sorted() -> None:
    evaluators = [
        {"name": "zeta", "type": "prometheus", "url": "http://prom-b:9090"},
        {"name": "rules", "type": "vmalert", "url": "http://vmalert:8880"},
        {"name": "alpha", "type": "prometheus", "url": "http://prom-a:9090"},
    ]
    settings = analysis_settings(cluster({}, ruleEvaluators=evaluators))
    assert settings is not None
    assert settings.evaluators == ["http://prom-a:9090", "http://prom-b:9090"]  # vmalert has no query API here


def test_builtin_off_and_no_llm_means_no_analysis_section() -> None:
    assert analysis_settings(cluster({"builtin": False})) is None
    assert settings_of(cluster({"builtin": False})).analysis is None
    llm_only = analysis_settings(cluster({"builtin": False, "llm": OPENAI}))
    assert llm_only is not None and not llm_only.builtin and llm_only.llm is not None


def test_the_default_cluster_runs_the_builtin_report_only() -> None:
    settings = analysis_settings(cluster())
    assert settings is not None
    assert (settings.builtin, settings.lookback, settings.rollout_window, settings.llm) == (True, 3600.0, 1800.0, None)
    assert (settings.max_per_hour, settings.max_tokens_per_day, settings.evaluators) == (20, 500000, [])


# -- with_llm_key ----------------------------------------------------------------------------------


def test_the_llm_key_is_read_from_the_clusters_namespace_through_the_resolver() -> None:
    amc = cluster(with_key())
    resolver = Resolver({("monitoring", "llm", "token"): LLM_KEY})
    resolved = with_llm_key(amc, settings_of(amc), Secrets(resolver, "monitoring", False))
    assert resolved is not None and resolved.analysis is not None and resolved.analysis.llm is not None
    assert resolved.analysis.llm.api_key == LLM_KEY and resolved.analysis.llm.problem == ""
    assert resolver.asked == [("monitoring", "llm", "token")]
    assert LLM_KEY not in repr(resolved)  # the settings may be logged: the key never is


def test_a_missing_key_secret_names_the_field_and_the_secret_and_leaves_the_key_out() -> None:
    amc = cluster(with_key())
    resolved = with_llm_key(amc, settings_of(amc), Secrets(Resolver({}), "monitoring", False))
    assert resolved is not None and resolved.analysis is not None and resolved.analysis.llm is not None
    llm = resolved.analysis.llm
    assert llm.api_key is None
    assert llm.problem.startswith("spec.incidents.analysis.llm.apiKey: ")
    assert "secret monitoring/llm key token not found" in llm.problem
    assert resolved.analysis.builtin  # the built-in report still runs


def test_without_an_api_key_ref_or_an_llm_the_settings_are_unchanged() -> None:
    local = cluster({"llm": {"type": "OpenAI", "url": "http://ollama:11434/v1", "model": "llama3"}})
    resolver = Resolver({})
    settings = settings_of(local)
    assert with_llm_key(local, settings, Secrets(resolver, "monitoring", False)) == settings
    builtin_only = cluster()
    assert with_llm_key(builtin_only, settings_of(builtin_only), Secrets(resolver, "monitoring", False)) == (
        settings_of(builtin_only)
    )
    assert with_llm_key(builtin_only, None, Secrets(resolver, "monitoring", False)) is None
    assert resolver.asked == []


# -- the channels Secret ---------------------------------------------------------------------------


def test_the_key_lives_in_the_channels_secret_and_its_text_is_deterministic() -> None:
    amc = cluster(with_key())
    resolver = Resolver({("monitoring", "llm", "token"): LLM_KEY})
    plan = plan_gateway(amc, OWNER, [], resolver, None, lambda: "t", incidents=settings_of(amc))
    secret = plan.secret
    assert secret is not None and secret["kind"] == "Secret" and secret["type"] == "Opaque"
    assert ("monitoring", "llm", "token") in resolver.asked
    text = base64.b64decode(secret["data"][CHANNELS_KEY]).decode()
    doc = json.loads(text)
    assert doc["incidents"]["analysis"]["llm"]["api_key"] == LLM_KEY
    assert ChannelsFile.model_validate_json(text) == plan.file
    assert text == channels_text(plan.file)
    assert text == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # keys sorted, compact
    again = plan_gateway(amc, OWNER, [], resolver, None, lambda: "other", incidents=settings_of(amc))
    assert again.secret is not None and again.secret["data"] == secret["data"]
    assert again.secret["metadata"]["annotations"] == secret["metadata"]["annotations"]
    unchanged = plan_gateway(amc, OWNER, [], resolver, secret, lambda: "t", incidents=settings_of(amc))
    assert unchanged.secret is None  # the same bytes are not written again


def test_a_missing_key_secret_still_writes_the_file_with_the_problem_and_no_key() -> None:
    amc = cluster(with_key())
    plan = plan_gateway(amc, OWNER, [], Resolver({}), None, lambda: "t", incidents=settings_of(amc))
    assert plan.secret is not None and plan.error is None
    llm = json.loads(base64.b64decode(plan.secret["data"][CHANNELS_KEY]))["incidents"]["analysis"]["llm"]
    assert llm["api_key"] is None and "secret monitoring/llm key token not found" in llm["problem"]


def test_a_rotated_key_changes_the_secret() -> None:
    amc = cluster(with_key())
    key = Resolver({("monitoring", "llm", "token"): LLM_KEY})
    first = plan_gateway(amc, OWNER, [], key, None, lambda: "t", incidents=settings_of(amc))
    assert first.secret is not None
    assert LLM_KEY in base64.b64decode(first.secret["data"][CHANNELS_KEY]).decode()
    rotated = Resolver({("monitoring", "llm", "token"): LLM_KEY + "-rotated"})
    second = plan_gateway(amc, OWNER, [], rotated, first.secret, lambda: "t", incidents=settings_of(amc))
    assert second.secret is not None
    assert f'"api_key":"{LLM_KEY}-rotated"' in base64.b64decode(second.secret["data"][CHANNELS_KEY]).decode()


# -- the CRD's rules and defaults ------------------------------------------------------------------


def test_an_openai_provider_needs_a_model() -> None:
    with pytest.raises(ValidationError, match="an OpenAI-compatible provider needs a model"):
        LlmProvider.model_validate({"type": "OpenAI", "url": "https://api.openai.com/v1"})
    with pytest.raises(ValidationError, match="an OpenAI-compatible provider needs a model"):
        cluster({"llm": {"type": "OpenAI", "url": "https://api.openai.com/v1"}})
    assert LlmProvider.model_validate(OPENAI).model == "gpt-4o-mini"


def test_a_dify_provider_needs_an_api_key_and_n8n_needs_neither() -> None:
    with pytest.raises(ValidationError, match="a Dify provider needs apiKey"):
        LlmProvider.model_validate({"type": "Dify", "url": "https://api.dify.ai/v1"})
    dify = LlmProvider.model_validate(
        {"type": "Dify", "url": "https://api.dify.ai/v1", "apiKey": {"name": "llm", "key": "token"}}
    )
    assert dify.api_key == SecretKeyRef(name="llm", key="token")
    n8n = LlmProvider.model_validate({"type": "N8n", "url": "http://n8n:5678/webhook/rca"})
    assert n8n.model is None and n8n.api_key is None


def test_the_rules_are_enforced_by_the_api_server_too() -> None:
    rules = LlmProvider.model_json_schema(by_alias=True)["x-kubernetes-validations"]
    assert {r["rule"] for r in rules} == {
        "self.type != 'OpenAI' || has(self.model)",
        "self.type != 'Dify' || has(self.apiKey)",
    }


def test_defaults() -> None:
    options = AnalysisOptions()
    assert (options.builtin, options.lookback, options.rollout_window, options.llm) == (True, "1h", "30m", None)
    assert (options.max_per_hour, options.max_tokens_per_day) == (20, 500000)
    llm = LlmProvider.model_validate(OPENAI)
    assert (llm.dify_mode, llm.auth_header, llm.temperature, llm.max_tokens) == ("Chat", "Authorization", 0.2, 20000)
    assert (llm.timeout, llm.max_steps, llm.anonymize, llm.api_key) == ("60s", 6, False, None)
    assert cluster().spec.incidents.analysis == AnalysisOptions()


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 2.5), ("maxTokens", 100), ("maxSteps", 21), ("timeout", "a minute"), ("url", "ftp://x")],
)
def test_provider_bounds_are_checked(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        LlmProvider.model_validate({**OPENAI, field: value})
