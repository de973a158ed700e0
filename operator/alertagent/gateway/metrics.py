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
