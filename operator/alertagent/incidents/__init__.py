"""The incident engine's pure core: Alertmanager's alerts (`alerts`), grouped by the dependency graph
and time into cascades (`correlate`), followed over time as incidents (`track`)."""
