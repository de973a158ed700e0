"""Maintenance window activity (pure), with Alertmanager's time-interval semantics."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from alertagent.api.suppressionpolicy import MaintenanceWindow, RecurringSchedule
from alertagent.render.windows import window_active


def _window(**recurring: object) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", "recurring": recurring})


# 2026-11-22 is a Sunday.
@pytest.mark.parametrize(
    ("recurring", "now", "active"),
    [
        ({"weekdays": ["sunday"]}, datetime(2026, 11, 22, 12, tzinfo=UTC), True),
        ({"weekdays": ["monday:friday"]}, datetime(2026, 11, 22, 12, tzinfo=UTC), False),
        ({"weekdays": ["monday:friday"]}, datetime(2026, 11, 24, 12, tzinfo=UTC), True),
        ({"times": [{"startTime": "02:00", "endTime": "04:00"}]}, datetime(2026, 11, 22, 2, 0, tzinfo=UTC), True),
        ({"times": [{"startTime": "02:00", "endTime": "04:00"}]}, datetime(2026, 11, 22, 4, 0, tzinfo=UTC), False),
        # 02:00-04:00 in Shanghai (UTC+8) is 18:00-20:00 UTC the day before.
        (
            {"times": [{"startTime": "02:00", "endTime": "04:00"}], "location": "Asia/Shanghai"},
            datetime(2026, 11, 21, 18, 30, tzinfo=UTC),
            True,
        ),
        ({"daysOfMonth": ["-1"]}, datetime(2026, 11, 30, tzinfo=UTC), True),
        ({"daysOfMonth": ["-1"]}, datetime(2026, 11, 29, tzinfo=UTC), False),
        ({"daysOfMonth": ["1:7"], "weekdays": ["sunday"]}, datetime(2026, 11, 1, tzinfo=UTC), True),
        ({"months": ["november:december"]}, datetime(2026, 11, 22, tzinfo=UTC), True),
        ({"months": ["1:3"]}, datetime(2026, 11, 22, tzinfo=UTC), False),
        ({"years": ["2027"]}, datetime(2026, 11, 22, tzinfo=UTC), False),
        ({}, datetime(2026, 11, 22, tzinfo=UTC), True),
    ],
)
def test_recurring(recurring: dict, now: datetime, active: bool) -> None:
    assert window_active(_window(**recurring), now) is active


def test_one_off_is_start_inclusive_end_exclusive() -> None:
    window = MaintenanceWindow.model_validate(
        {"name": "w", "start": "2026-12-01T01:00:00Z", "end": "2026-12-01T03:00:00Z"}
    )
    assert not window_active(window, datetime(2026, 12, 1, 0, 59, tzinfo=UTC))
    assert window_active(window, datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert not window_active(window, datetime(2026, 12, 1, 3, 0, tzinfo=UTC))


def test_schedules_alertmanager_would_refuse_are_invalid_alone() -> None:
    cases = [
        ({"weekdays": ["saturday:sunday"]}, "runs backwards"),
        ({"weekdays": ["funday"]}, "unknown name"),
        ({"months": ["december:january"]}, "runs backwards"),
        ({"years": ["2027:2026"]}, "runs backwards"),
    ]
    for bad, reason in cases:
        with pytest.raises(pydantic.ValidationError, match=reason):
            RecurringSchedule.model_validate(bad)
    assert RecurringSchedule.model_validate({"daysOfMonth": ["-7:-1", "20:-1"], "months": ["1:3"]}).months == ["1:3"]
