"""SuppressionPolicy: maintenance windows, inhibit rules and dependency-aware suppression."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from importlib import resources
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, Field

from .base import Invariant, Model
from .common import (
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
    Condition,
    CrdNames,
    LabelName,
    ListMapKey,
    Matcher,
    PrinterColumn,
    Resource,
    go_quote,
)

# Alertmanager time intervals, mirrored from prometheus/alertmanager timeinterval/timeinterval.go
# (v0.25.0; the validation is unchanged through v0.28 and main): each range is `UnmarshalYAML` of its
# type; values are lower-cased first (`stringableRangeFromString`), so `Monday:FRIDAY` is valid; a
# value with more than one `:` is `couldn't parse range <value>, invalid format`. Numbers are Go's
# `strconv.Atoi` (an optional sign, ASCII digits, int64). The messages are Alertmanager's, verbatim,
# with a short explanation after the two that read backwards.
#   weekdays:      names only; `start day cannot be before end day` when start > end (so
#                  `saturday:sunday` is refused: write `saturday` and `sunday`);
#   days_of_month: -31..31 but not 0; a negative start needs a negative end; start <= end with
#                  negatives counted from a 28-day month;
#   months:        names or any integer (Alertmanager does not range-check numbers); start <= end;
#   years:         any integer; start <= end;
#   times:         `HH:MM` from 00:00 to 24:00 (`validTime`), start < end;
#   location:      Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the Alertmanager host's
#                  zone, otherwise an IANA name from the tz database shipped with the `tzdata` package.
WEEKDAYS = {d: i for i, d in enumerate(["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])}
MONTHS = {
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
_MONTH_NAMES = {number: name for name, number in MONTHS.items()}
_ATOI = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(2**63), 2**63 - 1)


def _atoi(text: str) -> int:
    """Go's strconv.Atoi, with its error text."""
    if not _ATOI.fullmatch(text):
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return value


def _components(text: str) -> tuple[str, str]:
    lowered = text.lower()
    if ":" not in lowered:
        return lowered, lowered
    parts = lowered.split(":")
    if len(parts) != 2:
        raise ValueError(f"couldn't parse range {lowered}, invalid format")
    return parts[0], parts[1]


def _weekday(name: str) -> int:
    if name not in WEEKDAYS:
        raise ValueError(f"{name} is not a valid weekday (unknown name)")
    return WEEKDAYS[name]


def _month(name: str) -> int:
    if name in MONTHS:
        return MONTHS[name]
    try:
        return _atoi(name)
    except ValueError:
        raise ValueError(f"{name} is not a valid month (unknown name)") from None


def weekday_range(text: str) -> tuple[int, int]:
    """Inclusive (begin, end), Sunday = 0. Raises ValueError with Alertmanager's message."""
    start, end = _components(text)
    begin, finish = _weekday(start), _weekday(end)
    if begin > finish:
        raise ValueError(f"start day cannot be before end day (range {text!r} runs backwards)")
    return begin, finish


def day_of_month_range(text: str) -> tuple[int, int]:
    """Inclusive (begin, end); negative days count from the end of the month (-1 is the last)."""
    start, end = _components(text)
    begin, finish = _atoi(start), _atoi(end)
    for day in (begin, finish):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"{day} is not a valid day of the month: out of range")
    if begin < 0 < finish:
        raise ValueError("end day must be negative if start day is negative")
    if (begin + 28 if begin < 0 else begin) > (finish + 28 if finish < 0 else finish):
        raise ValueError(f"end day {finish} is always before start day {begin} (range {text!r} runs backwards)")
    return begin, finish


def month_range(text: str) -> tuple[int, int]:
    """Inclusive (begin, end), January = 1."""
    start, end = _components(text)
    begin, finish = _month(start), _month(end)
    if begin > finish:
        raise ValueError(
            f"end month {_MONTH_NAMES.get(finish, '')} is before start month {_MONTH_NAMES.get(begin, '')}"
            f" (range {text!r} runs backwards)"
        )
    return begin, finish


def year_range(text: str) -> tuple[int, int]:
    """Inclusive (begin, end)."""
    start, end = _components(text)
    begin, finish = _atoi(start), _atoi(end)
    if begin > finish:
        raise ValueError(f"end year {finish} is before start year {begin} (range {text!r} runs backwards)")
    return begin, finish


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset((resources.files("tzdata") / "zones").read_text(encoding="utf-8").split())


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> tzinfo:
    """The time zone `name` stands for, from the tz database shipped with the `tzdata` package (never
    the host's). "Local" is taken as UTC: the Alertmanager container's local zone unless TZ is set.
    Raises ValueError with Go's `time.LoadLocation` message for a name it does not know."""
    if name in ("", "UTC", "Local"):
        return UTC
    if ".." in name or name[0] in "/\\":
        raise ValueError("time: invalid location name")
    if name not in _zone_names():
        raise ValueError(f"unknown time zone {name}")
    path = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with path.open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def _check(parse: Callable[[str], tuple[int, int]]) -> AfterValidator:
    def check(value: str) -> str:
        parse(value)
        return value

    return AfterValidator(check)


def _location(value: str) -> str:
    zone(value)
    return value


