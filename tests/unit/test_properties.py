"""No handler can crash on input (issue 11): generated specs of all four kinds, driven by the CRDs'
own OpenAPI schemas (`alertagent.api.crd.openapi_schema`) and mixed with values the targets refuse,
go through validation, rendering and status composition. Nothing may raise except a pydantic
ValidationError whose every error names a field."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertagent.api import AlertmanagerCluster, AlertRule, NotificationChannel, SuppressionPolicy
from alertagent.api.alertmanagercluster import TargetHealth
from alertagent.api.common import Resource, SecretKeyRef
from alertagent.api.crd import openapi_schema
from alertagent.api.notificationchannel import CHANNEL_TYPES
from alertagent.common.identity import ObjectRef
from alertagent.discovery.graph import ServiceGraph
from alertagent.plans.alertmanager import index_object
from alertagent.plans.status import Memberships, member_status, plan_member_status
from alertagent.render.alertmanager import render_alertmanager
from alertagent.render.regex import promql_regex_issues
from alertagent.render.rules import render_rule_file
from alertagent.render.validation import validate_alert_rule
from alertagent.render.windows import window_active
from alertagent.status import cluster_status

# Moderate by default, so the unit suite stays quick; ALERTAGENT_PROPERTY_EXAMPLES=5000 for a deep run.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("ALERTAGENT_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
NAMESPACES = ("monitoring", "team-a", "team-b")
NAMES = ("a", "b", "x-rules", "main")
# Values the targets refuse or that broke AlertAgent before, mixed into every string field.
TRICKY = (
    "",
    "(?!Watchdog|InfoInhibitor).*",
    "(?<n>a)",
    "\\C",
    "a)|(b",
    "Asia/Beijing",
    "Local",
    "../etc/passwd",
    "24:00",
    "24:30",
    "saturday:sunday",
    "Monday:FRIDAY",
    "-1:5",
    "30:-1",
    "0",
    "13",
    "99999999999999999999",
    "december:january",
    "http://",
    "ftp://x",
    "http://[::1",
    "hooks.slack.com/services/T/B/X",
    "{{ $label.instance }}",
    'up{a=~"(?!x)"}',
    'label_replace(up, "a", "$1", "b", "(.*")',
    "sum(rate(x[5m])) > 0",
    "smtp:",
    "[::1]:25",
    "2026-12-01T01:00:00",
    "2026-12-01T01:00:00Z",
    "v0.25.0",
    "team-a/a",
    "\x00",
    "é",
)


PROMQL = (
    "up",
    'sum(rate(http_requests_total{code=~"5.."}[5m])) by (job) > 0.05',
    'up{job=~"(?!x)"} == 0',
    'label_replace(up, "a", "$1", "b", "(.*")',
    "absent(up{job='api'})",
    "rate(x[5m]",
)


def _mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], weight: int) -> st.SearchStrategy[Any]:
    """`usual` `weight` times as often as `odd`."""
    return st.integers(0, weight).flatmap(lambda i: odd if i == 0 else usual)


def _strings(node: dict[str, Any], name: str = "") -> st.SearchStrategy[str]:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    low = node.get("minLength", 0)
    wild = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
    if name == "expr":
        return _mostly(st.sampled_from(PROMQL), wild, 3)
    if node.get("format") == "date-time":
        aware = st.datetimes(
            min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ).map(lambda d: d.isoformat())
        return _mostly(aware, wild, 4)
    if "pattern" in node:
        high = node.get("maxLength", 64)
        # Python's `$` also matches before a final newline, Go's and the API server's do not.
        pattern = node["pattern"].removesuffix("$") + r"\Z" if node["pattern"].endswith("$") else node["pattern"]
        shaped = st.from_regex(pattern, fullmatch=True).filter(lambda s: low <= len(s) <= high)
        return _mostly(shaped, wild, 9)
    return _mostly(st.text(min_size=low, max_size=max(low, 12)), wild, 3)


def _integers(node: dict[str, Any]) -> st.SearchStrategy[int]:
    low, high = node.get("minimum"), node.get("maximum")
    inside = st.integers(
        min_value=int(low) if low is not None else -(2**64), max_value=int(high) if high is not None else 2**64
    )
    return _mostly(inside, st.sampled_from([0, -1, 2**63, -(2**63) - 1]), 4)


def _value(node: dict[str, Any], depth: int = 0, name: str = "") -> st.SearchStrategy[Any]:
    """Values for one schema node: mostly what the schema allows, sometimes what it does not."""
    kind = node.get("type")
    if "x-either" in node:
        return st.one_of([_value(choice, depth) for choice in node["x-either"]])
    if kind == "object" and "properties" in node:
        required = set(node.get("required", ()))
        props = node["properties"]
        fixed = {name: _value(props[name], depth + 1, name) for name in sorted(required & props.keys())}
        optional = {name: _value(props[name], depth + 1, name) for name in sorted(props.keys() - required)}
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "object":
        values = _value(node["additionalProperties"], depth + 1) if "additionalProperties" in node else st.text()
        return st.dictionaries(st.sampled_from(["a", "Subject", "subject", "bad-key", "app"]), values, max_size=3)
    if kind == "array":
        items = _value(node["items"], depth + 1)
        return st.lists(items, min_size=node.get("minItems", 0), max_size=min(node.get("maxItems", 3), 3))
    if kind == "string":
        return _strings(node, name)
    if kind == "integer":
        return _integers(node)
    if kind == "boolean":
        return st.booleans()
    if kind == "number":
        return st.floats(allow_nan=False)
    return st.none()


def _spec(resource: type[Resource]) -> st.SearchStrategy[dict[str, Any]]:
    """Specs of `resource`, shaped so most pass the invariants a random draw would almost never meet
    (a channel's one block of its type; a rule's alert xor record)."""
    schema = openapi_schema(resource)["properties"]["spec"]
    props = schema["properties"]
    if resource is NotificationChannel:
        common = {k: _value(v) for k, v in props.items() if k not in CHANNEL_TYPES and k != "type"}

        def channel(kind: str) -> st.SearchStrategy[dict[str, Any]]:
            return st.fixed_dictionaries({"type": st.just(kind), kind: _value(props[kind])}, optional=common)

        return _mostly(st.sampled_from(CHANNEL_TYPES).flatmap(channel), _value(schema), 4)
    if resource is AlertRule:
        rule = props["groups"]["items"]["properties"]["rules"]["items"]
        alerting = {
            **rule,
            "required": ["alert", "expr"],
            "properties": {k: v for k, v in rule["properties"].items() if k != "record"},
        }
        recording = {
            **rule,
            "required": ["record", "expr"],
            "properties": {
                k: v
                for k, v in rule["properties"].items()
                if k not in ("alert", "for", "keep_firing_for", "annotations")
            },
        }
        group = props["groups"]["items"]
        shaped_group = {
            **group,
            "properties": {
                **group["properties"],
                "rules": {
                    **group["properties"]["rules"],
                    "items": {"type": "object", "x-either": [alerting, recording]},
                },
            },
        }
        shaped = {**schema, "properties": {**props, "groups": {**props["groups"], "items": shaped_group}}}
        return _mostly(_value(shaped), _value(schema), 4)
    return _value(schema)


def _documents(resource: type[Resource]) -> st.SearchStrategy[dict[str, Any]]:
    spec = _spec(resource)
    metadata = st.fixed_dictionaries(
        {"name": st.sampled_from(NAMES), "namespace": st.sampled_from(NAMESPACES)},
        optional={"generation": st.integers(1, 5), "labels": st.dictionaries(st.sampled_from(["team"]), st.text())},
    )
    return st.fixed_dictionaries({"kind": st.just(resource.names.kind), "metadata": metadata, "spec": spec})


def _parse(resource: type[Resource], doc: dict[str, Any]) -> Any:
    """The model, or None after checking the ValidationError names a field for every error."""
    try:
        return resource.model_validate(doc)
    except pydantic.ValidationError as err:
        for error in err.errors():
            assert error["loc"], f"an error naming no field: {error}"
        return None


SECRET_VALUES = st.sampled_from(
    ["https://hooks.example.com/T/B/X", "http://h:80/", "", "not a url", "xoxb-token", "http://[::1", "tok:en"]
)


@PROPERTY_SETTINGS
@given(doc=_documents(AlertRule))
def test_alert_rules_never_crash(doc: dict[str, Any]) -> None:
    rule = _parse(AlertRule, doc)
    if rule is None:
        return
    issues = validate_alert_rule(rule)
    assert all(issue.field.startswith("spec.") for issue in issues)
    render_rule_file(rule)
    for group in rule.spec.groups:
        for item in group.rules:
            promql_regex_issues(item.expr)


@PROPERTY_SETTINGS
@given(
    cluster_doc=_documents(AlertmanagerCluster),
    channel_docs=st.lists(_documents(NotificationChannel), max_size=3),
    policy_docs=st.lists(_documents(SuppressionPolicy), max_size=3),
    secrets=st.dictionaries(st.tuples(st.sampled_from(NAMESPACES), st.text(max_size=3)), SECRET_VALUES, max_size=4),
    version=st.sampled_from([None, "0.24.0", "0.25.0+ds", "v0.26.0", "0.27.0", "0.31.1"]),
    gateway=st.sampled_from([None, "http://gw:8080"]),
    placeholders=st.booleans(),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_alertmanager_objects_never_crash(
    cluster_doc: dict[str, Any],
    channel_docs: list[dict[str, Any]],
    policy_docs: list[dict[str, Any]],
    secrets: dict[tuple[str, str], str],
    version: str | None,
    gateway: str | None,
    placeholders: bool,
    now: datetime,
) -> None:
    cluster = _parse(AlertmanagerCluster, cluster_doc)
    channel_entries = [index_object(NotificationChannel, d) for d in channel_docs]
    policy_entries = [index_object(SuppressionPolicy, d) for d in policy_docs]
    for doc in channel_docs:
        _parse(NotificationChannel, doc)  # errors, if any, name a field
    for doc in policy_docs:
        _parse(SuppressionPolicy, doc)

    def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
        return secrets.get((namespace, ref.key))

    channels = [e.model for e in channel_entries if isinstance(e.model, NotificationChannel)]
    policies = [e.model for e in policy_entries if isinstance(e.model, SuppressionPolicy)]
    for policy in policies:
        for window in policy.spec.maintenance_windows or []:
            window_active(window, now)
            window_active(window, now.replace(tzinfo=None) + timedelta(hours=13))
    memberships = Memberships()
    if cluster is not None:
        graph = ServiceGraph.from_objects(
            [
                {
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": ns, "annotations": {"alertagent.io/dependencies": "b"}},
                    "spec": {"selector": {"app": name}},
                }
                for ns in NAMESPACES
                for name in ("a", "b")
            ]
        ).snapshot()
        rendered = render_alertmanager(
            cluster, channels, policies, resolve, version, gateway, placeholders=placeholders, graph=graph
        )
        assert rendered.text
        members = {
            ref: "; ".join(problems) for ref, problems in rendered.problems.items() if ref.kind != "AlertmanagerCluster"
        }
        members |= {ObjectRef.of(m): None for m in [*channels, *policies] if ObjectRef.of(m) not in members}
        memberships.record(str(ObjectRef.of(cluster).key), members, rendered.generated)
        health = [TargetHealth(name="alertmanager", type="alertmanager", reachable=True, version=version)]
        cluster_status(cluster_doc, health, {}, None, rendered.counts, "0" * 64, (None, None))
    for entry, doc in zip(channel_entries + policy_entries, channel_docs + policy_docs, strict=True):
        member_status(entry, doc, memberships, now)
        plan_member_status(entry, doc, memberships, now)
