"""Checking rule files ahead while a burst of changes holds the rules step back
(`reconcile.steps.check_rules_ahead`, driven by `WorkQueue.get`'s `prepare`): the files the burst
brought are checked in parts as they come, so the step after the burst runs the tool only over the
files changed since; nothing is written ahead, and the verdicts the step acts on are the tool's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from alertagent.clients.rulecheck import RuleChecks
from alertagent.handlers.alertrules import index
from alertagent.handlers.clusters import _rules_checked_ahead
from alertagent.plans.configmaps import ConfigMapPlan
from alertagent.reconcile.queue import Backoff, WorkQueue
from alertagent.reconcile.state import OperatorState
from alertagent.reconcile.steps import ClusterInputs, check_rules_ahead, rules_step
from alertagent.settings import Settings

KEY = "monitoring/main"
CLUSTER = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "AlertmanagerCluster",
    "metadata": {"name": "main", "namespace": "monitoring", "uid": "c1", "generation": 1},
    "spec": {
        "alertmanager": {"url": "http://am:9093"},
        "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": "http://prom:9090"}],
    },
}


class ConfigMaps:
    """The ConfigMaps the steps list and write, in memory (the unit under test is the planning)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def list_config_maps(self, namespace: str, labels: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        return {name: body for name, body in self.data.items() if labels.items() <= body["metadata"]["labels"].items()}

    def apply_config_maps(self, plan: ConfigMapPlan) -> int:
        for write in plan.writes:
            self.data[write.body["metadata"]["name"]] = write.body
        for name in plan.deletes:
            del self.data[name]
        self.writes += plan.changes
        return plan.changes


class Tool:
    """promtool's verdicts as a runner: refuses files whose text contains `bad`; records each run."""

    def __init__(self) -> None:
        self.runs: list[set[str]] = []

    def __call__(self, files: Mapping[str, str]) -> str | None:
        self.runs.append(set(files))
        bad = sorted(name for name, text in files.items() if "bad" in text)
        return f"{', '.join(bad)}: refused" if bad else None


def alert_rule(i: int, expr: str = "up == 0") -> dict[str, Any]:
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertRule",
        "metadata": {"name": f"r{i}", "namespace": "monitoring", "uid": f"u{i}", "generation": 1},
        "spec": {"groups": [{"name": f"g{i}", "rules": [{"alert": f"A{i}", "expr": expr}]}]},
    }


def setup() -> tuple[OperatorState, ConfigMaps, Tool]:
    config_maps, tool = ConfigMaps(), Tool()
    state = OperatorState(settings=Settings(), kube=config_maps, queue=WorkQueue(1.0, 30.0, Backoff()), api=None)  # type: ignore[arg-type]
    state.rule_checks = RuleChecks(runners={"prometheus": tool})
    return state, config_maps, tool


def inputs(state: OperatorState, since: int = 0) -> ClusterInputs:
    return ClusterInputs(
        key=KEY,
        body=CLUSTER,
        rules=state.rule_entries(since),
        channels=(),
        policies=(),
        namespace_labels={},
        graph=None,
        rules_seq=state.rule_seq,
    )


def ahead(state: OperatorState) -> None:
    check_rules_ahead(state, inputs(state, state.cluster(KEY).rules_checked_seq))


def files_of(state: OperatorState, *numbers: int) -> set[str]:
    by_name = {entry.ref.name: entry.file_name for entry in state.rule_entries()}
    return {by_name[f"r{i}"] for i in numbers}


def test_a_burst_is_checked_in_parts_as_it_comes_and_the_step_after_it_checks_only_the_rest() -> None:
    state, config_maps, tool = setup()
    for i in range(2):
        index(state, alert_rule(i))
    assert rules_step(state, inputs(state)).result.writes == 1
    assert tool.runs == [files_of(state, 0, 1)]
    assert state.cluster(KEY).evaluator_types == {"prometheus"}  # their tools are started once primed

    for i in range(2, 8):  # the burst's first part
        index(state, alert_rule(i))
    ahead(state)
    assert tool.runs[-1] == files_of(state, *range(2, 8))
    ahead(state)  # nothing new since: no run
    assert len(tool.runs) == 2
    for i in range(8, 10):  # the rest of the burst
        index(state, alert_rule(i))
    ahead(state)
    assert tool.runs[-1] == files_of(state, 8, 9)
    index(state, alert_rule(10))  # after the last check ahead

    assert config_maps.writes == 1  # nothing is written ahead
    outcome = rules_step(state, inputs(state))
    assert tool.runs[-1] == files_of(state, 10)  # the step ran the tool over that one file only
    assert outcome.result.writes == 1
    (shard,) = config_maps.data.values()
    assert set(shard["data"]) == files_of(state, *range(11))


def test_a_file_refused_ahead_is_left_out_by_the_step_with_the_tools_message() -> None:
    state, config_maps, tool = setup()
    index(state, alert_rule(0))
    rules_step(state, inputs(state))
    index(state, alert_rule(1, expr='up{job="bad"} == 0'))
    index(state, alert_rule(2))
    ahead(state)
    runs = len(tool.runs)
    assert runs >= 2 and files_of(state, 1, 2) <= set().union(*tool.runs[1:])  # refused: isolated

    rules_step(state, inputs(state))
    assert len(tool.runs) == runs  # every verdict was known
    (shard,) = config_maps.data.values()
    assert set(shard["data"]) == files_of(state, 0, 2)
    (bad,) = files_of(state, 1)
    assert "refused" in (state.rejections.of(bad)[0].message or "")


def test_nothing_is_checked_ahead_before_the_clusters_first_rules_step() -> None:
    state, config_maps, tool = setup()
    index(state, alert_rule(0))
    ahead(state)
    assert tool.runs == [] and config_maps.writes == 0
    assert state.cluster(KEY).rules_checked_seq == 0  # so a check ahead after the step still takes it


def test_a_check_ahead_that_fails_is_logged_and_leaves_the_files_to_the_step(caplog: pytest.LogCaptureFixture) -> None:
    """The reconciler awaits the check inside `WorkQueue.get`: an error there must not end it."""
    state, config_maps, tool = setup()
    index(state, alert_rule(0))
    rules_step(state, inputs(state))

    def broken(files: Mapping[str, str]) -> str | None:
        raise RuntimeError("promtool exploded")

    state.rule_checks = RuleChecks(runners={"prometheus": broken})
    index(state, alert_rule(1))
    prepare = _rules_checked_ahead(state, KEY, lambda _steps, since: inputs(state, since))
    with caplog.at_level(logging.WARNING):
        asyncio.run(prepare(frozenset({"rules", "status"})))
    assert "checking rule files ahead failed (the rules step checks them): promtool exploded" in caplog.text
    assert state.cluster(KEY).rules_checked_seq == 1  # rule 1 still to be checked by the step

    state.rule_checks = RuleChecks(runners={"prometheus": tool})
    rules_step(state, inputs(state))
    assert tool.runs[-1] == files_of(state, 1)  # rule 0's file is deployed unchanged: not checked again
    (shard,) = config_maps.data.values()
    assert set(shard["data"]) == files_of(state, 0, 1)
