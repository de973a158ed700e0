"""The pydantic models: defaults, invariants (the same ones the API server enforces) and round trips."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from alertagent.api import (
    AlertmanagerCluster,
    AlertRule,
    NotificationChannel,
    SuppressionPolicy,
    alertmanagercluster,
    alertrule,
    notificationchannel,
    suppressionpolicy,
)
from alertagent.api.base import Model
from tests.cases import INVALID, KINDS, USER_KINDS, Invalid, example


def _invariant_messages() -> set[str]:
    """Every Invariant message declared on any model reachable from the four resources."""
    messages: set[str] = set()
    for module in (alertrule, alertmanagercluster, notificationchannel, suppressionpolicy):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Model):
                messages |= {inv.message for inv in obj.__invariants__}
    return messages


@pytest.mark.parametrize("kind", sorted(USER_KINDS))
def test_examples_are_valid_and_round_trip(kind: str) -> None:
    doc = example(kind)
    obj = KINDS[kind].model_validate(doc)
    wire = obj.to_wire()
    assert KINDS[kind].model_validate(wire) == obj
    # What the user wrote survives unchanged; only defaults are added.
    assert _subset(doc["spec"], wire["spec"]), yaml.safe_dump(wire["spec"])


def _subset(small: Any, big: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _subset(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(map(_subset, small, big))
    return bool(small == big) or str(small) == str(big).replace("+00:00", "Z")


def test_defaults() -> None:
    rule = AlertRule.model_validate(
        {"metadata": {"name": "r"}, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up"}]}]}}
    )
    assert rule.spec.enabled is True
    assert rule.api_version == "alertagent.io/v1alpha1" and rule.kind == "AlertRule"

    amc = AlertmanagerCluster.model_validate({"spec": {"alertmanager": {"url": "http://am:9093"}}})
    assert amc.spec.namespace_isolation == "OnNamespace"
    assert amc.spec.alertmanager.reload_mode == "Sidecar"
    assert amc.spec.alertmanager.config_secret.key == "alertmanager.yaml"
    route = amc.spec.route
    assert (route.group_wait, route.group_interval, route.repeat_interval) == ("30s", "5m", "4h")

    nc = NotificationChannel.model_validate(
        {"spec": {"type": "webhook", "webhook": {"url": "http://x"}, "route": {"matchers": [{"name": "a"}]}}}
    )
    assert nc.spec.send_resolved is True
    assert nc.spec.route is not None and nc.spec.route.continue_ is False
    assert nc.spec.route.matchers is not None and nc.spec.route.matchers[0].match_type == "="

    sp = SuppressionPolicy.model_validate(
        {"spec": {"dependencySuppression": {"sourceMatchers": [{"name": "severity", "value": "critical"}]}}}
    )
    dep = sp.spec.dependency_suppression
    assert dep is not None and (dep.service_label, dep.namespace_label, dep.max_depth) == ("service", "namespace", 3)


def test_python_keywords_use_wire_names() -> None:
    rule = AlertRule.model_validate(example("AlertRule"))
    wire_rule = rule.to_wire()["spec"]["groups"][0]["rules"][1]
    assert wire_rule["for"] == "10m" and "for_" not in wire_rule
    nc = NotificationChannel.model_validate(
        {"spec": {"type": "webhook", "webhook": {"url": "http://x"}, "route": {"continue": True}}}
    )
    assert nc.to_wire()["spec"]["route"]["continue"] is True


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_models_reject_what_the_api_server_rejects(case: Invalid) -> None:
    with pytest.raises(ValidationError) as err:
        KINDS[case.kind].model_validate(case.manifest())
    if case.reason in _invariant_messages() or case.reason == "Duplicate value":
        assert case.reason in str(err.value)


def test_unknown_fields_are_rejected_offline() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        AlertRule.model_validate(
            {"spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "fro": "5m"}]}]}}
        )
