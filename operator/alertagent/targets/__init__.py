"""HTTP clients for the monitoring targets: Prometheus, vmalert and Alertmanager (httpx, blocking)."""
