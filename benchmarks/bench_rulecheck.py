"""The rules safety net on 10,000 rules in 500 AlertRules: the per-evaluator field checks in the plan,
and the real promtool / vmalert dry run isolating one bad file among 500 (cold), then a plan with
nothing changed (warm: no tool run) and one with one file changed.

.venv/bin/python -m benchmarks.bench_rulecheck
"""

from __future__ import annotations

import shutil
import statistics
import time
from typing import Any

from alertagent.api import AlertmanagerCluster
from alertagent.clients.rulecheck import RuleChecks
from alertagent.plans.rules import IndexedRule, RulesPlan, index_alert_rule, plan_rules
from benchmarks.bench_render import manifests

OWNER = {"name": "main", "namespace": "monitoring", "uid": "u"}


def cluster(evaluator_type: str) -> AlertmanagerCluster:
    return AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {
                "alertmanager": {"url": "http://am:9093"},
                "ruleEvaluators": [{"name": "e", "type": evaluator_type, "url": "http://e:9090"}],
            },
        }
    )


def deployed(plan: RulesPlan) -> dict[str, dict[str, dict[str, Any]]]:
    return {e.evaluator: {w.body["metadata"]["name"]: w.body for w in e.config_maps.writes} for e in plan.evaluators}


def with_bad(docs: list[dict[str, Any]], index: int, evaluator_type: str) -> list[IndexedRule]:
    """The AlertRules, the one at `index` with a field the installed tool refuses but the newest
    release has (the evaluator's version is left unknown, so the field table lets it through and the
    tool must catch it): query_offset for promtool 2.42, keep_firing_for for vmalert 1.79."""
    group = docs[index]["spec"]["groups"][0]
    if evaluator_type == "prometheus":
        group = {**group, "query_offset": "1m"}
    else:
        group = {**group, "rules": [{**group["rules"][0], "keep_firing_for": "5m"}, *group["rules"][1:]]}
    bad = {**docs[index], "spec": {"groups": [group]}}
    return [index_alert_rule(bad if i == index else d) for i, d in enumerate(docs)]


def main() -> None:
    docs = manifests()
    start = time.perf_counter()
    rules = [index_alert_rule(d) for d in docs]
    print(f"index 500 AlertRules (parse, validate, render, fields used): {time.perf_counter() - start:.3f} s")

    timings = []
    for _ in range(5):
        start = time.perf_counter()
        plan_rules(cluster("vmalert"), OWNER, rules, {}, {}, {"e": "v1.79.5"})
        timings.append(time.perf_counter() - start)
    print(f"plan (field checks per evaluator, no tool), 10,000 rules: median {statistics.median(timings):.3f} s")

    for evaluator_type, tool in (("prometheus", "promtool"), ("vmalert", "vmalert")):
        if shutil.which(tool) is None:
            print(f"{tool}: not installed, skipped")
            continue
        checks = RuleChecks()
        target = cluster(evaluator_type)
        bad = with_bad(docs, 137, evaluator_type)
        start = time.perf_counter()
        first = plan_rules(target, OWNER, bad, {}, {}, check=checks)
        cold = time.perf_counter() - start
        (rejected,) = first.rejected.values()
        assert list(rejected) == ["ns13_svc7.yaml"], rejected
        runs = checks.runs
        start = time.perf_counter()
        plan_rules(target, OWNER, bad, {}, deployed(first), check=checks)
        warm = time.perf_counter() - start
        assert checks.runs == runs
        changed = list(bad)
        changed[3] = index_alert_rule({**docs[3], "metadata": {**docs[3]["metadata"], "labels": {"x": "y"}}})
        changed[4] = index_alert_rule(
            {**docs[4], "spec": {"groups": [{**docs[4]["spec"]["groups"][0], "interval": "2m"}]}}
        )
        start = time.perf_counter()
        plan_rules(target, OWNER, changed, {}, deployed(first), check=checks)
        one = time.perf_counter() - start
        print(
            f"{tool}: 500 files with 1 bad, cold: {cold:.2f} s ({runs} tool runs, culprit {next(iter(rejected))}); "
            f"nothing changed: {warm:.3f} s (0 runs); 1 file changed: {one:.3f} s ({checks.runs - runs} run)"
        )
        print(f"  message: {next(iter(rejected.values()))[:160]}")


if __name__ == "__main__":
    main()
