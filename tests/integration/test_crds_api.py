"""The CRDs on a real kube-apiserver: established, documented, validated by the server, columns,
category, and the status subresource."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes import client

from alertagent.api.crd import RESOURCES
from alertagent.api.notificationchannel import CHANNEL_TYPES, NotificationChannel
from alertagent.devstack.controlplane import ControlPlane
from tests.cases import EXAMPLES, INVALID, KINDS, USER_KINDS, Invalid, example
from tests.unit.test_alertmanager_golden import GATEWAY_RECEIVERS, RECEIVERS
from tests.unit.test_crds_bounds import safe

GROUP, VERSION = "alertagent.io", "v1alpha1"


@pytest.fixture
def kubectl(installed_crds: ControlPlane, namespace: str):  # type: ignore[no-untyped-def]
    def run(*args: str, check: bool = True, input: str | None = None) -> Any:
        return installed_crds.kubectl("-n", namespace, *args, check=check, input=input)

    return run


def test_all_crds_are_established(installed_crds: ControlPlane) -> None:
    for resource in RESOURCES:
        out = installed_crds.kubectl("get", "crd", f"{resource.names.plural}.{GROUP}", "-o", "json").stdout
        conditions = {c["type"]: c["status"] for c in json.loads(out)["status"]["conditions"]}
        assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("alertrule.spec.groups.rules.expr", "PromQL expression to evaluate."),
        ("ar.spec.groups.rules.for", "Alerts are fired once the expression has been true for this long"),
        ("amc.spec.namespaceIsolation", "OnNamespace: a channel's route and a policy's inhibit rules"),
        ("nc.spec.slack.apiUrl", "Secret key holding the incoming webhook URL"),
        ("sp.spec.maintenanceWindows.recurring.location", "IANA time zone"),
    ],
)
def test_kubectl_explain_shows_descriptions(installed_crds: ControlPlane, path: str, expected: str) -> None:
    out = installed_crds.kubectl("explain", path).stdout
    assert expected in " ".join(out.split())


def _apply_examples(kubectl: Any) -> None:
    kubectl("apply", "-f", str(EXAMPLES))


def test_examples_are_accepted_and_kubectl_get_prints_columns(kubectl: Any) -> None:
    _apply_examples(kubectl)
    headers = {
        "alertrules": ["NAME", "RULES", "SYNCED", "REVISION", "READY", "REASON", "AGE"],
        "alertmanagerclusters": [
            "NAME",
            "ALERTMANAGER",
            "HEALTHY",
            "RULES",
            "RECEIVERS",
            "CONFIG HASH",
            "LAST RELOAD",
            "READY",
            "REASON",
            "DEGRADED",
            "AGE",
        ],
        "notificationchannels": ["NAME", "TYPE", "DELIVERY", "CLUSTERS", "LAST TEST", "READY", "REASON", "AGE"],
        "suppressionpolicies": ["NAME", "WINDOWS", "ACTIVE", "INHIBIT RULES", "READY", "REASON", "AGE"],
    }
    for plural, columns in headers.items():
        lines = kubectl("get", plural).stdout.splitlines()
        header = lines[0].split()
        joined = " ".join(header)
        assert joined == " ".join(columns), lines
        assert len(lines) == 2
    amc = kubectl("get", "amc", "main").stdout.splitlines()[1]
    assert "http://alertmanager.monitoring.svc:9093" in amc
    nc = kubectl("get", "nc", "team-a-critical").stdout.splitlines()[1]
    assert nc.split()[1] == "slack"


def test_short_names_and_category_list_all_four_kinds(kubectl: Any) -> None:
    _apply_examples(kubectl)
    out = kubectl("get", "alertagent", "-o", "name").stdout.split()
    assert sorted(out) == sorted(
        [
            "alertrule.alertagent.io/api-availability",
            "alertmanagercluster.alertagent.io/main",
            "notificationchannel.alertagent.io/team-a-critical",
            "suppressionpolicy.alertagent.io/api-maintenance",
        ]
    )
    for short in ("ar", "amc", "nc", "sp"):
        assert len(kubectl("get", short, "-o", "name").stdout.split()) == 1


@pytest.mark.parametrize("kind", sorted(USER_KINDS))
def test_round_trip_through_the_api_server_keeps_spec_and_defaults(
    api_client: client.ApiClient, installed_crds: ControlPlane, namespace: str, kind: str
) -> None:
    """What pydantic makes of an object equals what the API server stores (its defaults included)."""
    resource = KINDS[kind]
    doc = example(kind)
    api = client.CustomObjectsApi(api_client)
    stored = api.create_namespaced_custom_object(GROUP, VERSION, namespace, resource.names.plural, doc)
    assert resource.model_validate(stored).spec == resource.model_validate(doc).spec
    assert stored["spec"] == resource.model_validate(doc).to_wire()["spec"]


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_api_server_rejects_invalid_objects_naming_the_field(kubectl: Any, case: Invalid) -> None:
    result = kubectl("create", "-f", "-", input=yaml.safe_dump(case.manifest()), check=False)
    assert result.returncode != 0, f"{case.id} was accepted"
    message = result.stderr
    assert "is invalid" in message, message
    assert f"{case.field}:" in message, f"expected field {case.field} in: {message}"
    assert case.reason in message, message


def test_at_least_twelve_invalid_cases() -> None:
    assert len(INVALID) >= 12
    assert {c.kind for c in INVALID} == set(USER_KINDS)


def test_status_subresource_updates_status_only(
    api_client: client.ApiClient, installed_crds: ControlPlane, namespace: str
) -> None:
    api = client.CustomObjectsApi(api_client)
    plural = "alertrules"
    created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, example("AlertRule"))
    name = created["metadata"]["name"]
    status = {
        "observedGeneration": 1,
        "ruleCount": 2,
        "synced": "0/2",
        "revision": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Pending",
                "message": "waiting",
                "lastTransitionTime": "2026-11-22T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    # A status patch that also tries to change spec: the status subresource ignores the spec part.
    patched = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name, {"status": status, "spec": {"enabled": False}}
    )
    assert patched["status"] == status
    assert patched["spec"] == created["spec"]
    assert patched["metadata"]["generation"] == created["metadata"]["generation"]
    # And the main resource ignores status.
    updated = api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, name, {"spec": {"enabled": False}, "status": {"ruleCount": 99}}
    )
    assert updated["spec"]["enabled"] is False and updated["status"]["ruleCount"] == 2
    row = installed_crds.kubectl("-n", namespace, "get", "ar", name).stdout.splitlines()[1].split()
    assert row[1:5] == ["2", "0/2", "1", "False"]


# One block per receiver type, every field set (the golden receiver cases), and Telegram chat ids: a
# user's, a supergroup's (negative) and int64's ends. The API server once read chatId's `maximum:
# 9223372036854775807` as -2**63 and refused every Telegram channel that `alertagent render` accepted.
CHANNEL_BLOCKS = {**RECEIVERS, **GATEWAY_RECEIVERS}
CHAT_IDS = (12345, -1001234567890, 2**63 - 1, -(2**63))
TOKEN = {"name": "telegram", "key": "token"}


def _channel(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NotificationChannel", "metadata": {"name": name}, "spec": spec}


def _valid_channels() -> list[dict[str, Any]]:
    docs = [_channel(t, {"type": t, t: CHANNEL_BLOCKS[t]}) for t in sorted(CHANNEL_TYPES)]
    docs += [
        _channel(f"telegram-{i}", {"type": "telegram", "telegram": {"botToken": TOKEN, "chatId": chat_id}})
        for i, chat_id in enumerate(CHAT_IDS)
    ]
    gateway = {"language": "zh", "timeZone": "Asia/Shanghai", "maxAlerts": 5}
    docs += [
        _channel(
            f"{t}-gateway",
            {
                "type": t,
                t: {"botToken": TOKEN, "chatId": -1001234567890},
                "delivery": "Gateway",
                "gatewayMessage": gateway,
            },
        )
        for t in ("telegram",)
    ]
    return docs


def test_every_channel_type_has_a_valid_case() -> None:
    assert set(CHANNEL_BLOCKS) == set(CHANNEL_TYPES)


def test_api_server_accepts_a_valid_channel_of_every_type(kubectl: Any) -> None:
    """What `alertagent render` accepts (the model), the API server accepts: one channel of every type."""
    docs = _valid_channels()
    for doc in docs:
        NotificationChannel.model_validate(doc)
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False)
    assert result.returncode == 0, result.stderr
    created = result.stdout.splitlines()
    for doc in docs:
        name = doc["metadata"]["name"]
        assert f"notificationchannel.{GROUP}/{name} created (server dry run)" in created, result.stdout


@pytest.mark.parametrize("chat_id", [2**63, -(2**63) - 1])
def test_chat_ids_beyond_int64_are_refused_by_both(kubectl: Any, chat_id: int) -> None:
    doc = _channel("telegram", {"type": "telegram", "telegram": {"botToken": TOKEN, "chatId": chat_id}})
    with pytest.raises(ValueError, match="must be a 64-bit integer"):
        NotificationChannel.model_validate(doc)
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert result.returncode != 0
    assert "spec.telegram.chatId in body must be of type integer" in result.stderr, result.stderr


# Bounds at the edges of what float64 and int64 hold: the rule tests/unit/test_crds_bounds.py holds every
# CRD to (and `crd._numeric_bounds` enforces) is what this API server does with them.
EDGE_BOUNDS = {
    "int64Max": ("integer", "maximum", 2**63 - 1),  # read as 2**63, wrapped to -2**63
    "beyondFloat64": ("integer", "maximum", 2**53 + 1),  # read as 2**53
    "largestBelow2To63": ("integer", "maximum", 2**63 - 1024),
    "int64Min": ("integer", "minimum", -(2**63)),
    "million": ("integer", "maximum", 1000000),
    "fraction": ("number", "minimum", 0.5),  # read as 0 for the value 0
}


def test_api_server_reads_a_bound_as_written_only_when_the_unit_rule_says_so(
    installed_crds: ControlPlane, namespace: str
) -> None:
    group = "bounds.test.alertagent.io"
    properties = {name: {"type": kind, key: bound} for name, (kind, key, bound) in EDGE_BOUNDS.items()}
    definition = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"edges.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Edge", "plural": "edges", "singular": "edge", "listKind": "EdgeList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": properties}},
                        }
                    },
                }
            ],
        },
    }
    # The JSON text keeps the bounds' exact digits (the API server parses them as float64 itself).
    installed_crds.kubectl("apply", "-f", "-", input=json.dumps(definition))
    try:
        installed_crds.kubectl("wait", "--for=condition=Established", f"crd/edges.{group}", "--timeout=60s")
        verdicts = {}
        for name, (_kind, _key, bound) in EDGE_BOUNDS.items():
            # The value the bound allows that a misread bound refuses: the bound itself, or 0 under 0.5.
            value = 0 if name == "fraction" else bound
            doc = {"apiVersion": f"{group}/v1", "kind": "Edge", "metadata": {"name": "e"}, "spec": {name: value}}
            result = installed_crds.kubectl(
                "-n", namespace, "apply", "--dry-run=server", "-f", "-", input=json.dumps(doc), check=False
            )
            verdicts[name] = result.returncode == 0 if name != "fraction" else result.returncode != 0
        assert verdicts == {name: safe(bound) for name, (_kind, _key, bound) in EDGE_BOUNDS.items()}
    finally:
        installed_crds.kubectl("delete", "crd", f"edges.{group}", "--wait=false", check=False)
