"""Prometheus metrics of the operator and the sidecar (prefix `alertagent_`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_TOTAL = Counter("alertagent_reconcile_total", "Reconciliations by kind and result", ["kind", "result"])
RECONCILE_DURATION = Histogram(
    "alertagent_reconcile_duration_seconds",
    "Duration of one reconciliation",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RULE_DISTRIBUTION_TOTAL = Counter(
    "alertagent_rule_distribution_total", "Rule ConfigMap writes by cluster and status", ["cluster", "status"]
)
CONFIG_RELOAD_TOTAL = Counter(
    "alertagent_config_reload_total", "Reloads of a target by target and status", ["target", "status"]
)
INVALID_OBJECTS = Gauge("alertagent_invalid_objects", "Objects currently invalid, by kind", ["kind"])
CLUSTER_HEALTH = Gauge(
    "alertagent_cluster_health_status", "1 when a target of a cluster is healthy, else 0", ["cluster", "target"]
)
GRAPH_NODES = Gauge("alertagent_service_graph_nodes", "Nodes in the service dependency graph")
GRAPH_EDGES = Gauge("alertagent_service_graph_edges", "Edges in the service dependency graph")
GRAPH_UNRESOLVED = Gauge("alertagent_service_graph_unresolved", "Addresses that name no existing Service")
GRAPH_CYCLES = Gauge("alertagent_service_graph_cycles", "Dependency cycles in the service graph")
LEADER = Gauge("alertagent_leader", "1 while this replica holds the operator's leader Lease, else 0", ["identity"])
SILENCES_RECREATED_TOTAL = Counter(
    "alertagent_silences_recreated_total",
    "One-off window silences found expired or deleted outside AlertAgent and created again, by cluster",
    ["cluster"],
)
