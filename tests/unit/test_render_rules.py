"""Rule rendering, sharding, selection and validation (pure), with golden files for rendered output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from alertagent.api import AlertmanagerCluster, AlertRule
from alertagent.api.common import LabelSelector
from alertagent.cli import main
from alertagent.clients.rulecheck import RuleChecks
from alertagent.common.hashing import content_hash
from alertagent.manifests import ManifestError, load_manifests
from alertagent.render.rules import pack, render_cluster_rules, render_rule_file
from alertagent.render.selection import matches
from alertagent.render.validation import describe, parse_alert_rule

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "render"
GOLDEN = Path(__file__).resolve().parent / "golden" / "rules"

BAD_LABEL_NAME = '"bad-name" is not a label name: letters, digits and "_", not beginning with a digit'


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.read_text() == text, f"{name} differs from the golden file (UPDATE_GOLDEN=1 to accept)"


def _objects() -> list[dict]:
    return load_manifests([FIXTURES / "clusters.yaml", FIXTURES / "rules.yaml"])


def _by_name(kind: str) -> dict:
    return {o["metadata"]["name"]: o for o in _objects() if o["kind"] == kind}


def test_rule_file_golden_keeps_spec_order_and_sorts_keys() -> None:
    rule = AlertRule.model_validate(_by_name("AlertRule")["checkout"])
    text = render_rule_file(rule)
    _golden("payments-checkout.yaml", text)
    assert text.index("CheckoutLatencyHigh") < text.index("payments:checkout_errors:rate5m")


def test_render_is_deterministic() -> None:
    rule = AlertRule.model_validate(_by_name("AlertRule")["checkout"])
    assert render_rule_file(rule) == render_rule_file(AlertRule.model_validate(rule.to_wire()))


def test_cluster_selection() -> None:
    clusters = {n: AlertmanagerCluster.model_validate(o) for n, o in _by_name("AlertmanagerCluster").items()}
    rules = [AlertRule.model_validate(o) for o in _by_name("AlertRule").values()]
    ns_labels = {"payments": {"team": "payments"}}
    main_files = render_cluster_rules(clusters["main"], rules, ns_labels)
    assert [e.evaluator.name for e in main_files] == ["prometheus", "vmalert"]
    # suspended is disabled; everything else goes to main
    assert sorted(main_files[0].files) == ["default_node.yaml", "payments_checkout.yaml", "payments_only-main.yaml"]
    payments = render_cluster_rules(clusters["payments-only"], rules, ns_labels)
    # namespace selector keeps default/node out; only-main targets monitoring/main only
    assert sorted(payments[0].files) == ["payments_checkout.yaml"]
    assert payments[0].shards[0].name == "payments-only-prometheus-rules-0"


def test_a_clusters_rule_files_carry_its_tenant_label_golden() -> None:
    clusters = {n: AlertmanagerCluster.model_validate(o) for n, o in _by_name("AlertmanagerCluster").items()}
    rules = [AlertRule.model_validate(o) for o in _by_name("AlertRule").values()]
    prometheus, _ = render_cluster_rules(clusters["main"], rules, {"payments": {"team": "payments"}})
    checkout = prometheus.files["payments_checkout.yaml"]
    _golden("payments-checkout-tenant.yaml", checkout)
    for name, namespace in (("payments_checkout.yaml", "payments"), ("default_node.yaml", "default")):
        doc = yaml.safe_load(prometheus.files[name])
        assert {r["labels"]["namespace"] for g in doc["groups"] for r in g["rules"]} == {namespace}
    scoped = clusters["main"].model_copy(deep=True)
    scoped.spec.tenancy.scope_selectors = True
    prometheus, _ = render_cluster_rules(scoped, rules, {"payments": {"team": "payments"}})
    _golden("payments-checkout-scoped.yaml", prometheus.files["payments_checkout.yaml"])
    assert 'checkout_errors_total{namespace="payments"}[5m]' in prometheus.files["payments_checkout.yaml"]


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, {}, True),
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"b": "1"}, True),
    ],
)
def test_label_selector_semantics(selector: dict | None, labels: dict, expected: bool) -> None:
    parsed = None if selector is None else LabelSelector.model_validate(selector)
    assert matches(parsed, labels) is expected


def test_pack_fills_shards_in_name_order_under_the_limit() -> None:
    files = {f"ns-r{i}.yaml": "x" * 90 for i in range(10)}  # 100 bytes each with the key
    shards = pack("p", files, 350)
    assert [s.name for s in shards] == ["p-0", "p-1", "p-2", "p-3"]
    assert [len(s.data) for s in shards] == [3, 3, 3, 1]
    assert all(s.size <= 350 for s in shards)
    assert list(shards[0].data) == ["ns-r0.yaml", "ns-r1.yaml", "ns-r2.yaml"]


def test_file_too_large_for_a_config_map_is_rejected_alone() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {
            "metadata": {"name": "c", "namespace": "m"},
            "spec": {
                "alertmanager": {"url": "http://am:9093"},
                "ruleEvaluators": [
                    {"name": "p", "type": "prometheus", "url": "http://p:9090", "maxConfigMapBytes": 16384}
                ],
            },
        }
    )
    small = AlertRule.model_validate(
        {
            "metadata": {"name": "small", "namespace": "a"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up"}]}]},
        }
    )
    big = AlertRule.model_validate(
        {
            "metadata": {"name": "big", "namespace": "a"},
            "spec": {
                "groups": [
                    {"name": "g", "rules": [{"alert": f"A{i}", "expr": "up" + " " * 200 + "== 0"} for i in range(100)]}
                ]
            },
        }
    )
    [ev] = render_cluster_rules(cluster, [small, big])
    assert list(ev.files) == ["a_small.yaml"]
    assert "a_big.yaml" in ev.rejected and "16384-byte ConfigMap limit" in ev.rejected["a_big.yaml"]


def test_content_hash_is_order_independent_and_content_sensitive() -> None:
    assert content_hash({"a": "1", "b": "2"}) == content_hash({"b": "2", "a": "1"})
    assert content_hash({"a": "1"}) != content_hash({"a": "2"})
    assert content_hash({"ab": ""}) != content_hash({"a": "b"})


def test_validation_reports_group_rule_field_and_parser_message() -> None:
    bad = {o["metadata"]["name"]: o for o in load_manifests([FIXTURES / "invalid.yaml"])}
    rule, issues = parse_alert_rule(bad["bad-promql"])
    assert rule is not None and len(issues) == 1
    issue = issues[0]
    assert (issue.group, issue.rule, issue.field) == ("broken", "Broken", "spec.groups[0].rules[0].expr")
    assert issue.message == "invalid PromQL: unclosed left parenthesis"
    assert (
        describe(issue)
        == 'group "broken" rule "Broken": spec.groups[0].rules[0].expr: invalid PromQL: unclosed left parenthesis'
    )

    _, issues = parse_alert_rule(bad["bad-template"])
    assert [i.field for i in issues] == ["spec.groups[0].rules[0].annotations.summary"]
    assert issues[0].message == "template: __alert_BadTemplate:1: unexpected EOF"  # Go's message, as promtool's

    rule, issues = parse_alert_rule(bad["bad-schema"])
    assert rule is None
    assert [(i.field, i.message) for i in issues] == [
        ("spec.groups[0].rules[0]", "exactly one of alert or record must be set")
    ]


def test_validation_checks_label_names() -> None:
    _, issues = parse_alert_rule(
        {
            "kind": "AlertRule",
            "metadata": {"name": "x"},
            "spec": {
                "groups": [
                    {
                        "name": "g",
                        "rules": [{"alert": "A", "expr": "up", "labels": {"bad-name": "x", "ok": "{{ $labels.job }}"}}],
                    }
                ]
            },
        }
    )
    assert [(i.field, i.message) for i in issues] == [
        (
            "spec.groups[0].rules[0].labels.bad-name",
            BAD_LABEL_NAME,
        )
    ]


def test_examples_are_valid() -> None:
    for obj in load_manifests([Path(__file__).resolve().parents[2] / "examples"]):
        if obj["kind"] == "AlertRule":
            assert parse_alert_rule(obj)[1] == []


def test_render_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # No tools: the pure rendering (`render` imports RuleChecks when it runs).
    monkeypatch.setattr("alertagent.clients.rulecheck.RuleChecks", lambda: RuleChecks(runners={}))
    out, report = tmp_path / "out", tmp_path / "report.json"
    code = main(["render", "-f", str(FIXTURES), "-o", str(out), "--report-json", str(report)])
    assert code == 1
    printed = capsys.readouterr().out.splitlines()
    assert sorted(line.split(":")[0] for line in printed) == [
        "AlertRule default/bad-promql",
        "AlertRule default/bad-schema",
        "AlertRule default/bad-template",
    ]
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml"))
    assert written == [
        "monitoring/main/alertmanager.yaml",
        "monitoring/main/prometheus/default_node.yaml",
        "monitoring/main/prometheus/payments_checkout.yaml",
        "monitoring/main/prometheus/payments_only-main.yaml",
        "monitoring/main/vmalert/default_node.yaml",
        "monitoring/main/vmalert/payments_checkout.yaml",
        "monitoring/main/vmalert/payments_only-main.yaml",
        "monitoring/payments-only/alertmanager.yaml",
        "monitoring/payments-only/prometheus/payments_checkout.yaml",
    ]
    doc = json.loads(report.read_text())
    by_name = {o["name"]: o for o in doc["objects"]}
    assert by_name["bad-promql"]["valid"] is False and "unclosed left parenthesis" in by_name["bad-promql"]["errors"][0]
    assert by_name["checkout"] == {
        "kind": "AlertRule",
        "namespace": "payments",
        "name": "checkout",
        "valid": True,
        "errors": [],
        "warnings": [],
    }
    assert (
        main(
            [
                "render",
                "-f",
                str(FIXTURES / "clusters.yaml"),
                "-f",
                str(FIXTURES / "rules.yaml"),
                "-o",
                str(tmp_path / "ok"),
            ]
        )
        == 0
    )


def test_render_cli_usage_errors(tmp_path: Path) -> None:
    assert main(["render", "-f", str(tmp_path / "missing.yaml"), "-o", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["render", "-o", str(tmp_path)])
    assert exit_.value.code == 2


def test_manifests_reject_non_objects(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("just: a map\n")
    skipped: list[str] = []
    with pytest.raises(ManifestError, match="no Kubernetes objects"):
        load_manifests([tmp_path], warn=skipped.append)
    assert skipped == [f"{tmp_path / 'x.yaml'}: skipped: not a Kubernetes object (no apiVersion and no kind)"]


def test_render_checks_rule_files_with_the_installed_tools(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With promtool and vmalert installed (the test command installs them), `alertagent render` asks
    them as the operator does: the Debian vmalert (1.79) has no keep_firing_for (1.92+), so the rule is
    reported for that evaluator alone and written for Prometheus."""
    out = tmp_path / "out"
    assert (
        main(["render", "-f", str(FIXTURES / "clusters.yaml"), "-f", str(FIXTURES / "rules.yaml"), "-o", str(out)]) == 1
    )
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("AlertRule payments/checkout")]
    assert "monitoring/main/vmalert: vmalert -dryRun:" in line and "unknown fields in rule: keep_firing_for" in line
    assert (out / "monitoring/main/prometheus/payments_checkout.yaml").exists()
    assert not (out / "monitoring/main/vmalert/payments_checkout.yaml").exists()
