"""Logs a person can read: an object left out of a rendered config is logged once per reason (not on
every reconcile), and `--log-format plain` lines carry time, level and logger."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from alertagent.common.identity import ObjectRef
from alertagent.operator import configure_logging
from alertagent.plans.alertmanager import AlertmanagerPlan
from alertagent.reconcile.state import LeftOut
from alertagent.reconcile.steps import _log_left_out

PAGER = ObjectRef("NotificationChannel", "team-a", "pager")
MAINTENANCE = ObjectRef("SuppressionPolicy", "team-a", "maintenance")


def test_an_object_left_out_is_reported_once_per_reason() -> None:
    left_out = LeftOut()
    assert left_out.update("mon/main", "rules", {"AlertRule a/x": "too large"}) == {"AlertRule a/x": "too large"}
    assert left_out.update("mon/main", "rules", {"AlertRule a/x": "too large"}) == {}  # the next reconcile
    assert left_out.update("mon/main", "rules", {"AlertRule a/x": "promtool: bad"}) == {
        "AlertRule a/x": "promtool: bad"
    }
    # Another cluster leaving out the same object is news of its own.
    assert left_out.update("mon/other", "rules", {"AlertRule a/x": "promtool: bad"}) == {
        "AlertRule a/x": "promtool: bad"
    }


def test_an_object_rendered_again_is_reported_again_when_next_left_out() -> None:
    left_out = LeftOut()
    left_out.update("mon/main", "rules", {"AlertRule a/x": "too large", "AlertRule a/y": "bad"})
    assert left_out.update("mon/main", "rules", {"AlertRule a/y": "bad"}) == {}
    assert left_out.update("mon/main", "rules", {"AlertRule a/x": "too large", "AlertRule a/y": "bad"}) == {
        "AlertRule a/x": "too large"
    }
    left_out.forget_cluster("mon/main")  # deleted: a cluster of that name starts afresh
    assert left_out.update("mon/main", "rules", {"AlertRule a/y": "bad"}) == {"AlertRule a/y": "bad"}


def _plan(members: dict[ObjectRef, str | None], error: str | None = None) -> AlertmanagerPlan:
    return AlertmanagerPlan(None, None, True, {}, members, {}, (), error=error)


def test_the_alertmanager_step_logs_each_left_out_object_once(caplog: pytest.LogCaptureFixture) -> None:
    state = cast(Any, SimpleNamespace(left_out=LeftOut()))
    caplog.set_level(logging.INFO, logger="alertagent.reconcile.steps")
    refused = "Alertmanager refuses it (amtool): bad url"
    for _ in range(3):  # three reconciles, nothing changed
        _log_left_out(state, "mon/main", _plan({PAGER: refused, MAINTENANCE: None}))
    assert caplog.messages == [f"mon/main: NotificationChannel team-a/pager left out of alertmanager.yaml: {refused}"]
    caplog.clear()
    _log_left_out(state, "mon/main", _plan({PAGER: None, MAINTENANCE: "no matchers"}, error="invalid"))
    _log_left_out(state, "mon/main", _plan({PAGER: None, MAINTENANCE: "no matchers"}, error="invalid"))
    assert caplog.messages == [
        "mon/main: SuppressionPolicy team-a/maintenance left out of alertmanager.yaml: no matchers",
        "mon/main: alertmanager.yaml not written: invalid",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "kopf.objects", "kopf.activities")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, before in levels.items():
        logging.getLogger(name).setLevel(before)


def test_plain_log_lines_have_time_level_and_logger(restored_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("plain")
    logging.getLogger("alertagent.reconcile.steps").warning("mon/main: alertmanager.yaml not written: invalid")
    logging.getLogger("kopf.activities.startup").info("Activity 'configure' succeeded.")  # start-up noise
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(
        rf"{stamp} WARNING alertagent\.reconcile\.steps: mon/main: alertmanager\.yaml not written: invalid", lines[0]
    )


def test_json_log_lines_name_their_logger(restored_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    logging.getLogger("alertagent.operator").info("alertagent starting")
    [line] = capsys.readouterr().err.splitlines()
    doc = json.loads(line)
    assert (doc["message"], doc["severity"], doc["logger"]) == ("alertagent starting", "info", "alertagent.operator")
    assert "timestamp" in doc
