"""Settings are built once from flags over environment; handlers are registered per configuration into
a registry of their own, so two operators with different settings can run in one process."""

from __future__ import annotations

import inspect
import re
from typing import Any

import kopf
import pytest

from alertagent.handlers import build_registry
from alertagent.handlers.lifecycle import NoDiffBase
from alertagent.settings import Settings


def test_settings_come_from_defaults_then_environment_then_flags() -> None:
    env = {"ALERTAGENT_DEBOUNCE_SECONDS": "0.3", "ALERTAGENT_DISCOVERY": "false", "POD_NAMESPACE": "ops"}
    settings = Settings.from_environ(env, http_port=9000, debounce_seconds=None)
    assert (settings.debounce_seconds, settings.discovery, settings.operator_namespace) == (0.3, False, "ops")
    assert (settings.http_port, settings.metrics_port) == (9000, 8081)
    assert Settings.from_environ(env, debounce_seconds=2.0).debounce_seconds == 2.0
    assert Settings.from_environ({}).operator_namespace == "default"


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="ALERTAGENT_HEALTH_INTERVAL_SECONDS='soon'"):
        Settings.from_environ({"ALERTAGENT_HEALTH_INTERVAL_SECONDS": "soon"})
    with pytest.raises(ValueError, match="ALERTAGENT_DISCOVERY"):
        Settings.from_environ({"ALERTAGENT_DISCOVERY": "maybe"})


def test_a_burst_check_interval_that_would_hold_the_event_loop_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("ALERTAGENT_BURST_PREPARE_SECONDS=0.0: must be more than 0")):
        Settings.from_environ({"ALERTAGENT_BURST_PREPARE_SECONDS": "0"})
    assert Settings.from_environ({"ALERTAGENT_BURST_PREPARE_SECONDS": "0.2"}).burst_prepare_seconds == 0.2


@pytest.mark.parametrize("raw", ["0", "-1"])
def test_no_connection_for_the_status_writer_is_refused(raw: str) -> None:
    """With no worker, a burst's status writes would be dropped, not written one at a time."""
    with pytest.raises(ValueError, match=re.escape(f"ALERTAGENT_API_CONNECTIONS={int(raw)!r}: must be 1 or more")):
        Settings.from_environ({"ALERTAGENT_API_CONNECTIONS": raw})
    assert Settings.from_environ({"ALERTAGENT_API_CONNECTIONS": "1"}).api_connections == 1


@pytest.mark.parametrize(
    "name", ["BURST_QUIET_SECONDS", "BURST_PREPARE_SECONDS", "DEBOUNCE_SECONDS", "RETRY_MAX_SECONDS"]
)
@pytest.mark.parametrize("raw", ["-5", "nan", "inf"])
def test_a_negative_or_non_finite_duration_is_refused_with_its_variable(name: str, raw: str) -> None:
    """A negative or NaN quiet time would run every change of a burst on its own, silently."""
    with pytest.raises(
        ValueError, match=re.escape(f"ALERTAGENT_{name}={float(raw)!r}: must be a finite number of seconds")
    ):
        Settings.from_environ({f"ALERTAGENT_{name}": raw})
    assert Settings.from_environ({"ALERTAGENT_BURST_QUIET_SECONDS": "0"}).burst_quiet_seconds == 0.0


def _ids(registry: kopf.OperatorRegistry) -> set[str]:
    handlers: list[Any] = [*registry._activities.get_all_handlers()]
    for group in (registry._indexing, registry._watching, registry._spawning, registry._webhooks):
        handlers += group.get_all_handlers()
    return {str(h.id) for h in handlers}


def _timer_interval(registry: kopf.OperatorRegistry) -> float:
    (timer,) = [h for h in registry._spawning.get_all_handlers() if str(h.id) == "probe_health"]
    return float(timer.interval)


def test_each_configuration_gets_its_own_registry_with_its_own_handlers() -> None:
    default_before = _ids(kopf.get_default_registry())
    full = build_registry(Settings(discovery=True, health_interval_seconds=7, webhook_port=9443))
    lean = build_registry(Settings(discovery=False, health_interval_seconds=30))
    assert {"discovery_services", "start_publisher", "alertrules"} <= _ids(full)
    assert not {"discovery_services", "start_publisher", "alertrules"} & _ids(lean)
    assert {"cluster_reconciler", "alertrule_index", "rule_shard_index", "login"} <= _ids(lean)
    assert (_timer_interval(full), _timer_interval(lean)) == (7, 30)
    assert _ids(kopf.get_default_registry()) == default_before  # nothing leaks into Kopf's global registry


def test_nothing_reads_a_diff_so_kopf_builds_no_diff_base() -> None:
    """`handlers.lifecycle.NoDiffBase` is right only while no handler reacts to a change by its diff:
    no on.create/update/delete/resume/field handler, no daemon or timer with `idle=`."""
    for settings in (Settings(), Settings(discovery=False)):
        registry = build_registry(settings)
        assert registry._changing.get_all_handlers() == []
        assert all(getattr(h, "idle", None) is None for h in registry._spawning.get_all_handlers())
    base = NoDiffBase()
    body = kopf.Body({"metadata": {"name": "x"}, "spec": {"a": 1}})
    assert base.build(body=body) == base.fetch(body=body) == {}  # an empty diff, for every event


def test_index_handlers_are_coroutines_so_no_event_waits_for_a_thread() -> None:
    registry = build_registry(Settings())
    for handler in registry._indexing.get_all_handlers():
        assert inspect.iscoroutinefunction(handler.fn), handler.id
