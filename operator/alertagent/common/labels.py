"""Names of the labels and annotations AlertAgent puts on the objects it writes."""

from __future__ import annotations

LABEL_PREFIX = "alertagent.io"
MANAGED_BY = {"app.kubernetes.io/managed-by": "alertagent"}
COMPONENT_LABEL = f"{LABEL_PREFIX}/component"
CLUSTER_LABEL = f"{LABEL_PREFIX}/cluster"
EVALUATOR_LABEL = f"{LABEL_PREFIX}/evaluator"
CONTENT_HASH_ANNOTATION = f"{LABEL_PREFIX}/content-hash"  # what the operator wrote
LOADED_HASH_ANNOTATION = f"{LABEL_PREFIX}/loaded-hash"  # what the target loaded (written by the sidecar)
LOADED_TIME_ANNOTATION = f"{LABEL_PREFIX}/loaded-time"
SYNC_ERROR_ANNOTATION = f"{LABEL_PREFIX}/sync-error"  # why the target did not load it
# On a Secret a channel or cluster references: the operator watches it, so a change or deletion reaches
# Alertmanager in seconds (unlabelled Secrets are re-read every health interval).
WATCH_LABEL = f"{LABEL_PREFIX}/watch"
# A test-send alert carries this label with the channel's `<namespace>/<name>`; a route per channel,
# first in the tree, sends it to that channel and nowhere else. Tenants' rules never carry it.
TEST_LABEL = "alertagent_test_channel"
# The test-send request (the annotation's value): each request is an alert, and a group, of its own, so a
# second test within the first one's five minutes is notified too (one firing alert is notified once).
TEST_SEND_LABEL = "alertagent_test_send"
RULES_COMPONENT = "rules"
ALERTMANAGER_COMPONENT = "alertmanager-config"


def rule_shard_labels(cluster: str, evaluator: str) -> dict[str, str]:
    """Labels of one evaluator's rule ConfigMaps (what its sidecar selects on)."""
    return {**MANAGED_BY, COMPONENT_LABEL: RULES_COMPONENT, CLUSTER_LABEL: cluster, EVALUATOR_LABEL: evaluator}


def alertmanager_config_labels(cluster: str) -> dict[str, str]:
    """Labels of a cluster's alertmanager.yaml Secret."""
    return {**MANAGED_BY, COMPONENT_LABEL: ALERTMANAGER_COMPONENT, CLUSTER_LABEL: cluster}
