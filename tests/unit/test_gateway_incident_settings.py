"""The channels file's incidents section (plans/gateway.py): what the operator tells the gateway of a
cluster's incident engine (Alertmanager URL, options in seconds, labels, selected namespaces, the
graph's namespace), none without a gateway or with the engine disabled, and files without the section
(written before it) still read the same."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from alertagent.api import AlertmanagerCluster
from alertagent.plans.gateway import (
    CHANNELS_KEY,
    channels_text,
    duration_seconds,
    incident_settings,
    plan_gateway,
    selected_namespaces,
)
from alertagent.render.robots.models import ChannelsFile

OWNER = {"name": "main", "namespace": "monitoring", "uid": "uid-1"}
LABELS = {"shop": {"tier": "prod"}, "pay": {"tier": "prod"}, "dev": {"tier": "dev"}, "monitoring": {}}


def cluster(**spec: Any) -> AlertmanagerCluster:
    body = {"alertmanager": {"url": "http://am:9093"}, "gateway": {"url": "http://gw:8083"}, **spec}
    return AlertmanagerCluster.model_validate({"metadata": {"name": "main", "namespace": "monitoring"}, "spec": body})


def test_durations_read_as_prometheus_reads_them() -> None:
    assert [duration_seconds(d) for d in ("0", "30s", "5m", "1h30m", "7d", "1w", "500ms", "1y")] == [
        0,
        30,
        300,
        5400,
        604800,
        604800,
        0.5,
        31536000,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds("5 minutes")


def test_the_section_carries_the_options_in_seconds_the_labels_and_the_graphs_namespace() -> None:
    spec = {
        "incidents": {"window": "2m", "hold": "45s", "pollInterval": "15s", "retention": "1d", "serviceLabel": "app"}
    }
    settings = incident_settings(cluster(namespaceLabel="ns", **spec), "alertagent", LABELS)
    assert settings is not None
    assert settings.alertmanager_url == "http://am:9093" and settings.graph_namespace == "alertagent"
    assert (settings.window, settings.hold, settings.update_interval, settings.poll_interval, settings.retention) == (
        120,
        45,
        300,
        15,
        86400,
    )
    assert (settings.service_label, settings.namespace_label, settings.namespaces) == ("app", "ns", None)


def test_no_section_without_a_gateway_or_with_the_engine_disabled() -> None:
    assert incident_settings(cluster(incidents={"enabled": False}), "alertagent", LABELS) is None
    no_gateway = AlertmanagerCluster.model_validate(
        {"metadata": {"name": "main", "namespace": "monitoring"}, "spec": {"alertmanager": {"url": "http://am:9093"}}}
    )
    assert incident_settings(no_gateway, "alertagent", LABELS) is None


def test_the_namespaces_are_those_whose_alert_rules_the_cluster_selects() -> None:
    by_name = cluster(selectors={"alertRules": {"namespaces": ["shop", "dev"]}})
    assert selected_namespaces(by_name, LABELS) == ["dev", "shop"]
    by_label = cluster(selectors={"alertRules": {"namespaceSelector": {"matchLabels": {"tier": "prod"}}}})
    assert selected_namespaces(by_label, LABELS) == ["pay", "shop"]
    both = cluster(
        selectors={
            "alertRules": {"namespaces": ["shop", "dev"], "namespaceSelector": {"matchLabels": {"tier": "prod"}}}
        }
    )
    assert selected_namespaces(both, LABELS) == ["shop"]
    assert selected_namespaces(cluster(), LABELS) is None  # all


def test_the_channels_file_holds_the_section_and_a_file_without_one_reads_the_same() -> None:
    settings = incident_settings(cluster(), "alertagent", LABELS)
    plan = plan_gateway(cluster(), OWNER, [], lambda ns, ref: None, None, lambda: "t", incidents=settings)
    assert plan.secret is not None
    parsed = ChannelsFile.model_validate_json(base64.b64decode(plan.secret["data"][CHANNELS_KEY]))
    assert parsed.incidents == settings
    without = plan_gateway(cluster(), OWNER, [], lambda ns, ref: None, None, lambda: "t")
    text = channels_text(without.file)
    assert "incidents" not in json.loads(text)  # byte-identical to files written before the section
    assert ChannelsFile.model_validate_json('{"cluster": "monitoring/main", "channels": {}}').incidents is None
