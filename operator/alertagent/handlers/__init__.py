"""Kopf wiring only: each module's `register(registry, settings)` adds its handlers to a registry;
state is reached through `memo["state"]` (see `reconcile.state`). `build_registry` makes the whole set
for one configuration, so two operators with different settings can run in one process."""

from __future__ import annotations

import kopf

from ..settings import Settings
from . import admission, alertrules, clusters, discovery, lifecycle, members, resync, secrets, shards, standby, toggles


def build_registry(settings: Settings, standby_only: bool = False) -> kopf.OperatorRegistry:
    """Every handler this configuration needs, in a registry of its own; with `standby_only`, what a
    replica waiting for the leader Lease serves: the admission webhook (if enabled) and nothing else."""
    registry = kopf.OperatorRegistry()
    if standby_only:
        standby.register(registry, settings)
        if settings.webhook_port:
            admission.register(registry, settings)
        return registry
    for module in (lifecycle, resync, toggles, alertrules, members, shards, clusters):
        module.register(registry, settings)
    if settings.discovery:
        discovery.register(registry, settings)
    if settings.watch_secrets:
        secrets.register(registry, settings)
    if settings.webhook_port:
        admission.register(registry, settings)
    return registry
