"""AlertAgent: a Kubernetes operator for Prometheus, vmalert and Alertmanager alerting."""

__version__ = "0.1.0"
