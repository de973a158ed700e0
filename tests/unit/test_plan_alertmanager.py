"""The Alertmanager step's plan: selection, the Secret written only when the checked file changed,
the previous one kept when the target's tool refuses the file, and why each object was left out."""

from __future__ import annotations

import base64
from typing import Any

from alertagent.api import AlertmanagerCluster, NotificationChannel, SuppressionPolicy
from alertagent.common.identity import ObjectRef
from alertagent.common.labels import CONTENT_HASH_ANNOTATION, LOADED_HASH_ANNOTATION, SYNC_ERROR_ANNOTATION
from alertagent.plans.alertmanager import IndexedObject, index_object, plan_alertmanager_config, select
from alertagent.render.alertmanager import render_alertmanager

OWNER = {"name": "main", "namespace": "monitoring", "uid": "uid-1"}
CLUSTER = AlertmanagerCluster.model_validate(
    {
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main", "namespace": "monitoring"},
        "spec": {
            "alertmanager": {"url": "http://am:9093"},
            "selectors": {"notificationChannels": {"namespaces": ["team-a", "monitoring"]}},
        },
    }
)


def channel(name: str, namespace: str = "team-a", **spec: Any) -> IndexedObject:
    body = {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "NotificationChannel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec or {"type": "webhook", "webhook": {"url": f"http://{name}.example/hook"}},
    }
    return index_object(NotificationChannel, body)


def plan(entries: list[IndexedObject], current: dict[str, Any] | None = None, check_error: str | None = None) -> Any:
    channels = select(CLUSTER, NotificationChannel, entries, CLUSTER.spec.selectors.notification_channels, {})
    rendered = render_alertmanager(CLUSTER, channels, [], lambda ns, ref: None)
    return plan_alertmanager_config(CLUSTER, OWNER, channels, [], rendered, check_error, current)


def test_selection_keeps_valid_selected_objects_in_order() -> None:
    broken = channel("broken", type="webhook")  # no webhook block: the schema check fails
    assert broken.model is None and broken.errors
    entries = [channel("b"), channel("a"), channel("other", namespace="team-b"), broken]
    chosen = select(CLUSTER, NotificationChannel, entries, CLUSTER.spec.selectors.notification_channels, {})
    assert [ObjectRef.of(c).key for c in chosen] == ["team-a/a", "team-a/b"]
    assert select(CLUSTER, SuppressionPolicy, entries, CLUSTER.spec.selectors.suppression_policies, {}) == []


def test_a_new_config_is_written_to_the_cluster_secret_with_owner_and_hash() -> None:
    first = plan([channel("a")])
    assert first.secret is not None and not first.secret_exists and first.error is None
    meta = first.secret["metadata"]
    assert (meta["name"], meta["namespace"]) == ("main-alertmanager-config", "monitoring")
    assert meta["annotations"][CONTENT_HASH_ANNOTATION] == first.config_hash
    assert meta["ownerReferences"][0]["uid"] == "uid-1"
    text = base64.b64decode(first.secret["data"]["alertmanager.yaml"]).decode()
    assert "team-a/a" in text
    assert first.members == {ObjectRef("NotificationChannel", "team-a", "a"): None}


def test_the_same_config_is_not_written_again_and_the_sidecar_report_is_read() -> None:
    first = plan([channel("a")])
    annotations = {**first.secret["metadata"]["annotations"], LOADED_HASH_ANNOTATION: "abc"}
    current = {**first.secret, "metadata": {**first.secret["metadata"], "annotations": annotations}}
    again = plan([channel("a")], current)
    assert (again.secret, again.config_hash, again.loaded.hash) == (None, first.config_hash, "abc")
    changed = plan([channel("a"), channel("b")], current)
    assert changed.secret is not None and changed.secret_exists


def test_a_file_the_tool_refuses_is_not_written_and_says_why() -> None:
    current = {"metadata": {"annotations": {SYNC_ERROR_ANNOTATION: "reload failed"}}}
    refused = plan([channel("a")], current, check_error="no global Slack API URL set")
    assert refused.secret is None and refused.config_hash is None
    assert refused.error == "rendered alertmanager.yaml is invalid, previous config kept: no global Slack API URL set"
    assert refused.loaded.sync_error == "reload failed"


def test_an_object_that_cannot_render_is_left_out_alone_with_its_reason() -> None:
    dingtalk = channel("robot", type="dingtalk", dingtalk={"webhookUrl": {"name": "s", "key": "k"}})
    result = plan([channel("a"), dingtalk])
    assert result.members[ObjectRef("NotificationChannel", "team-a", "a")] is None
    assert "gateway" in (result.members[ObjectRef("NotificationChannel", "team-a", "robot")] or "")
    assert result.secret is not None


def test_a_root_receiver_that_names_no_rendered_channel_is_a_problem_of_the_cluster() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {"alertmanager": {"url": "http://am:9093"}, "route": {"receiver": "monitoring/oncal"}},
        }
    )
    rendered = render_alertmanager(cluster, [], [], lambda ns, ref: None)
    assert rendered.config["route"]["receiver"] == "alertagent/null"
    result = plan_alertmanager_config(cluster, OWNER, [], [], rendered, None, None)
    assert result.cluster_problems == (
        "spec.route.receiver 'monitoring/oncal' is no NotificationChannel rendered in this cluster: "
        "alerts no channel route takes go to the null receiver",
    )
