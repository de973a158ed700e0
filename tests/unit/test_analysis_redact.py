"""Redaction before anything leaves the cluster: canary secret values in every form the spec names are
gone from the output, what is not a secret is kept, and redaction is idempotent."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertagent.analysis.redact import REDACTED, redact, redact_text

CANARY = "CanaryS3cret9x7"  # a value that must never appear in any output below

TEXT_CASES = [
    # (text holding the canary, a part that must survive)
    (f"Authorization: Bearer {CANARY}abcdef", "Authorization"),
    (f"curl -H 'Authorization: bearer {CANARY}.abc' http://api:8080/x", "http://api:8080/x"),
    (f"GET http://x/ with header Bearer {CANARY}-tok", "GET http://x/"),
    (f"postgres://app:{CANARY}@db.shop:5432/app", "@db.shop:5432/app"),
    (f"redis://:{CANARY}@cache:6379/0", "@cache:6379/0"),
    (f"https://{CANARY}@github.com/org/repo.git", "@github.com/org/repo.git"),
    (f"DB_PASSWORD={CANARY} psql -h db", "psql -h db"),
    (f"password: {CANARY}", "password:"),
    (f'{{"client_secret": "{CANARY}", "user": "bob"}}', '"user": "bob"'),
    (f"GET /v1/items?api_key={CANARY} HTTP/1.1", "HTTP/1.1"),
    (f"connecting with --password {CANARY} to db", "to db"),
    (f'<property name="connection.password">{CANARY}</property>', "connection.password"),
    (f"token: ghp_{CANARY}abcdefghijklmnopqrstuvwx", "token"),
    (f"github_pat_{CANARY}_abcdefghijklmnop in logs", "in logs"),
    (f"slack xoxb-123456789-{CANARY} done", "done"),
    (f"xoxp-{CANARY}-1234 done", "done"),
    (f"OPENAI sk-proj-{CANARY}abcdefghij used", "used"),
    (f"key sk-{CANARY}0123456789abcdef", "key"),
    ("aws AKIAIOSFODNN7EXAMPLE id", "aws"),
    (f"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx{CANARY}.c2lnbmF0dXJl end", "end"),
    (f"-----BEGIN RSA PRIVATE KEY-----\nMIIE{CANARY}\nabc\n-----END RSA PRIVATE KEY-----\nnext line", "next line"),
    (f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn{CANARY}", ""),  # cut before its END line
]


@pytest.mark.parametrize(("text", "kept"), TEXT_CASES)
def test_redact_text_removes_the_canary_and_keeps_the_rest(text: str, kept: str) -> None:
    out = redact_text(text)
    assert CANARY not in out
    assert "AKIAIOSFODNN7EXAMPLE" not in out
    assert REDACTED in out
    assert kept in out


def test_basic_credentials_are_redacted_only_when_they_decode_to_user_and_password() -> None:
    assert redact_text("Authorization: Basic dXNlcjpodW50ZXIy") == "Authorization: [REDACTED]"  # user:hunter2
    assert redact_text("curl -H 'X: Basic dXNlcjpodW50ZXIy'") == "curl -H 'X: Basic [REDACTED]'"
    assert redact_text("Basic authentication failed for user bob") == "Basic authentication failed for user bob"


def test_ordinary_text_is_kept_unchanged() -> None:
    for text in [
        "Back-off restarting failed container database in pod database-7d9f4-x2x9k",
        "GET /api/v1/query?query=up 200",
        'rate(http_requests_total{namespace="shop",job="api"}[5m]) > 0.1',
        "TOKEN_URL=https://auth.example.com/token",
        "skip the sk- prefix",
        "",
    ]:
        assert redact_text(text) == text


def test_json_quotes_survive_so_json_stays_json() -> None:
    out = redact_text(json.dumps({"password": CANARY, "host": "db"}))
    assert json.loads(out) == {"password": REDACTED, "host": "db"}


def test_secret_data_and_string_data_are_blanked_keys_kept() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-credentials", "namespace": "shop"},
        "type": "Opaque",
        "data": {"password": "Q2FuYXJ5UzNjcmV0OXg3", "user": "YXBw"},
        "stringData": {"token": CANARY},
    }
    out = redact(secret)
    assert out["data"] == {"password": REDACTED, "user": REDACTED}
    assert out["stringData"] == {"token": REDACTED}
    assert out["metadata"] == {"name": "db-credentials", "namespace": "shop"}
    assert secret["stringData"] == {"token": CANARY}  # the input is not changed


def test_secret_list_items_without_kind_are_blanked() -> None:
    listing = {"kind": "SecretList", "items": [{"metadata": {"name": "a"}, "data": {"k": "Q2FuYXJ5"}}]}
    assert redact(listing)["items"][0]["data"] == {"k": REDACTED}
    bare_item = {"metadata": {"name": "a"}, "type": "kubernetes.io/tls", "data": {"tls.key": "Q2FuYXJ5"}}
    assert redact(bare_item)["data"] == {"tls.key": REDACTED}


def test_config_map_data_is_not_blanked_wholesale_but_its_credentials_are() -> None:
    config = {
        "kind": "ConfigMap",
        "metadata": {"name": "app"},
        "data": {"LOG_LEVEL": "debug", "DB_PASSWORD": CANARY, "app.properties": f"db.password={CANARY}\nport=80"},
    }
    out = redact(config)
    assert CANARY not in json.dumps(out)
    assert out["data"]["LOG_LEVEL"] == "debug"
    assert "port=80" in out["data"]["app.properties"]


def test_env_values_are_blanked_names_and_references_kept() -> None:
    pod = {
        "kind": "Pod",
        "spec": {
            "containers": [
                {
                    "name": "api",
                    "image": "shop/api:1.2",
                    "env": [
                        {"name": "DATABASE_HOST", "value": "db.shop"},
                        {"name": "FEATURE_FLAG", "value": CANARY},
                        {"name": "EMPTY", "value": ""},
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "pw"}}},
                    ],
                }
            ],
            "volumes": [{"name": "certs", "secret": {"secretName": "api-tls"}}],
        },
    }
    out = redact(pod)
    env = out["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["DATABASE_HOST", "FEATURE_FLAG", "EMPTY", "DB_PASSWORD"]
    assert env[0]["value"] == REDACTED and env[1]["value"] == REDACTED and env[2]["value"] == ""
    assert env[3]["valueFrom"] == {"secretKeyRef": {"name": "db-credentials", "key": "pw"}}
    assert out["spec"]["volumes"][0]["secret"] == {"secretName": "api-tls"}  # a reference, not a credential
    assert out["spec"]["containers"][0]["image"] == "shop/api:1.2"


def test_last_applied_configuration_annotation_is_blanked() -> None:
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    deployment = {
        "metadata": {
            "annotations": {
                annotation: json.dumps({"kind": "Secret", "stringData": {"x": CANARY}}),
                "deployment.kubernetes.io/revision": "3",
            }
        }
    }
    out = redact(deployment)
    assert out["metadata"]["annotations"] == {annotation: REDACTED, "deployment.kubernetes.io/revision": "3"}


def test_credential_keys_are_blanked_but_numbers_under_token_keys_kept() -> None:
    out = redact({"apiKey": CANARY, "usage": {"total_tokens": 512}, "nested": [{"auth_token": CANARY}]})
    assert out == {"apiKey": REDACTED, "usage": {"total_tokens": 512}, "nested": [{"auth_token": REDACTED}]}


def test_strings_anywhere_are_redacted_and_tuples_become_lists() -> None:
    out = redact({"events": [{"message": f"pulling with Bearer {CANARY}xyz"}], "pair": ("a", f"pwd={CANARY}")})
    assert CANARY not in json.dumps(out)
    assert isinstance(out["pair"], list)


def test_redacting_twice_changes_nothing() -> None:
    for text, _ in TEXT_CASES:
        once = redact_text(text)
        assert redact_text(once) == once


@given(st.text(alphabet=st.sampled_from("ab =:/@\"'\n-_BearerpasswordsktokenghpAKIA0123456789"), max_size=80))
def test_redaction_is_idempotent_on_arbitrary_text(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once
