"""Operator settings, from command-line flags (with environment variable defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

LABEL_PREFIX = "alertagent.io"
MANAGED_BY = {"app.kubernetes.io/managed-by": "alertagent"}
COMPONENT_LABEL = f"{LABEL_PREFIX}/component"
CLUSTER_LABEL = f"{LABEL_PREFIX}/cluster"
EVALUATOR_LABEL = f"{LABEL_PREFIX}/evaluator"
CONTENT_HASH_ANNOTATION = f"{LABEL_PREFIX}/content-hash"
LOADED_HASH_ANNOTATION = f"{LABEL_PREFIX}/loaded-hash"
LOADED_TIME_ANNOTATION = f"{LABEL_PREFIX}/loaded-time"
SYNC_ERROR_ANNOTATION = f"{LABEL_PREFIX}/sync-error"
RULES_COMPONENT = "rules"


def rule_shard_labels(cluster: str, evaluator: str) -> dict[str, str]:
    """Labels of one evaluator's rule ConfigMaps (what its sidecar selects on)."""
    return {**MANAGED_BY, COMPONENT_LABEL: RULES_COMPONENT, CLUSTER_LABEL: cluster, EVALUATOR_LABEL: evaluator}


_SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _own_namespace() -> str:
    """Where the operator runs: POD_NAMESPACE (downward API), the service account's, or `default`."""
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        with open(_SERVICE_ACCOUNT_NAMESPACE) as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


@dataclass
class Settings:
    namespaces: list[str] = field(default_factory=list)  # empty: all namespaces
    http_port: int = int(os.environ.get("ALERTAGENT_HTTP_PORT", "8080"))  # /healthz and /api/v1/graph
    metrics_port: int = int(os.environ.get("ALERTAGENT_METRICS_PORT", "8081"))  # /metrics
    debounce_seconds: float = float(os.environ.get("ALERTAGENT_DEBOUNCE_SECONDS", "1.0"))  # quiet time
    debounce_max_seconds: float = float(os.environ.get("ALERTAGENT_DEBOUNCE_MAX_SECONDS", "30"))  # longest wait
    health_interval_seconds: float = float(os.environ.get("ALERTAGENT_HEALTH_INTERVAL_SECONDS", "30"))
    log_format: str = os.environ.get("ALERTAGENT_LOG_FORMAT", "json")
    operator_namespace: str = field(default_factory=_own_namespace)  # where the service graph is published
    discovery: bool = os.environ.get("ALERTAGENT_DISCOVERY", "true").lower() != "false"  # the service graph
    # Admission webhook (optional): off unless a port is set.
    webhook_port: int | None = None
    webhook_host: str = "127.0.0.1"  # how the API server reaches the operator (a Service DNS name in-cluster)
    webhook_cert: str | None = None  # PEM files; the CA goes into the webhook's caBundle
    webhook_key: str | None = None
    webhook_ca: str | None = None


SETTINGS = Settings()
