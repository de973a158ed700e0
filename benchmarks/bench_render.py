"""Render + shard time and peak memory for 10,000 rules in 500 AlertRules across 50 namespaces: every
rule file rendered, then the operator's own rules plan (`plans.rules.plan_rules`) packing them into
ConfigMap shards, as one reconcile of an empty cluster does.

.venv/bin/python -m benchmarks.bench_render
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

from alertagent.api import AlertmanagerCluster, AlertRule
from alertagent.common.identity import ObjectRef
from alertagent.plans.rules import IndexedRule, RulesPlan, plan_rules
from alertagent.render.rules import render_rule_file
from alertagent.render.validation import parse_alert_rule

NAMESPACES, RULES_PER_NAMESPACE, RULES_PER_OBJECT = 50, 10, 20


def manifests() -> list[dict]:
    objects = []
    for n in range(NAMESPACES):
        for r in range(RULES_PER_NAMESPACE):
            rules = [
                {
                    "alert": f"HighErrorRate{i}",
                    "for": "5m",
                    "expr": f'sum(rate(http_requests_total{{job="svc{r}",code=~"5.."}}[5m])) '
                    f'/ sum(rate(http_requests_total{{job="svc{r}"}}[5m])) > 0.0{i % 9 + 1}',
                    "labels": {"severity": "critical", "team": f"team{n}"},
                    "annotations": {"summary": "{{ $labels.job }} error rate {{ $value | humanizePercentage }}"},
                }
                for i in range(RULES_PER_OBJECT)
            ]
            objects.append(
                {
                    "apiVersion": "alertagent.io/v1alpha1",
                    "kind": "AlertRule",
                    "metadata": {"name": f"svc{r}", "namespace": f"ns{n}"},
                    "spec": {"groups": [{"name": f"svc{r}.rules", "rules": rules}]},
                }
            )
    return objects


def main() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {
                "alertmanager": {"url": "http://am:9093"},
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": "http://p:9090"}],
            },
        }
    )
    docs = manifests()
    start = time.perf_counter()
    parsed = [parse_alert_rule(d) for d in docs]
    validate_seconds = time.perf_counter() - start
    assert all(not issues for _, issues in parsed)
    rules: list[AlertRule] = [r for r, _ in parsed if r is not None]

    owner = {"name": "main", "namespace": "monitoring", "uid": "bench"}

    def render_and_shard() -> RulesPlan:
        entries = [IndexedRule(ObjectRef.of(r), r, (), render_rule_file(r)) for r in rules]
        return plan_rules(cluster, owner, entries, {}, {})

    timings = []
    for _ in range(5):
        start = time.perf_counter()
        render_and_shard()
        timings.append(time.perf_counter() - start)
    tracemalloc.start()
    [evaluator] = render_and_shard().evaluators
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    total_rules = sum(len(g.rules) for r in rules for g in r.spec.groups)
    shards = [w.body["data"] for w in evaluator.config_maps.writes]
    data = sum(len(k.encode()) + len(v.encode()) for shard in shards for k, v in shard.items())
    print(f"objects: {len(rules)} AlertRules in {NAMESPACES} namespaces, {total_rules} rules")
    print(f"parse + validate (pydantic + promql-parser + templates): {validate_seconds:.3f} s")
    print(f"render + shard: median {statistics.median(timings):.3f} s, min {min(timings):.3f} s (5 runs)")
    print(f"peak memory of one render + shard (tracemalloc): {peak / 2**20:.1f} MiB")
    print(f"output: {len(shards)} ConfigMaps, {data / 2**20:.2f} MiB of rule files")


if __name__ == "__main__":
    main()
