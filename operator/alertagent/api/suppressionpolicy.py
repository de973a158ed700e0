"""SuppressionPolicy: maintenance windows, inhibit rules and dependency-aware suppression."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from .base import Invariant, Model
from .common import (
    AGE_COLUMN,
    READY_COLUMN,
    Condition,
    CrdNames,
    LabelName,
    ListMapKey,
    Matcher,
    PrinterColumn,
    Resource,
)

# Alertmanager time_intervals syntax: `monday`, `monday:friday`; `1`, `1:5`, `-1`; `january:march`.
Weekday = Annotated[str, Field(pattern=r"^[a-z]+(:[a-z]+)?$", max_length=21)]
DayOfMonth = Annotated[str, Field(pattern=r"^-?[0-9]{1,2}(:-?[0-9]{1,2})?$", max_length=7)]
Month = Annotated[str, Field(pattern=r"^[a-z0-9]+(:[a-z0-9]+)?$", max_length=19)]
Year = Annotated[str, Field(pattern=r"^[0-9]{4}(:[0-9]{4})?$", max_length=9)]
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$", max_length=5)]


class TimeRange(Model):
    """A time of day range, [startTime, endTime), in 24-hour HH:MM."""

    __invariants__ = (
        Invariant(
            cel="self.startTime < self.endTime",
            message="endTime must be after startTime",
            holds=lambda t: t.start_time < t.end_time,
        ),
    )

    start_time: ClockTime
    """Start of the range (inclusive), HH:MM."""
    end_time: ClockTime
    """End of the range (exclusive), HH:MM; 24:00 is the end of the day."""


def _check_ranges(values: list[str] | None, names: dict[str, int], what: str) -> list[str] | None:
    """Alertmanager refuses unknown names and ranges that run backwards; say so per object."""
    for item in values or []:
        start, _, end = item.partition(":")
        try:
            low, high = (names[p] if p in names else int(p) for p in (start, end or start))
        except ValueError:
            raise ValueError(f"{what} {item!r}: unknown name") from None
        if low > high and not (what == "day of month" and (low < 0) != (high < 0)):
            raise ValueError(f"{what} range {item!r} runs backwards")
    return values


_WEEKDAYS = {d: i for i, d in enumerate(["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}


class RecurringSchedule(Model):
    """When a recurring window is active; every field set must match (as Alertmanager time_intervals)."""

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[str] | None) -> list[str] | None:
        return _check_ranges(v, _WEEKDAYS, "weekday")

    @field_validator("months")
    @classmethod
    def _months(cls, v: list[str] | None) -> list[str] | None:
        return _check_ranges(v, _MONTHS, "month")

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, v: list[str] | None) -> list[str] | None:
        return _check_ranges(v, {}, "day of month")

    @field_validator("years")
    @classmethod
    def _years(cls, v: list[str] | None) -> list[str] | None:
        return _check_ranges(v, {}, "year")

    times: Annotated[list[TimeRange], Field(max_length=16)] | None = None
    """Times of day; the whole day when unset."""
    weekdays: Annotated[list[Weekday], Field(max_length=7)] | None = None
    """Days of the week or ranges, for example `saturday:sunday`."""
    days_of_month: Annotated[list[DayOfMonth], Field(max_length=31)] | None = None
    """Days of the month or ranges; negative counts from the end, for example `-1`."""
    months: Annotated[list[Month], Field(max_length=12)] | None = None
    """Months by name or number, or ranges, for example `january:march`."""
    years: Annotated[list[Year], Field(max_length=16)] | None = None
    """Years or ranges, for example `2026:2027`."""
    location: Annotated[str, Field(max_length=64)] = "UTC"
    """IANA time zone the times are in, for example `Asia/Shanghai`."""


class MaintenanceWindow(Model):
    """A period in which alerts matching the policy's matchers are muted: recurring or one-off."""

    __invariants__ = (
        Invariant(
            cel="has(self.recurring) != (has(self.start) || has(self.end))",
            message="set either recurring, or start and end",
            holds=lambda w: (w.recurring is not None) != (w.start is not None or w.end is not None),
        ),
        Invariant(
            cel="has(self.start) == has(self.end)",
            message="a one-off window needs both start and end",
            holds=lambda w: (w.start is None) == (w.end is None),
        ),
        Invariant(
            cel="!has(self.start) || !has(self.end) || timestamp(self.end) > timestamp(self.start)",
            message="end must be after start",
            holds=lambda w: w.start is None or w.end is None or w.end > w.start,
            field_path=".end",
        ),
    )

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    """Window name, unique within the policy."""
    recurring: RecurringSchedule | None = None
    """A repeating schedule, rendered as an Alertmanager time interval muting the matched routes."""
    start: datetime | None = None
    """Start of a one-off window (RFC 3339), rendered as an Alertmanager silence."""
    end: datetime | None = None
    """End of a one-off window (RFC 3339)."""
    comment: Annotated[str, Field(max_length=1024)] | None = None
    """Why the window exists; shown as the silence comment."""


