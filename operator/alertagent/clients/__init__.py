"""Blocking and async clients: the Kubernetes API (official client), Prometheus, vmalert and
Alertmanager (httpx), and the targets' own command-line checkers. No decisions here: callers pass plans."""
