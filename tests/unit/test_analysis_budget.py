"""Budgets: the material basis changes with the root, the services and the state only; the rate and
token caps hold per cluster over sliding windows, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

from alertagent.analysis.budget import RateCap, material_basis
from alertagent.api.incident import ImpactedService, IncidentStatus, RootCause, TimelineEntry


def status(**changes: object) -> IncidentStatus:
    base = IncidentStatus(
        root=RootCause(namespace="data", name="postgres", alerts=["PostgresDown"]),
        impacted=[
            ImpactedService(namespace="shop", name="api", depth=1, alerts=2),
            ImpactedService(namespace="shop", name="web", depth=2, alerts=1),
        ],
        services=3,
        alerts=4,
    )
    return base.model_copy(update=changes)


def test_basis_is_a_short_hex_hash() -> None:
    basis = material_basis(status())
    assert len(basis) == 16 and int(basis, 16) >= 0
    assert material_basis(status()) == basis


def test_basis_ignores_counts_times_order_and_the_timeline() -> None:
    basis = material_basis(status())
    t = datetime(2026, 1, 1, tzinfo=UTC)
    reordered = list(reversed(status().impacted))
    assert material_basis(status(impacted=reordered)) == basis
    assert material_basis(status(alerts=40, suppressed_alerts=3, start_time=t, severity="critical")) == basis
    assert material_basis(status(timeline=[TimelineEntry(time=t, event="shop/web joined")])) == basis
    deeper = [s.model_copy(update={"depth": 5, "alerts": 9}) for s in status().impacted]
    assert material_basis(status(impacted=deeper)) == basis


def test_basis_changes_with_root_services_and_state() -> None:
    basis = material_basis(status())
    assert material_basis(status(root=RootCause(namespace="data", name="redis"))) != basis
    assert material_basis(status(impacted=status().impacted[:1])) != basis
    assert material_basis(status(state="Resolved")) != basis
    assert material_basis(status(root=None)) != basis


def test_basis_changes_when_the_incident_reopens_or_its_root_alerts_change() -> None:
    basis = material_basis(status())
    t = datetime(2026, 1, 1, tzinfo=UTC)
    reopened = material_basis(status(timeline=[TimelineEntry(time=t, event="reopened")]))
    assert reopened != basis  # a new outage of the same services: the old report describes the one before
    again = [TimelineEntry(time=t, event="reopened"), TimelineEntry(time=t.replace(hour=2), event="reopened")]
    assert material_basis(status(timeline=again)) not in (basis, reopened)
    renamed = status().root.model_copy(update={"alerts": ["DbBroken2"]})  # type: ignore[union-attr]
    assert material_basis(status(root=renamed)) != basis


def test_hourly_cap_counts_allowed_analyses_in_a_sliding_hour() -> None:
    cap = RateCap(max_per_hour=2)
    assert cap.allow("a", 0.0) is None
    assert cap.allow("a", 10.0) is None
    assert cap.allow("a", 20.0) == "rate cap: 2 analyses in the last hour (at most 2)"
    assert cap.allow("b", 20.0) is None  # per cluster
    assert cap.allow("a", 3599.0) is not None  # the first is still within the hour
    assert cap.allow("a", 3600.0) is None  # the first has left the window
    assert cap.allow("a", 3605.0) is not None  # 10.0 and 3600.0 are in it


def test_zero_allows_nothing() -> None:
    assert RateCap(max_per_hour=0).allow("a", 0.0) is not None
    assert RateCap(max_tokens_per_day=0).allow("a", 0.0) == "token cap: 0 tokens in the last day (at most 0)"


def test_token_cap_over_a_sliding_day() -> None:
    cap = RateCap(max_per_hour=100, max_tokens_per_day=1000)
    assert cap.allow("a", 0.0) is None
    cap.spent("a", 5.0, 600)
    assert cap.remaining_tokens("a", 6.0) == 400
    assert cap.allow("a", 10.0) is None
    cap.spent("a", 15.0, 500)
    assert cap.allow("a", 20.0) == "token cap: 1100 tokens in the last day (at most 1000)"
    assert cap.remaining_tokens("a", 20.0) == 0
    assert cap.allow("a", 86_405.0) is None  # the first 600 have left the day: 500 remain counted
    assert cap.remaining_tokens("a", 86_405.0) == 500
    cap.spent("a", 86_406.0, -5)  # a provider reporting nonsense counts as nothing
    assert cap.remaining_tokens("a", 86_406.0) == 500


def test_limits_given_to_allow_override_the_defaults() -> None:
    cap = RateCap(max_per_hour=1)
    assert cap.allow("a", 0.0, max_per_hour=3, max_tokens_per_day=10) is None
    assert cap.allow("a", 1.0, max_per_hour=3) is None
    assert cap.allow("a", 2.0) is not None  # the default of 1
    cap.spent("a", 3.0, 10)
    assert cap.allow("a", 4.0, max_per_hour=10, max_tokens_per_day=10) is not None
    assert cap.remaining_tokens("a", 4.0, max_tokens_per_day=25) == 15
