"""The AlertAgent config-sync sidecar (runs next to Prometheus or vmalert)."""