class InhibitRule(Model):
    """While an alert matching sourceMatchers fires, alerts matching targetMatchers are muted."""

    source_matchers: Annotated[list[Matcher], Field(min_length=1, max_length=64)]
    """Matchers the inhibiting (source) alert must satisfy."""
    target_matchers: Annotated[list[Matcher], Field(min_length=1, max_length=64)]
    """Matchers the inhibited (target) alerts must satisfy."""
    equal: list[LabelName] | None = None
    """Labels that must have equal values in source and target for the inhibition to apply."""


class DependencySuppression(Model):
    """Inhibit alerts of services whose upstream dependency is failing, from the discovered graph."""

    source_matchers: Annotated[list[Matcher], Field(min_length=1, max_length=64)]
    """Matchers an upstream alert must satisfy to inhibit its dependants, e.g. severity="critical"."""
    target_matchers: Annotated[list[Matcher], Field(max_length=64)] | None = None
    """Extra matchers the inhibited dependant alerts must satisfy."""
    service_label: LabelName = "service"
    """Alert label naming the service (the Service name in the graph)."""
    namespace_label: LabelName = "namespace"
    """Alert label naming the service's namespace."""
    max_depth: Annotated[int, Field(ge=1, le=10)] = 3
    """How many dependency hops upward an upstream alert inhibits."""


class SilenceRef(Model):
    """The Alertmanager silence created for a one-off window."""

    window: str
    """Window name."""
    cluster: str
    """AlertmanagerCluster (`namespace/name`) holding the silence."""
    id: str
    """Silence id in that Alertmanager."""


class SuppressionPolicySpec(Model):
    """Maintenance windows, inhibit rules and dependency suppression for the alerts it matches."""

    matchers: Annotated[list[Matcher], Field(max_length=64)] | None = None
    """Alerts the maintenance windows mute (a namespace matcher is added under namespace isolation)."""
    maintenance_windows: Annotated[list[MaintenanceWindow], Field(max_length=64), ListMapKey("name")] | None = None
    """Recurring (time intervals) and one-off (silences) maintenance windows."""
    inhibit_rules: Annotated[list[InhibitRule], Field(max_length=256)] | None = None
    """Static inhibit rules."""
    dependency_suppression: DependencySuppression | None = None
    """Inhibit rules generated from the service dependency graph."""
    targets: list[Annotated[str, Field(min_length=1, max_length=317)]] | None = None
    """AlertmanagerClusters (`name` or `namespace/name`) that include this policy. When unset, every
    cluster whose selectors include it."""


class SuppressionPolicyStatus(Model):
    """Observed state of a SuppressionPolicy."""

    observed_generation: int | None = None
    """metadata.generation last processed."""
    conditions: list[Condition] | None = None
    """kstatus conditions; Ready is True when the policy is valid and loaded by its clusters."""
    window_count: int | None = None
    """Number of maintenance windows."""
    active_windows: list[str] | None = None
    """Names of the windows active now."""
    active_count: int | None = None
    """Number of windows active now."""
    next_transition: datetime | None = None
    """When a window next starts or ends."""
    silences: list[SilenceRef] | None = None
    """Alertmanager silences created for one-off windows."""
    inhibit_rule_count: int | None = None
    """Inhibit rules rendered: static plus generated."""
    generated_inhibit_rules: int | None = None
    """Inhibit rules generated from the dependency graph."""


class SuppressionPolicy(Resource):
    """Maintenance windows, inhibit rules and dependency-aware suppression."""

    names = CrdNames(
        kind="SuppressionPolicy",
        plural="suppressionpolicies",
        short_names=("sp",),
        columns=(
            PrinterColumn("Windows", ".status.windowCount", "integer", "Maintenance windows"),
            PrinterColumn("Active", ".status.activeCount", "integer", "Windows active now"),
            PrinterColumn("Inhibit rules", ".status.inhibitRuleCount", "integer", "Inhibit rules rendered"),
            READY_COLUMN,
            AGE_COLUMN,
        ),
    )

    kind: Literal["SuppressionPolicy"] = "SuppressionPolicy"
    """Kind is a string value representing the REST resource this object represents."""
    spec: SuppressionPolicySpec
    """Desired windows and inhibitions."""
    status: SuppressionPolicyStatus | None = None
    """Observed state, written by the operator."""
