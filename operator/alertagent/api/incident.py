"""Incident: one cascading outage as AlertAgent's incident engine saw it. Written by AlertAgent (the
gateway replica holding the cluster's Lease), read by people: `kubectl get incidents` / `inc`.

`spec` names the AlertmanagerCluster the incident belongs to and never changes; everything observed is
in `status` (so a change is one status write and does not bump metadata.generation)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .analysis import IncidentAnalysis
from .base import Model
from .common import AGE_COLUMN, Condition, CrdNames, PrinterColumn, Resource

IncidentState = Literal["Firing", "Resolved"]


class IncidentSpec(Model):
    """Which cluster's alerts the incident groups."""

    cluster: Annotated[str, Field(pattern=r"^[a-z0-9][-a-z0-9.]*/[a-z0-9][-a-z0-9.]*$", max_length=317)]
    """The AlertmanagerCluster (`namespace/name`) whose Alertmanager holds the alerts."""


class ServiceRef(Model):
    """A service of the dependency graph (a Service, or a workload no Service selects), or, for an
    alert naming no graph node, its service and namespace labels."""

    namespace: Annotated[str, Field(max_length=253)]
    """Namespace (the alert's namespace label when the service is not in the graph)."""
    name: Annotated[str, Field(max_length=253)]
    """Service name (node id `namespace/name`; `kind/name` for a workload node)."""
    in_graph: bool = True
    """False when no graph node matches the alert's labels."""


class RootCause(ServiceRef):
    """The most upstream alerting service."""

    alerts: Annotated[list[Annotated[str, Field(max_length=256)]], Field(max_length=64)] = Field(default_factory=list)
    """Names of its alerts firing now; empty when the root resolved while services above it still alert."""


class ImpactedService(ServiceRef):
    """A service of the incident other than the root."""

    depth: Annotated[int, Field(ge=0)]
    """Dependency hops from it down to the root (0: it does not depend on the root, e.g. the second
    root of a diamond)."""
    alerts: Annotated[int, Field(ge=0)]
    """Its alerts firing now."""
    suppressed: Annotated[int, Field(ge=0)] = 0
    """Of those, inhibited or silenced in Alertmanager."""
    parent: Annotated[str, Field(max_length=507)] | None = None
    """The service (`namespace/name`) it depends on next towards the root, for a tree; unset when it
    does not depend on the root."""


class TimelineEntry(Model):
    """Something that changed."""

    time: datetime
    """When the engine saw it (the first entry: when the first alert started)."""
    event: Annotated[str, Field(max_length=1024)]
    """What, e.g. `first alert: DatabaseDown on data/postgres`, `shop/api joined (depth 1)`,
    `root changed: ...`, `root resolved: ...`, `resolved: all alerts are gone`, `reopened`."""


class Notifications(Model):
    """Incident notifications the gateway sent."""

    sent: Annotated[int, Field(ge=0)] = 0
    """Messages sent (the first, updates and the resolve), over every channel."""
    last_sent_time: datetime | None = None
    """When the last one was sent."""
    channels: Annotated[list[Annotated[str, Field(max_length=317)]], Field(max_length=256)] = Field(
        default_factory=list
    )
    """The channels (`namespace/name`) notified."""


class IncidentStatus(Model):
    """The incident as observed."""

    state: IncidentState = "Firing"
    """Firing while any of its alerts fires; Resolved when all are gone."""
    severity: Annotated[str, Field(max_length=64)] = ""
    """The worst severity label among its alerts."""
    root: RootCause | None = None
    """The root service."""
    impacted: Annotated[list[ImpactedService], Field(max_length=1000)] = Field(default_factory=list)
    """The other services, by depth then name (capped at 1000; `services` counts them all)."""
    services: Annotated[int, Field(ge=0)] = 0
    """Services in the incident, the root included."""
    alerts: Annotated[int, Field(ge=0)] = 0
    """Alerts firing now in the incident."""
    suppressed_alerts: Annotated[int, Field(ge=0)] = 0
    """Of those, inhibited or silenced in Alertmanager (not delivered on their own)."""
    start_time: datetime | None = None
    """When its first alert started."""
    resolve_time: datetime | None = None
    """When it resolved."""
    merged_into: str | None = None
    """The incident that took over its alerts, when it ended that way."""
    notifications: Notifications = Notifications()
    """What was sent about it."""
    timeline: Annotated[list[TimelineEntry], Field(max_length=50)] = Field(default_factory=list)
    """What changed, oldest first: the first entry and the latest ones (bounded)."""
    analysis: IncidentAnalysis | None = None
    """Root-cause analysis: the built-in report and, when configured, an LLM's answer."""
    observed_generation: int | None = None
    """metadata.generation this status describes (1: AlertAgent writes the spec once, at creation)."""
    conditions: list[Condition] | None = None
    """kstatus conditions: Ready is True while it is tracked and up to date (Reconciling and Stalled
    False); Resolved."""


class Incident(Resource):
    """A cascading outage grouped by the dependency graph: its root cause and what it took down."""

    names = CrdNames(
        kind="Incident",
        plural="incidents",
        short_names=("inc",),
        columns=(
            PrinterColumn("Root", ".status.root.name", description="The root service"),
            PrinterColumn("Severity", ".status.severity", description="Worst severity"),
            PrinterColumn("Services", ".status.services", "integer", description="Services, the root included"),
            PrinterColumn("Alerts", ".status.alerts", "integer", description="Alerts firing now"),
            PrinterColumn("State", ".status.state", description="Firing or Resolved"),
            AGE_COLUMN,
        ),
    )

    kind: Literal["Incident"] = "Incident"
    """Kind is a string value representing the REST resource this object represents."""
    spec: IncidentSpec
    """The cluster it belongs to."""
    status: IncidentStatus | None = None
    """The incident, written by AlertAgent."""
