"""The rules step's plan: what is written, skipped, carried over, removed and rejected per evaluator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from alertagent.api import AlertmanagerCluster, AlertRule
from alertagent.clients.rulecheck import RuleChecks
from alertagent.common.hashing import content_hash
from alertagent.common.labels import CONTENT_HASH_ANNOTATION
from alertagent.plans.configmaps import plan_config_maps
from alertagent.plans.rules import TENANT_FILES, IndexedRule, RuleCheck, RulesPlan, index_alert_rule, plan_rules
from alertagent.render.evaluators import Version

OWNER = {"name": "main", "namespace": "monitoring", "uid": "uid-1"}


def cluster(*evaluators: dict[str, Any]) -> AlertmanagerCluster:
    return AlertmanagerCluster.model_validate(
        {
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {
                "alertmanager": {"url": "http://am:9093"},
                "ruleEvaluators": list(evaluators)
                or [{"name": "prometheus", "type": "prometheus", "url": "http://prom:9090"}],
            },
        }
    )


def rule(name: str, expr: str = "vector(1)", namespace: str = "team-a", alerts: int = 1) -> IndexedRule:
    rules = [{"alert": f"{name.title()}{i}", "expr": expr} for i in range(alerts)]
    return index_alert_rule(
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertRule",
            "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"groups": [{"name": name, "rules": rules}]},
        }
    )


def deployed_from(plan: RulesPlan) -> dict[str, dict[str, dict[str, Any]]]:
    """The shards as they would be listed after applying `plan` to an empty namespace."""
    return {e.evaluator: {w.body["metadata"]["name"]: w.body for w in e.config_maps.writes} for e in plan.evaluators}


def test_valid_rules_are_written_once_with_hash_labels_and_owner() -> None:
    plan = plan_rules(cluster(), OWNER, [rule("api"), rule("db", alerts=2)], {}, {})
    (evaluator,) = plan.evaluators
    (write,) = evaluator.config_maps.writes
    meta = write.body["metadata"]
    assert (meta["name"], meta["namespace"], write.exists) == ("main-prometheus-rules-0", "monitoring", False)
    assert set(write.body["data"]) == {"team-a_api.yaml", "team-a_db.yaml"}
    assert meta["annotations"][CONTENT_HASH_ANNOTATION] == content_hash(write.body["data"])
    assert meta["labels"]["alertagent.io/evaluator"] == "prometheus"
    assert (
        meta["ownerReferences"][0] | {"uid": "uid-1", "kind": "AlertmanagerCluster", "controller": True}
        == (meta["ownerReferences"][0])
    )
    assert plan.rule_counts == {"prometheus": 3}
    assert plan.changes == 1


def test_an_unchanged_shard_is_not_written_again() -> None:
    rules = [rule("api"), rule("db")]
    first = plan_rules(cluster(), OWNER, rules, {}, {})
    again = plan_rules(cluster(), OWNER, rules, {}, deployed_from(first))
    assert again.changes == 0
    assert again.rule_counts == {"prometheus": 2}


def test_an_invalid_rule_keeps_its_last_good_file_and_a_new_invalid_one_is_left_out() -> None:
    good = plan_rules(cluster(), OWNER, [rule("api"), rule("db")], {}, {})
    broken = [rule("api", expr="sum(("), rule("db"), rule("new", expr="rate(x[5m]")]
    assert not broken[0].valid and not broken[2].valid
    plan = plan_rules(cluster(), OWNER, broken, {}, deployed_from(good))
    assert plan.changes == 0  # api's deployed file carried over unchanged; "new" was never deployed
    assert plan.rule_counts == {"prometheus": 2}  # the carried-over file is counted by parsing it


def test_an_invalid_rule_moved_out_of_the_clusters_selection_takes_its_last_good_file_along() -> None:
    """A tester's find: a rule made invalid, then relabelled so that no cluster selects it, stayed
    loaded (its last good file was carried for every invalid rule, selected or not)."""
    plain = cluster().model_dump(mode="json", by_alias=True, exclude_none=True)
    selectors = {"alertRules": {"labelSelector": {"matchLabels": {"team": "a"}}}}
    selective = AlertmanagerCluster.model_validate({**plain, "spec": {**plain["spec"], "selectors": selectors}})

    def labelled(team: str, expr: str) -> IndexedRule:
        body = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertRule",
            "metadata": {"name": "lg", "namespace": "team-a", "generation": 2, "labels": {"team": team}},
            "spec": {"groups": [{"name": "lg", "rules": [{"alert": "LastGood", "expr": expr}]}]},
        }
        return index_alert_rule(body)

    good = plan_rules(selective, OWNER, [labelled("a", "vector(1) > 2")], {}, {})
    assert good.rule_counts == {"prometheus": 1}
    broken = labelled("a", "rate(x[5m]")
    assert not broken.valid
    kept = plan_rules(selective, OWNER, [broken], {}, deployed_from(good))
    assert kept.changes == 0 and kept.rule_counts == {"prometheus": 1}  # still selected: last good stays
    moved = plan_rules(selective, OWNER, [labelled("c", "rate(x[5m]")], {}, deployed_from(good))
    shards = moved.evaluators[0].config_maps
    assert shards.deletes == ("main-prometheus-rules-0",) and not shards.writes  # its only file is gone
    assert moved.rule_counts == {"prometheus": 0}


def test_a_file_no_longer_selected_is_removed_from_its_shard() -> None:
    first = plan_rules(cluster(), OWNER, [rule("api"), rule("db")], {}, {})
    plan = plan_rules(cluster(), OWNER, [rule("api")], {}, deployed_from(first))
    (write,) = plan.evaluators[0].config_maps.writes
    assert write.exists
    assert write.body["data"]["team-a_db.yaml"] is None  # strategic merge patch: null removes the key
    assert "team-a_api.yaml" in write.body["data"]


def test_surplus_shards_are_deleted_after_the_writes() -> None:
    evaluator = {"name": "p", "type": "prometheus", "url": "http://p", "maxConfigMapBytes": 16384}
    many = [rule(f"r{i}", namespace="monitoring", alerts=150) for i in range(4)]  # two files a shard
    first = plan_rules(cluster(evaluator), OWNER, many, {}, {})
    assert len(first.evaluators[0].config_maps.writes) > 1
    plan = plan_rules(cluster(evaluator), OWNER, many[:1], {}, deployed_from(first))
    shards = plan.evaluators[0].config_maps
    assert shards.deletes and "main-p-rules-0" not in shards.deletes
    assert [w.body["metadata"]["name"] for w in shards.writes] == ["main-p-rules-0"]


def test_a_file_too_large_is_rejected_for_that_evaluator_alone() -> None:
    small = {"name": "small", "type": "vmalert", "url": "http://vm", "maxConfigMapBytes": 16384}
    large = {"name": "large", "type": "prometheus", "url": "http://p"}
    plan = plan_rules(
        cluster(small, large), OWNER, [rule("big", expr="vector(1) > 0 or vector(2)", alerts=400), rule("tiny")], {}, {}
    )
    assert plan.rejected["small"].keys() == {"team-a_big.yaml"}
    assert "over the 16384-byte ConfigMap limit of evaluator small" in plan.rejected["small"]["team-a_big.yaml"]
    assert plan.rejected["large"] == {}
    assert plan.rule_counts == {"small": 1, "large": 401}


def test_operator_mode_evaluators_are_listed_with_their_url() -> None:
    operator = {"name": "p", "type": "prometheus", "url": "http://p:9090/", "reloadMode": "Operator"}
    plan = plan_rules(cluster(operator), OWNER, [], {}, {})
    assert plan.operator_mode == (("p", "http://p:9090"),)


def test_config_map_set_plan_skips_matching_annotations_and_deletes_the_rest() -> None:
    desired = [
        {"metadata": {"name": "a", "annotations": {"h": "1"}}, "data": {"k": "v"}},
        {"metadata": {"name": "b", "annotations": {"h": "2"}}, "data": {"k": "v"}},
    ]
    existing = {
        "a": {"metadata": {"name": "a", "annotations": {"h": "1", "other": "kept"}}, "data": {"k": "v"}},
        "b": {"metadata": {"name": "b", "annotations": {"h": "1"}}, "data": {"k": "v", "old": "x"}},
        "c": {"metadata": {"name": "c"}},
    }
    plan = plan_config_maps("ns", desired, existing)
    assert [(w.body["metadata"]["name"], w.exists, w.body["data"]) for w in plan.writes] == [
        ("b", True, {"k": "v", "old": None})
    ]
    assert plan.deletes == ("c",)


# --- per evaluator: fields its version lacks, its tool's verdict, MetricsQL on vmalert ----------------


def rule_with(
    name: str, group: dict[str, Any] | None = None, fields: dict[str, Any] | None = None, expr: str = "vector(1)"
) -> IndexedRule:
    return index_alert_rule(
        {
            "kind": "AlertRule",
            "metadata": {"name": name, "namespace": "team-a", "generation": 1},
            "spec": {
                "groups": [{"name": name, **(group or {}), "rules": [{"alert": "A", "expr": expr, **(fields or {})}]}]
            },
        }
    )


PROM_NEW = {"name": "prom-new", "type": "prometheus", "url": "http://p1:9090", "version": "2.53.0"}
PROM_OLD = {"name": "prom-old", "type": "prometheus", "url": "http://p2:9090"}
VM = {"name": "vm", "type": "vmalert", "url": "http://vm:8880"}
PROBED = {"prom-old": "2.42.0+ds", "vm": "v1.79.5"}


def files_of(plan: RulesPlan, evaluator: str) -> dict[str, str]:
    (e,) = [e for e in plan.evaluators if e.evaluator == evaluator]
    return {k: v for w in e.config_maps.writes for k, v in w.body["data"].items() if v is not None}


@pytest.mark.parametrize(
    ("group", "fields", "refused_by"),
    [
        ({"query_offset": "1m"}, {}, {"prom-old": "Prometheus 2.42.0", "vm": "vmalert 1.79.5"}),
        ({}, {"keep_firing_for": "5m"}, {"vm": "vmalert 1.79.5"}),
        ({"limit": 5}, {}, {}),
    ],
    ids=["query_offset", "keep_firing_for", "limit"],
)
def test_a_field_an_evaluator_lacks_rejects_the_file_there_alone(
    group: dict[str, Any], fields: dict[str, Any], refused_by: dict[str, str]
) -> None:
    plan = plan_rules(
        cluster(PROM_NEW, PROM_OLD, VM), OWNER, [rule_with("x", group, fields), rule("ok")], {}, {}, PROBED
    )
    for evaluator in ("prom-new", "prom-old", "vm"):
        assert "team-a_ok.yaml" in files_of(plan, evaluator)  # the other team's rule goes everywhere
        if evaluator in refused_by:
            assert "team-a_x.yaml" not in files_of(plan, evaluator)
            (message,) = plan.rejected[evaluator].values()
            field = next(iter({**group, **fields}))
            assert f"{refused_by[evaluator]} has no {field}" in message and message.startswith("spec.groups[0].")
        else:
            assert "team-a_x.yaml" in files_of(plan, evaluator)
            assert plan.rejected[evaluator] == {}


def test_an_evaluator_version_unknown_is_taken_as_the_newest_and_the_override_wins() -> None:
    x = rule_with("x", fields={"keep_firing_for": "5m"})
    pinned = {**VM, "version": "1.79.5"}
    assert plan_rules(cluster(VM), OWNER, [x], {}, {}).rejected == {"vm": {}}  # newest vmalert has it
    assert plan_rules(cluster(pinned), OWNER, [x], {}, {}, {"vm": "v1.110.0"}).rejected["vm"].keys() == {
        "team-a_x.yaml"
    }


def test_a_live_rule_an_evaluator_cannot_load_keeps_its_last_good_file_there() -> None:
    first = plan_rules(cluster(PROM_NEW, VM), OWNER, [rule("x"), rule("ok")], {}, {}, PROBED)
    edited = [rule_with("x", {"query_offset": "1m"}), rule("ok")]
    plan = plan_rules(cluster(PROM_NEW, VM), OWNER, edited, {}, deployed_from(first), PROBED)
    vm, prom = plan.evaluators[1], plan.evaluators[0]
    assert vm.config_maps.changes == 0  # vmalert keeps the last good file: nothing to write
    assert vm.rejected["team-a_x.yaml"].endswith("; the last good version stays loaded")
    assert "query_offset: 1m" in files_of(plan, "prom-new")["team-a_x.yaml"]  # Prometheus 2.53 gets the edit
    assert prom.rejected == {}
    assert plan.rule_counts == {"prom-new": 2, "vm": 2}


def fake_check(refuse: dict[str, str], calls: list[tuple[str, list[str]]] | None = None) -> RuleCheck:
    """A tool refusing every file whose text contains a key of `refuse`, with its message."""

    def check(kind: str, version: Version | None, files: Mapping[str, str]) -> dict[str, str]:
        if calls is not None:
            calls.append((kind, sorted(files)))
        return {n: m for n, text in files.items() for needle, m in refuse.items() if needle in text}

    return check


def test_a_file_the_tool_refuses_is_left_out_alone_with_its_message() -> None:
    bad = rule("bad", expr="vector(2)")
    plan = plan_rules(cluster(PROM_NEW), OWNER, [bad, rule("ok")], {}, {}, check=fake_check({"vector(2)": "boom"}))
    assert set(files_of(plan, "prom-new")) == {"team-a_ok.yaml"}
    assert plan.rejected == {"prom-new": {"team-a_bad.yaml": "promtool check rules: boom"}}


def test_a_live_file_the_tool_refuses_now_keeps_its_last_good_version() -> None:
    first = plan_rules(cluster(PROM_NEW), OWNER, [rule("x"), rule("ok")], {}, {})
    check = fake_check({"vector(2)": "boom"})
    plan = plan_rules(
        cluster(PROM_NEW), OWNER, [rule("x", expr="vector(2)"), rule("ok")], {}, deployed_from(first), check=check
    )
    assert plan.changes == 0
    assert (
        plan.rejected["prom-new"]["team-a_x.yaml"] == "promtool check rules: boom; the last good version stays loaded"
    )


def test_metricsql_goes_to_vmalert_evaluators_whose_dry_run_accepts_it_and_nowhere_else() -> None:
    mql = rule("mql", expr="rate(http_requests_total)")  # valid MetricsQL, refused by promql-parser
    assert not mql.valid and mql.metricsql_candidate
    everything = [mql, rule("ok")]

    def promtool_refuses(kind: str, version: Version | None, files: Mapping[str, str]) -> dict[str, str]:
        refuse = {"rate(http": "range vector expected"} if kind == "prometheus" else {}
        return dict(fake_check(refuse)(kind, version, files) or {})

    plan = plan_rules(cluster(PROM_NEW, VM), OWNER, everything, {}, {}, check=promtool_refuses)
    assert "team-a_mql.yaml" in files_of(plan, "vm") and "team-a_mql.yaml" not in files_of(plan, "prom-new")
    assert plan.rule_counts == {"prom-new": 1, "vm": 2} and plan.rejected["vm"] == {}
    # promtool refuses it, and says so on that target alone (the AlertRule's status lists both).
    assert plan.rejected["prom-new"] == {"team-a_mql.yaml": "promtool check rules: range vector expected"}
    # What promql-parser alone refuses, the target's own tool may accept (a function of that release, a
    # regex Go reads differently): then it is loaded there too.
    accepted = plan_rules(cluster(PROM_NEW), OWNER, everything, {}, {}, check=fake_check({}))
    assert "team-a_mql.yaml" in files_of(accepted, "prom-new") and accepted.rejected["prom-new"] == {}

    refused = plan_rules(cluster(VM), OWNER, everything, {}, {}, check=fake_check({"rate(http": "bad expr"}))
    assert refused.rejected["vm"] == {"team-a_mql.yaml": "vmalert -dryRun: bad expr"}

    def no_tool(kind: str, version: Version | None, files: Mapping[str, str]) -> None:
        return None

    for check in (None, no_tool):  # nothing to confirm it: the promql-parser verdict stands
        unconfirmed = plan_rules(cluster(VM), OWNER, everything, {}, {}, check=check)
        assert set(files_of(unconfirmed, "vm")) == {"team-a_ok.yaml"}
        assert "(vmalert -dryRun is not available to confirm it)" in unconfirmed.rejected["vm"]["team-a_mql.yaml"]


def test_the_dialect_hook_rejects_for_vmalert_alone() -> None:
    def templates(rule: AlertRule, dialect: str) -> list[str]:
        return [f"spec.groups[0].rules[0].annotations.summary: {dialect} has no such function"] * (dialect == "vmalert")

    body = {"kind": "AlertRule", "metadata": {"name": "t", "namespace": "team-a"}}
    body["spec"] = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up"}]}]}
    entry = index_alert_rule(body, dialect_check=templates)
    plan = plan_rules(cluster(PROM_NEW, VM), OWNER, [entry], {}, {})
    assert plan.rejected == {
        "prom-new": {},
        "vm": {"team-a_t.yaml": "spec.groups[0].rules[0].annotations.summary: vmalert has no such function"},
    }


def test_a_second_plan_with_the_same_files_runs_no_tool() -> None:
    runs: list[Mapping[str, str]] = []

    def tool(files: Mapping[str, str]) -> str | None:
        runs.append(files)
        return None

    checks = RuleChecks(runners={"prometheus": tool, "vmalert": tool})
    rules = [rule(f"r{i}") for i in range(20)]
    first = plan_rules(cluster(PROM_NEW, VM), OWNER, rules, {}, {}, check=checks)
    assert len(runs) == 2  # one run per evaluator type over all its files
    again = plan_rules(cluster(PROM_NEW, VM), OWNER, rules, {}, deployed_from(first), check=checks)
    assert len(runs) == 2 and again.changes == 0
    rules[3] = rule("r3", expr="vector(3)")
    plan_rules(cluster(PROM_NEW, VM), OWNER, rules, {}, deployed_from(first), check=checks)
    assert [sorted(r) for r in runs[2:]] == [["team-a_r3.yaml"], ["team-a_r3.yaml"]]  # only the changed file


# --- tenancy: the enforced tenant label, selector scoping and the limits (issue 12 items 1 and 7) -------


def tenant_cluster(**tenancy: Any) -> AlertmanagerCluster:
    manifest = cluster().to_wire()
    manifest["spec"]["tenancy"] = tenancy
    return AlertmanagerCluster.model_validate(manifest)


def tenant_rule(
    name: str,
    namespace: str = "team-a",
    created: str = "2025-01-01T00:00:00Z",
    alerts: int = 1,
    labels: dict[str, str] | None = None,
    expr: str = "vector(1) > 0",
    padding: int = 0,
) -> IndexedRule:
    """An AlertRule created at `created` with `alerts` rules, each with `padding` characters of annotation."""
    rules = [
        {"alert": f"{name.title()}{i}", "expr": expr, "labels": labels or {}, "annotations": {"runbook": "x" * padding}}
        for i in range(alerts)
    ]
    return index_alert_rule(
        {
            "kind": "AlertRule",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
            "spec": {"groups": [{"name": name, "rules": rules}]},
        }
    )


def labels_in(plan: RulesPlan, file_name: str) -> list[dict[str, str]]:
    return [
        r.get("labels", {})
        for g in yaml.safe_load(files_of(plan, "prometheus")[file_name])["groups"]
        for r in g["rules"]
    ]


def test_a_tenants_rule_carries_its_own_namespace_even_when_it_claims_another() -> None:
    claim = {"namespace": "team-b", "severity": "critical"}
    rules = [tenant_rule("claims-b", labels=claim), tenant_rule("platform", namespace="monitoring", labels=claim)]
    plan = plan_rules(cluster(), OWNER, rules, {}, {})
    assert labels_in(plan, "team-a_claims-b.yaml") == [
        {"namespace": "team-a", "severity": "critical", "alertagent_test_channel": ""}
    ]
    assert labels_in(plan, "monitoring_platform.yaml") == [claim]  # the cluster's namespace is exempt
    none = AlertmanagerCluster.model_validate(
        {**cluster().to_wire(), "spec": {**cluster().to_wire()["spec"], "namespaceIsolation": "None"}}
    )
    assert labels_in(plan_rules(none, OWNER, rules, {}, {}), "team-a_claims-b.yaml") == [claim]


def test_exempt_namespaces_keep_their_own_labels() -> None:
    claim = {"namespace": "everywhere"}
    rules = [tenant_rule("a", labels=claim), tenant_rule("m", namespace="monitoring", labels=claim)]
    plan = plan_rules(tenant_cluster(exemptNamespaces=["team-a"]), OWNER, rules, {}, {})
    assert labels_in(plan, "team-a_a.yaml") == [claim]
    assert labels_in(plan, "monitoring_m.yaml") == [{"namespace": "monitoring", "alertagent_test_channel": ""}]


def test_a_tenant_file_is_rendered_once_per_content_and_tenant_not_per_reconcile() -> None:
    entry = tenant_rule("once", alerts=3, expr="vector(12345) > 0")  # content no other test renders
    before = TENANT_FILES.renders
    first = plan_rules(cluster(), OWNER, [entry], {}, {})
    plan_rules(cluster(), OWNER, [entry], {}, deployed_from(first))
    again = tenant_rule("once", alerts=3, expr="vector(12345) > 0")  # indexed again (a status write)
    plan_rules(cluster(), OWNER, [again], {}, deployed_from(first))
    assert TENANT_FILES.renders - before == 1
    plan_rules(cluster(), OWNER, [tenant_rule("once", namespace="team-b", alerts=3, expr="vector(12345) > 0")], {}, {})
    assert TENANT_FILES.renders - before == 2  # another tenant: its own file
    assert files_of(first, "prometheus")["team-a_once.yaml"] in entry.rendered_files  # what a sidecar reports


def test_scoped_selectors_reach_the_file_and_an_unscopable_one_is_rejected_alone() -> None:
    scoped = tenant_cluster(scopeSelectors=True)
    ok = tenant_rule("ok", expr='up{namespace="team-b"} == 0')
    plan = plan_rules(scoped, OWNER, [ok, tenant_rule("x")], {}, {})
    assert 'expr: up{namespace="team-a"} == 0' in files_of(plan, "prometheus")["team-a_ok.yaml"]
    bad = tenant_rule("x", expr='up{job="a" or job="b"} == 0')
    again = plan_rules(scoped, OWNER, [ok, bad], {}, deployed_from(plan))
    why = again.rejected["prometheus"]["team-a_x.yaml"]
    assert why.startswith("spec.tenancy.scopeSelectors of cluster monitoring/main: spec.groups[0].rules[0].expr: ")
    assert why.endswith("; the last good version stays loaded") and again.changes == 0
    assert plan_rules(scoped, OWNER, [ok, bad], {}, {}).rejected["prometheus"].keys() == {"team-a_x.yaml"}


def test_an_alert_rule_over_the_per_object_limits_is_refused_alone() -> None:
    limited = tenant_cluster(limits={"rulesPerAlertRule": 5, "bytesPerRuleFile": 4096})
    rules = [tenant_rule("many", alerts=6), tenant_rule("big", padding=5000), tenant_rule("fine", alerts=5)]
    plan = plan_rules(limited, OWNER, rules, {}, {})
    assert set(files_of(plan, "prometheus")) == {"team-a_fine.yaml"}
    rejected = plan.rejected["prometheus"]
    assert rejected["team-a_many.yaml"] == (
        "6 rules, over the limit of 5 rules per AlertRule of cluster monitoring/main "
        "(spec.tenancy.limits.rulesPerAlertRule)"
    )
    assert rejected["team-a_big.yaml"].startswith("rule file is ")
    assert rejected["team-a_big.yaml"].endswith(
        " bytes, over the limit of 4096 bytes per rule file of cluster monitoring/main "
        "(spec.tenancy.limits.bytesPerRuleFile)"
    )
    assert plan.rule_counts == {"prometheus": 5}


def test_the_defaults_refuse_an_alert_rule_of_a_thousand_rules() -> None:
    plan = plan_rules(cluster(), OWNER, [tenant_rule("flood", alerts=1000), tenant_rule("ok")], {}, {})
    assert set(files_of(plan, "prometheus")) == {"team-a_ok.yaml"}
    assert "rulesPerAlertRule" in plan.rejected["prometheus"]["team-a_flood.yaml"]


def test_a_namespace_is_filled_oldest_first_and_other_namespaces_are_unaffected() -> None:
    limited = tenant_cluster(limits={"rulesPerNamespace": 10})
    rules = [
        tenant_rule("c-third", created="2025-01-03T00:00:00Z", alerts=4),
        tenant_rule("a-first", created="2025-01-01T00:00:00Z", alerts=4),
        tenant_rule("z-second", created="2025-01-02T00:00:00Z", alerts=4),
        tenant_rule("other", namespace="team-b", created="2025-01-04T00:00:00Z", alerts=10),
    ]
    plan = plan_rules(limited, OWNER, rules, {}, {})
    assert set(files_of(plan, "prometheus")) == {"team-a_a-first.yaml", "team-a_z-second.yaml", "team-b_other.yaml"}
    assert plan.rejected["prometheus"] == {
        "team-a_c-third.yaml": "namespace team-a is at the limit of 10 rules per namespace of cluster monitoring/main "
        "(spec.tenancy.limits.rulesPerNamespace): room for 2 more rules, this AlertRule has 4 (older AlertRules, "
        "and those already loaded, keep their room)"
    }
    assert plan == plan_rules(limited, OWNER, list(reversed(rules)), {}, {})  # whatever the order they come in


def test_a_newcomer_never_evicts_a_live_alert_rule_even_an_older_one() -> None:
    limited = tenant_cluster(limits={"rulesPerNamespace": 10})
    live = [
        tenant_rule("b", created="2025-01-02T00:00:00Z", alerts=4),
        tenant_rule("c", created="2025-01-03T00:00:00Z", alerts=4),
    ]
    first = plan_rules(limited, OWNER, live, {}, {})
    restored = tenant_rule("a", created="2025-01-01T00:00:00Z", alerts=4)  # older, but new to the cluster
    plan = plan_rules(limited, OWNER, [restored, *live], {}, deployed_from(first))
    assert plan.changes == 0 and plan.rejected["prometheus"].keys() == {"team-a_a.yaml"}
    # Growth of a live AlertRule never takes the room of a live one after it: it keeps its last good file.
    grown = tenant_rule("b", created="2025-01-02T00:00:00Z", alerts=7)
    plan = plan_rules(limited, OWNER, [grown, live[1]], {}, deployed_from(first))
    assert plan.changes == 0
    assert plan.rejected["prometheus"]["team-a_b.yaml"].endswith("; the last good version stays loaded")
    # Once the room is there (c deleted), the edit goes through.
    plan = plan_rules(limited, OWNER, [grown], {}, deployed_from(first))
    assert plan.rejected["prometheus"] == {} and plan.rule_counts == {"prometheus": 7}


def test_a_refused_live_file_keeps_its_last_good_version_only_if_that_fits_the_limits() -> None:
    live = [
        tenant_rule("a", created="2025-01-01T00:00:00Z", alerts=4),
        tenant_rule("b", created="2025-01-02T00:00:00Z", alerts=4),
    ]
    first = plan_rules(cluster(), OWNER, live, {}, {})
    lowered = tenant_cluster(limits={"rulesPerNamespace": 5})  # limits lowered below what is live
    plan = plan_rules(lowered, OWNER, live, {}, deployed_from(first))
    written = plan.evaluators[0].config_maps.writes[0].body["data"]
    assert written["team-a_b.yaml"] is None and "team-a_a.yaml" in written  # the newest one goes
    assert "rulesPerNamespace" in plan.rejected["prometheus"]["team-a_b.yaml"]
    assert not plan.rejected["prometheus"]["team-a_b.yaml"].endswith("stays loaded")
    invalid = tenant_rule("a", created="2025-01-01T00:00:00Z", alerts=4, expr="sum((")  # last good: 4 rules
    per_object = tenant_cluster(limits={"rulesPerAlertRule": 3})
    plan = plan_rules(per_object, OWNER, [invalid], {}, deployed_from(first))
    assert plan.rule_counts == {"prometheus": 0}  # its last good file is over the limit too: not carried
    assert "rulesPerAlertRule" in plan.rejected["prometheus"]["team-a_a.yaml"]


def test_zero_means_no_limit() -> None:
    unlimited = tenant_cluster(
        limits={"rulesPerAlertRule": 0, "bytesPerRuleFile": 0, "rulesPerNamespace": 0, "bytesPerNamespace": 0}
    )
    plan = plan_rules(unlimited, OWNER, [tenant_rule("flood", alerts=1000)], {}, {})
    assert plan.rejected["prometheus"] == {} and plan.rule_counts == {"prometheus": 1000}


def test_files_over_the_limits_never_reach_the_tool() -> None:
    calls: list[tuple[str, list[str]]] = []
    limited = tenant_cluster(limits={"rulesPerNamespace": 4})
    rules = [tenant_rule("ok", alerts=4), tenant_rule("flood", created="2025-02-01T00:00:00Z", alerts=4)]
    plan = plan_rules(limited, OWNER, rules, {}, {}, check=fake_check({}, calls))
    assert calls == [("prometheus", ["team-a_ok.yaml"])]
    assert plan.rejected["prometheus"].keys() == {"team-a_flood.yaml"}


def test_files_already_deployed_as_they_are_are_not_checked_again_after_a_restart() -> None:
    rules = [rule(f"r{i}") for i in range(5)]
    deployed = deployed_from(plan_rules(cluster(PROM_NEW), OWNER, rules, {}, {}))
    calls: list[tuple[str, list[str]]] = []
    fresh = plan_rules(cluster(PROM_NEW), OWNER, rules, {}, deployed, check=fake_check({}, calls))  # a new process
    assert calls == [] and fresh.changes == 0  # every file is live as it is: no tool runs at all
    rules[2] = rule("r2", expr="vector(2)")
    plan_rules(cluster(PROM_NEW), OWNER, rules, {}, deployed, check=fake_check({}, calls))
    assert calls == [("prometheus", ["team-a_r2.yaml"])]  # the changed file alone
