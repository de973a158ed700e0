"""Redaction (pure): what must never leave the cluster is replaced by `[REDACTED]` before anything is
sent to an LLM provider or a workflow engine.

`redact_text(text)` replaces, in any string:
- PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to its END line, or to the text's end when cut);
- `Bearer <token>` (RFC 6750) and `Basic <base64 user:password>` (RFC 7617) credentials;
- JWTs (`eyJ….eyJ….sig`), AWS access key ids (`AKIA…`, `ASIA…`, 20 characters), GitHub tokens
  (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Slack tokens (`xoxa-`, `xoxb-`, `xoxp-`, …)
  and OpenAI-style keys (`sk-…`, `sk-proj-…`), following the token formats of gitleaks' default rules;
- URL userinfo (`https://user:password@host` → `https://[REDACTED]@host`);
- values of credential keys in `key=value`, `key: value`, `"key": value`, XML, `--password x` and client
  command forms: `discovery.addresses.scrub_credentials` decides (the one place for credential words).

`redact(value)` walks dicts, lists and tuples (a pydantic model is dumped to its wire form first) and
also blanks, by structure: every value of a Secret's `data`/`stringData` (a dict with `kind: Secret`,
an item of a `SecretList`, or an API list item with `type` and `data`), every container `env[].value`
(names and `valueFrom` references are kept), the `kubectl.kubernetes.io/last-applied-configuration`
annotation, and string values of credential keys (`is_credential_key`; not object references such as
`secretName` or `secretKeyRef`). Every string is then passed through `redact_text`.

Both are pure and idempotent: `redact(redact(x)) == redact(x)`. Neither raises.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from alertagent.discovery.addresses import is_credential_key, scrub_credentials

REDACTED = "[REDACTED]"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

_PEM_RE = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY)-----(?:.*?-----END (?P=label)-----|.*\Z)", re.DOTALL)
_BEARER_RE = re.compile(r"(?i:\b(?P<scheme>bearer)[ \t]+)(?P<token>[A-Za-z0-9._~+/-]{8,}=*)")
_BASIC_RE = re.compile(r"(?i:\b(?P<scheme>basic)[ \t]+)(?P<token>[A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")
_TOKEN_RE = re.compile(
    r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # JWT (its header is base64url `{"`)
    r"|\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|A3T[A-Z0-9])[A-Z0-9]{16}\b"  # AWS key id
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|(?<![\w-])sk-[A-Za-z0-9_-]{20,}"  # OpenAI (`sk-proj-…`), Anthropic, DeepSeek style keys
)
# Userinfo of a URL: everything between `scheme://` and the `@` before the host.
_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s\"'<>]+)@")
# Every pattern above needs one of these: most strings (names, reasons) skip the substitutions.
_CHEAP_HINT_RE = re.compile(r"(?i:bearer|basic|private key|eyj|://|gh[pousr]_|github_pat_|xox|sk-)|A[A-Z0-9]{19}")
# Keys that name another object (a Secret's name, a reference to it), not a credential.
_REFERENCE_SUFFIXES = ("name", "ref", "refs", "selector")


def redact_text(text: str) -> str:
    """text with every credential it shows replaced by `[REDACTED]` (see the module docstring)."""
    if _CHEAP_HINT_RE.search(text) is not None:
        text = _PEM_RE.sub(REDACTED, text)
        text = _BEARER_RE.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
        text = _BASIC_RE.sub(_basic, text)
        text = _TOKEN_RE.sub(REDACTED, text)
        text = _USERINFO_RE.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return _mark_scrubbed(text, scrub_credentials(text))


def _basic(m: re.Match[str]) -> str:
    """Only what decodes to `user:password` (RFC 7617), so prose such as "Basic authentication" stays."""
    try:
        decoded = base64.b64decode(m["token"] + "=" * (-len(m["token"]) % 4), validate=True)
    except (binascii.Error, ValueError):
        return m[0]
    return f"{m['scheme']} {REDACTED}" if b":" in decoded else m[0]


def _mark_scrubbed(original: str, scrubbed: str) -> str:
    """original with each run the scrub blanked (same length, non-blanks turned into spaces) replaced by
    one marker; runs separated only by blanks on one line are one value (`password: a b`)."""
    if scrubbed == original:
        return original
    parts: list[str] = []
    i, n = 0, len(original)
    last = 0
    while i < n:
        if original[i] == scrubbed[i]:
            i += 1
            continue
        start = i
        while True:
            while i < n and original[i] != scrubbed[i]:
                i += 1
            j = i
            while j < n and original[j] in " \t" and original[j] == scrubbed[j]:
                j += 1
            if j < n and j > i and original[j] != scrubbed[j]:
                i = j
                continue
            break
        run = original[start:i]
        quoted = len(run) >= 2 and run[0] in "\"'" and run[-1] == run[0]  # keep JSON and YAML quotes
        parts += [original[last:start], f"{run[0]}{REDACTED}{run[0]}" if quoted else REDACTED]
        last = i
    parts.append(original[last:])
    return "".join(parts)


def redact(value: Any) -> Any:
    """A copy of value (JSON-like: dicts, lists, tuples, strings, numbers; a pydantic model is dumped to
    its wire form) with every secret replaced by `[REDACTED]` (see the module docstring)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return _redact(value, secret=False)


def _redact(value: Any, secret: bool) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return _redact_mapping(value, secret)
    if isinstance(value, list | tuple):
        return [_redact(item, secret) for item in value]
    return value


def _is_secret(value: Mapping[Any, Any]) -> bool:
    """A Secret as the API returns it: `kind: Secret`, or a list item (no kind) with a `type` and data."""
    if value.get("kind") == "Secret":
        return True
    return "kind" not in value and isinstance(value.get("type"), str) and ("data" in value or "stringData" in value)


def _redact_mapping(value: Mapping[Any, Any], secret: bool) -> dict[Any, Any]:
    secret = secret or _is_secret(value)
    items_are_secrets = value.get("kind") == "SecretList"
    out: dict[Any, Any] = {}
    for key, item in value.items():
        name = key if isinstance(key, str) else ""
        if secret and name in ("data", "stringData") and isinstance(item, Mapping):
            out[key] = dict.fromkeys(item, REDACTED)
        elif name == LAST_APPLIED:
            out[key] = REDACTED
        elif name == "env" and isinstance(item, list):
            out[key] = [_redact_env(entry) for entry in item]
        elif isinstance(item, str) and _is_credential_key(name):
            out[key] = REDACTED if item else item
        elif items_are_secrets and name == "items" and isinstance(item, list):
            out[key] = [_redact(entry, secret=isinstance(entry, Mapping)) for entry in item]
        else:
            # Only a Secret's own `data` is blanked wholesale: its metadata is an ordinary mapping.
            out[key] = _redact(item, secret=False)
    return out


def _redact_env(entry: Any) -> Any:
    """An `env[]` item: its value blanked, its name and any `valueFrom` reference kept."""
    if not isinstance(entry, Mapping) or "name" not in entry:
        return _redact(entry, secret=False)
    return {
        key: (REDACTED if item else item) if key == "value" else _redact(item, secret=False)
        for key, item in entry.items()
    }


def _is_credential_key(key: str) -> bool:
    if not key:
        return False
    lowered = key.lower()
    return not lowered.endswith(_REFERENCE_SUFFIXES) and is_credential_key(key)
