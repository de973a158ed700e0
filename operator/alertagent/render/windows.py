"""Whether a maintenance window is active at a given time (pure), with Alertmanager's time-interval
semantics (timeinterval/timeinterval.go `ContainsTime`, v0.25-v0.28): every field that is set must
match; ranges are inclusive; times are [start, end) in minutes; negative days of the month count from
the end, a start beyond the month's last day never matches and the range is clamped to the month; all
evaluated in the window's location (from the `tzdata` package). The month length is the calendar's
(Alertmanager main fixed counting a DST month one day short; 0.25-0.28 still do).

Never raises: a value the models would refuse makes the window inactive."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime

from ..api.suppressionpolicy import (
    MaintenanceWindow,
    RecurringSchedule,
    day_of_month_range,
    month_range,
    weekday_range,
    year_range,
    zone,
)


def _any(value: int, items: list[str] | None, parse: Callable[[str], tuple[int, int]]) -> bool:
    if not items:
        return True
    return any(lo <= value <= hi for lo, hi in map(parse, items))


def _day_matches(day: int, days_in_month: int, items: list[str] | None) -> bool:
    if not items:
        return True
    for item in items:
        begin, end = day_of_month_range(item)
        begin = days_in_month + begin + 1 if begin < 0 else begin
        end = days_in_month + end + 1 if end < 0 else end
        if begin > days_in_month:
            continue
        begin, end = (max(-days_in_month, min(days_in_month, v)) for v in (begin, end))
        if begin <= day <= end:
            return True
    return False


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def recurring_active(schedule: RecurringSchedule, now: datetime) -> bool:
    """Whether `schedule` contains `now` (a naive `now` is taken as UTC). Never raises."""
    try:
        local = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(zone(schedule.location))
        if schedule.times:
            minute = local.hour * 60 + local.minute
            if not any(_minutes(t.start_time) <= minute < _minutes(t.end_time) for t in schedule.times):
                return False
        days_in_month = calendar.monthrange(local.year, local.month)[1]
        return (
            _day_matches(local.day, days_in_month, schedule.days_of_month)
            and _any(local.month, schedule.months, month_range)
            and _any((local.weekday() + 1) % 7, schedule.weekdays, weekday_range)  # Alertmanager: Sunday=0
            and _any(local.year, schedule.years, year_range)
        )
    except (ValueError, OverflowError, KeyError, OSError):
        return False


def window_active(window: MaintenanceWindow, now: datetime) -> bool:
    """Whether `window` is active at `now` (a naive `now` is taken as UTC). Never raises."""
    if window.recurring is not None:
        return recurring_active(window.recurring, now)
    if window.start is None or window.end is None:
        return False
    try:
        aware = now if now.tzinfo else now.replace(tzinfo=UTC)
        return window.start <= aware < window.end
    except (TypeError, ValueError, OverflowError):
        return False
