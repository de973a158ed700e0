"""Whether a maintenance window is active at a given time (pure), with Alertmanager's time-interval
semantics: every field that is set must match; ranges are inclusive; times are [start, end) in
minutes; negative days of the month count from the end; all evaluated in the window's location."""

from __future__ import annotations

import calendar
from datetime import datetime
from zoneinfo import ZoneInfo

from ..api.suppressionpolicy import MaintenanceWindow, RecurringSchedule

WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
MONTHS = [m.lower() for m in calendar.month_name[1:]]


def _bounds(text: str, parse: type[int] | dict[str, int]) -> tuple[int, int]:
    def one(part: str) -> int:
        return int(part) if isinstance(parse, type) else parse[part] if part in parse else int(part)

    start, _, end = text.partition(":")
    return one(start), one(end or start)


def _matches(value: int, ranges: list[str] | None, parse: type[int] | dict[str, int]) -> bool:
    if not ranges:
        return True
    return any(lo <= value <= hi for lo, hi in (_bounds(r, parse) for r in ranges))


def recurring_active(schedule: RecurringSchedule, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(schedule.location))
    weekday = (local.weekday() + 1) % 7  # Python: Monday=0; Alertmanager: Sunday=0
    days_in_month = calendar.monthrange(local.year, local.month)[1]
    if not _matches(weekday, schedule.weekdays, {d: i for i, d in enumerate(WEEKDAYS)}):
        return False
    if schedule.days_of_month:

        def day(part: str) -> int:  # -1 is the last day of the month
            value = int(part)
            return value if value > 0 else days_in_month + value + 1

        ranges = [
            (day(r.partition(":")[0]), day(r.partition(":")[2] or r.partition(":")[0])) for r in schedule.days_of_month
        ]
        if not any(lo <= local.day <= hi for lo, hi in ranges):
            return False
    if not _matches(local.month, schedule.months, {m: i + 1 for i, m in enumerate(MONTHS)}):
        return False
    if not _matches(local.year, schedule.years, int):
        return False
    if schedule.times:
        minute = local.hour * 60 + local.minute
        spans = [(_minutes(t.start_time), _minutes(t.end_time)) for t in schedule.times]
        return any(start <= minute < end for start, end in spans)
    return True


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def window_active(window: MaintenanceWindow, now: datetime) -> bool:
    if window.recurring is not None:
        return recurring_active(window.recurring, now)
    return window.start is not None and window.end is not None and window.start <= now < window.end
