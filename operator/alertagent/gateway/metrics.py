"""The gateway's Prometheus metrics (served at `/metrics` on the gateway's port). Labels carry channel
keys (`<namespace>/<name>`) and robot types only: never a URL, token or secret."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    """One set per gateway (its own registry, so tests can run several in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.alerts_received = Counter(
            "alertagent_alerts_received_total",
            "Alerts received from Alertmanager, by channel (<namespace>/<name>)",
            ["channel"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "alertagent_notifications_total",
            "Robot requests by robot type and outcome (ok, rate_limited, retry, config_error, dropped)",
            ["channel_type", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "alertagent_notification_duration_seconds",
            "Duration of one robot request (seconds)",
            ["channel_type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "alertagent_notification_queue_depth", "Robot requests waiting for delivery", registry=self.registry
        )
        self.incidents = IncidentMetrics(self.registry)
        self.analysis = AnalysisMetrics(self.registry)


class AnalysisMetrics:
    """Incident analyses by provider (`builtin`, `OpenAI`, `Dify`, `N8n`), counted by the replica that
    runs them (the cluster's Lease holder)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "alertagent_analyses_started_total", "Incident analyses started", ["provider"], registry=registry
        )
        self.finished = Counter(
            "alertagent_analyses_total",
            "Incident analyses ended, by outcome (succeeded, failed, skipped)",
            ["provider", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "alertagent_analysis_duration_seconds",
            "Time from an analysis' start to its result (seconds)",
            ["provider"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
            registry=registry,
        )
        self.tokens = Counter(
            "alertagent_analysis_tokens_total", "Tokens LLM providers reported using", ["provider"], registry=registry
        )
        self.bytes_sent = Counter(
            "alertagent_analysis_bytes_sent_total",
            "Request bytes sent to LLM providers",
            ["provider"],
            registry=registry,
        )


class IncidentMetrics:
    """The incident engine's noise figures, by cluster (`<namespace>/<name>`). What the engine counts
    (incidents, alerts, suppressed alerts, writes) is counted by the replica holding the cluster's
    Lease only, so a sum over the gateway's pods counts each once; the alerts-per-notification ratio
    is `alertagent_incident_alerts_seen_total / alertagent_incident_notifications_total` (a gauge
    here over the process's lifetime; use rate() of the two counters for a window)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.opened = Counter(
            "alertagent_incidents_total",
            "Incidents opened (a cascade or an unrelated alerting service)",
            ["cluster"],
            registry=registry,
        )
        self.alerts = Histogram(
            "alertagent_incident_alerts",
            "Alerts per incident: the most alerts an incident held, observed when it resolves",
            ["cluster"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=registry,
        )
        self.suppressed = Counter(
            "alertagent_alerts_suppressed_total",
            "Alerts Alertmanager suppressed (reason: inhibited or silenced), each counted once",
            ["cluster", "reason"],
            registry=registry,
        )
        self.seen = Counter(
            "alertagent_incident_alerts_seen_total",
            "Alerts (distinct fingerprints) read from Alertmanager, suppressed ones included",
            ["cluster"],
            registry=registry,
        )
        self.notifications = Counter(
            "alertagent_incident_notifications_total",
            "Incident notifications sent (first, updates and resolves, over every channel)",
            ["cluster"],
            registry=registry,
        )
        self.per_notification = Gauge(
            "alertagent_alerts_per_notification",
            "Alerts seen per incident notification sent, since the gateway started (0 before the first)",
            ["cluster"],
            registry=registry,
        )
        self.open = Gauge("alertagent_incidents_firing", "Incidents firing now", ["cluster"], registry=registry)
        self.writes = Counter(
            "alertagent_incident_writes_total",
            "Incident API writes (op: create, status, delete)",
            ["cluster", "op"],
            registry=registry,
        )
        self.leader = Gauge(
            "alertagent_incident_leader",
            "1 while this replica holds the cluster's incidents Lease",
            ["cluster"],
            registry=registry,
        )
        self.alertmanager_up = Gauge(
            "alertagent_incident_alertmanager_up",
            "1 when the last read of the cluster's Alertmanager alerts succeeded",
            ["cluster"],
            registry=registry,
        )
        self.poll_errors = Counter(
            "alertagent_incident_poll_errors_total",
            "Failed reads (what: alertmanager, graph, kubernetes)",
            ["cluster", "what"],
            registry=registry,
        )

    def ratio(self, cluster: str, seen: int, sent: int) -> None:
        """Set the alerts-per-notification gauge of a cluster from its counts."""
        self.per_notification.labels(cluster).set(seen / sent if sent else 0.0)
