"""Alertmanager's alerts as the incident engine sees them (pure).

`GET /api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true` answers a list of
`gettableAlert` (Alertmanager api/v2/openapi.yaml, v0.25-v0.28): labels, annotations, startsAt,
endsAt, fingerprint, receivers and `status` {state: active | suppressed | unprocessed, inhibitedBy,
silencedBy}. `AlertView` keeps what correlation needs, with the alert's service: the graph node its
service and namespace labels name (the labels dependency suppression uses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..discovery.snapshot import Graph

# Lower is worse. Names as alerting rules commonly use them; anything else ranks last.
SEVERITY_RANK = {"critical": 0, "page": 0, "emergency": 0, "high": 1, "error": 1, "major": 1, "warning": 2}
SEVERITY_RANK |= {"minor": 2, "medium": 2, "low": 3, "info": 3, "informational": 3, "none": 4}
UNKNOWN_RANK = 5


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.lower(), UNKNOWN_RANK)


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class AlertStatus(_Wire):
    state: str = "active"  # active | suppressed | unprocessed
    inhibited_by: list[str] = Field(default_factory=list, alias="inhibitedBy")
    silenced_by: list[str] = Field(default_factory=list, alias="silencedBy")


class GettableAlert(_Wire):
    """One alert of Alertmanager's API v2 answer."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    status: AlertStatus = Field(default_factory=AlertStatus)
    generator_url: str = Field(default="", alias="generatorURL")  # the evaluator's link to the expression


@dataclass(frozen=True, order=True)
class AlertView:
    """An alert: `node` is the graph node it belongs to, or a pseudo node `alert:<ns>/<service>` when
    its labels name none (it then forms incidents of its own). `started` is epoch seconds."""

    node: str
    started: float
    fingerprint: str
    name: str
    severity: str
    suppressed: bool  # inhibited or silenced in Alertmanager (not delivered)
    inhibited: bool = False
    summary: str = ""

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)


@dataclass(frozen=True)
class Labels:
    """Which alert labels name the service and its namespace (as dependencySuppression's)."""

    service: str = "service"
    namespace: str = "namespace"


def node_index(graph: Graph) -> dict[tuple[str, str], str]:
    """(namespace, name) → node id, for Services and workloads no Service selects."""
    return {(n.namespace, n.name): n.id for n in graph.nodes if n.kind != "ingress"}


def alert_views(
    alerts: Iterable[GettableAlert | Mapping[str, Any]], graph: Graph, labels: Labels = Labels()
) -> list[AlertView]:
    """The views of the alerts (raw API v2 dicts are validated here; ValidationError on a bad one),
    sorted. Resolved alerts (endsAt in the past is Alertmanager's business: it lists only unresolved
    ones when asked for active) are expected to be absent."""
    nodes = node_index(graph)
    views = []
    for raw in alerts:
        alert = raw if isinstance(raw, GettableAlert) else GettableAlert.model_validate(raw)
        service = alert.labels.get(labels.service, "")
        namespace = alert.labels.get(labels.namespace, "")
        node = nodes.get((namespace, service)) or f"alert:{namespace}/{service or alert.labels.get('alertname', '')}"
        views.append(
            AlertView(
                node=node,
                started=alert.starts_at.timestamp(),
                fingerprint=alert.fingerprint,
                name=alert.labels.get("alertname", ""),
                severity=alert.labels.get("severity", ""),
                suppressed=alert.status.state == "suppressed",
                inhibited=bool(alert.status.inhibited_by),
                summary=alert.annotations.get("summary", ""),
            )
        )
    return sorted(views)