Weekday = Annotated[str, Field(pattern=r"^[A-Za-z]+(:[A-Za-z]+)?$", max_length=64), _check(weekday_range)]
DayOfMonth = Annotated[str, Field(pattern=r"^[+-]?[0-9]+(:[+-]?[0-9]+)?$", max_length=64), _check(day_of_month_range)]
Month = Annotated[
    str, Field(pattern=r"^([A-Za-z]+|[+-]?[0-9]+)(:([A-Za-z]+|[+-]?[0-9]+))?$", max_length=64), _check(month_range)
]
Year = Annotated[str, Field(pattern=r"^[+-]?[0-9]+(:[+-]?[0-9]+)?$", max_length=64), _check(year_range)]
ClockTime = Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", max_length=5)]


class TimeRange(Model):
    """A time of day range, [startTime, endTime), in 24-hour HH:MM."""

    __invariants__ = (
        Invariant(
            cel="self.startTime < self.endTime",
            message="start time cannot be equal or greater than end time",
            holds=lambda t: t.start_time < t.end_time,
        ),
    )

    start_time: ClockTime
    """Start of the range (inclusive), HH:MM from 00:00 to 23:59."""
    end_time: ClockTime
    """End of the range (exclusive), HH:MM; 24:00 is the end of the day."""


class RecurringSchedule(Model):
    """When a recurring window is active; every field set must match (as Alertmanager time_intervals)."""

    times: Annotated[list[TimeRange], Field(max_length=16)] | None = None
    """Times of day; the whole day when unset."""
    weekdays: Annotated[list[Weekday], Field(max_length=7)] | None = None
    """Days of the week or ranges, for example `monday:friday` (a range may not wrap: list `saturday`
    and `sunday` rather than `saturday:sunday`)."""
    days_of_month: Annotated[list[DayOfMonth], Field(max_length=31)] | None = None
    """Days of the month or ranges; negative counts from the end, for example `-1` or `-7:-1`."""
    months: Annotated[list[Month], Field(max_length=12)] | None = None
    """Months by name or number, or ranges, for example `january:march`."""
    years: Annotated[list[Year], Field(max_length=16)] | None = None
    """Years or ranges, for example `2026:2027`."""
    location: Annotated[str, Field(max_length=64), AfterValidator(_location)] = "UTC"
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
    start: AwareDatetime | None = None
    """Start of a one-off window (RFC 3339), rendered as an Alertmanager silence."""
    end: AwareDatetime | None = None
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
    """Inhibit alerts of services whose upstream dependency is failing, from the discovered graph.

    For every Service S with dependants (callers, directly or within `maxDepth` hops), one inhibit rule
    per dependants' namespace: an alert matching `sourceMatchers` with `serviceLabel="S"`,
    `namespaceLabel="<S's namespace>"` inhibits alerts with `serviceLabel=~"<dependants>"`,
    `namespaceLabel="<their namespace>"` and `targetMatchers`. The policy's `matchers` narrow the
    inhibited side only (the upstream alert is chosen by `sourceMatchers` alone): a matcher on
    `serviceLabel` or `namespaceLabel` keeps the dependants whose name or namespace it matches
    (Alertmanager's matching: `=~`/`!~` are anchored RE2), so a Service left without dependants gets no
    rule; any other matcher is added to every rule's target side. A rule equal to one another policy
    renders is written once; each policy's `status.generatedInhibitRules` still counts all of its own."""

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
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """Only graph edges at or above this confidence count (1.0 annotation/Ingress, 0.9 named env var,
    0.8 NetworkPolicy-confirmed, 0.7 whole ConfigMap, 0.5 command line, 0.2 weak evidence)."""
    edge_classes: list[Literal["call", "telemetry", "weak"]] = Field(default=["call"], min_length=1, max_length=3)
    """Edge classes that count: `call` (default), `telemetry` (OTLP, tracing, scrape and health-check
    targets), `weak` (unconfirmed catalog or unread-key evidence only)."""


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
    """Alerts this policy suppresses: those its maintenance windows mute, and those its
    dependencySuppression may inhibit (see there); a namespace matcher is added under namespace
    isolation. Static inhibitRules are taken as written."""
    maintenance_windows: Annotated[list[MaintenanceWindow], Field(max_length=64), ListMapKey("name")] | None = None
    """Recurring (time intervals) and one-off (silences) maintenance windows."""
    inhibit_rules: Annotated[list[InhibitRule], Field(max_length=256)] | None = None
    """Static inhibit rules."""
    dependency_suppression: DependencySuppression | None = None
    """Inhibit rules generated from the service dependency graph: for each Service with dependants
    within `maxDepth` hops, per dependants' namespace, an alert matching `sourceMatchers` that names the
    Service (`serviceLabel`, `namespaceLabel`) inhibits the alerts naming its dependants. The policy's
    `matchers` narrow the inhibited side only: a matcher on `serviceLabel` or `namespaceLabel` keeps the
    dependants whose name or namespace it matches (anchored RE2 for `=~`/`!~`), any other is added to
    each rule's target matchers. Rules equal to another policy's are rendered once;
    `status.generatedInhibitRules` still counts all of this policy's own."""
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
            REASON_COLUMN,
            AGE_COLUMN,
        ),
    )

    kind: Literal["SuppressionPolicy"] = "SuppressionPolicy"
    """Kind is a string value representing the REST resource this object represents."""
    spec: SuppressionPolicySpec
    """Desired windows and inhibitions."""
    status: SuppressionPolicyStatus | None = None
    """Observed state, written by the operator."""
