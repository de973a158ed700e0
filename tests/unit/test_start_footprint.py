"""What keeps the operator's start cheap: Kopf does not watch every CRD of the cluster (their schemas
weigh megabytes), the objects of the imports are out of the garbage collector's way, and the collector
is off from `alertagent run` until every cluster has reconciled once; a model's validator is built
on its first use, not at import."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace
from typing import Any

import kopf

from alertagent import cli, operator
from alertagent.clients.connection import Connection
from alertagent.clients.kube import Kube
from alertagent.handlers import build_registry
from alertagent.settings import Settings


def _configure(registry: kopf.OperatorRegistry) -> Any:
    (handler,) = [h for h in registry._activities.get_all_handlers() if str(h.id) == "configure"]
    return handler.fn


def test_kopf_scans_resources_once_and_watches_no_crds() -> None:
    settings = kopf.OperatorSettings()
    assert settings.scanning.disabled is False  # Kopf's default: a watch of every CRD
    _configure(build_registry(Settings()))(settings=settings)
    assert settings.scanning.disabled is True


def test_run_freezes_the_imports_before_the_operator_starts(monkeypatch: Any) -> None:
    frozen: list[int] = []

    async def operate(*_: Any, **__: Any) -> None:
        frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(operator, "check_ports", lambda ports: None)
    monkeypatch.setattr(operator, "check_api", lambda *args: None)
    monkeypatch.setattr(operator, "configure_logging", lambda log_format: None)
    monkeypatch.setattr(operator, "connect", lambda *args: Kube(Connection(server="https://127.0.0.1:6443")))
    monkeypatch.setattr(operator, "operate", operate)
    try:
        operator.run(Settings())
    finally:
        gc.unfreeze()
    assert frozen and frozen[0] > 0


def _state(primed: bool, started: float, priming_max: float = 120.0) -> Any:
    return SimpleNamespace(
        primed_once=primed, started=started, settings=SimpleNamespace(priming_max_seconds=priming_max)
    )


def test_the_collector_comes_on_once_every_cluster_has_reconciled() -> None:
    async def scenario() -> list[bool]:
        state = _state(False, time.monotonic())
        task = asyncio.create_task(operator.collect_when_primed(state, interval=0.01))
        await asyncio.sleep(0.05)
        before = gc.isenabled()
        state.primed_once = True
        await asyncio.wait_for(task, 1)
        return [before, gc.isenabled()]

    gc.disable()
    try:
        assert asyncio.run(scenario()) == [False, True]
    finally:
        gc.enable()


def test_the_collector_comes_on_after_priming_max_seconds_even_unprimed() -> None:
    gc.disable()
    try:
        asyncio.run(asyncio.wait_for(operator.collect_when_primed(_state(False, time.monotonic() - 5, 1.0)), 1))
        assert gc.isenabled()
    finally:
        gc.enable()


def test_the_rule_checking_tools_of_every_clusters_evaluators_are_started_once_primed() -> None:
    warmed: list[frozenset[str]] = []

    async def scenario() -> None:
        state = _state(False, time.monotonic())
        state.rule_checks = SimpleNamespace(warm=lambda types: warmed.append(frozenset(types)))
        state.clusters = {
            "a/one": SimpleNamespace(evaluator_types=frozenset({"prometheus"})),
            "b/two": SimpleNamespace(evaluator_types=frozenset({"prometheus", "vmalert"})),
        }
        task = asyncio.create_task(operator.warm_rule_checks_when_primed(state, interval=0.01))
        await asyncio.sleep(0.05)
        assert warmed == []  # not before every cluster has reconciled: the start waits on nothing more
        state.primed_once = True
        await asyncio.wait_for(task, 1)

    asyncio.run(scenario())
    assert warmed == [frozenset({"prometheus", "vmalert"})]


def test_alertagent_run_leaves_the_collector_on_when_it_returns(capsys: Any) -> None:
    assert cli.main(["run", "--webhook-port", "8443"]) == cli.EXIT_USAGE  # no --webhook-cert: refused
    assert "needs --webhook-cert" in capsys.readouterr().err
    assert gc.isenabled()


def test_the_operators_imports_build_no_validator_of_a_custom_resource() -> None:
    """Built on first use (`api.base.Model`, `defer_build`): a fresh process, as at every start."""
    code = textwrap.dedent(
        """
        import alertagent.cli, alertagent.operator
        from alertagent.api.crd import RESOURCES
        print(sorted(r.__name__ for r in RESOURCES if r.__pydantic_complete__))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_deferred_validator_built_by_many_threads_at_once_validates_each_object() -> None:
    """The first AlertRules of a start are validated in several threads at once (pydantic >= 2.14
    builds a deferred model under a lock): each gets the AlertRule validator, not a half-built one."""
    code = textwrap.dedent(
        """
        from concurrent.futures import ThreadPoolExecutor
        from alertagent.api.alertrule import AlertRule
        body = {"apiVersion": "alertagent.io/v1alpha1", "kind": "AlertRule", "metadata": {"name": "r"},
                "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]}}
        with ThreadPoolExecutor(16) as pool:
            rules = list(pool.map(lambda _: AlertRule.model_validate(body), range(64)))
        print(sum(isinstance(r, AlertRule) and r.spec.groups[0].rules[0].alert == "A" for r in rules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "64"
