"""A template no evaluator can load makes an AlertRule invalid on every path that validates it: its
status (Invalid, with the validation error naming the annotation), the admission webhook and
`alertagent render` — one message for all three.

The tester's input: an annotation `{{ $labels.job ` (unclosed). Prometheus refuses it; vmalert >= 1.108
does not parse a text without both `{{` and `}}` at all, and the AlertRule's check (which keeps what
every dialect refuses) used to take that shortcut for acceptance: the rule passed admission and
`alertagent render`, then turned SyncFailed on its Prometheus evaluator with empty validationErrors.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
import yaml

from alertagent.cli import main
from alertagent.handlers.admission import refusal, register
from alertagent.manifests import load_manifests
from alertagent.plans.offline import render_manifests
from alertagent.plans.rules import index_alert_rule
from alertagent.plans.status import plan_rule_status
from alertagent.render.validation import parse_alert_rule, template_issues

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "basic"
UNCLOSED = "{{ $labels.job "
FIELD = "spec.groups[0].rules[0].annotations.summary"
MESSAGE = "template: __alert_Down:1: unclosed action"
LINE = f'group "g" rule "Down": {FIELD}: {MESSAGE}'


def alert_rule(summary: str = UNCLOSED, namespace: str = "default") -> dict[str, Any]:
    rule = {"alert": "Down", "expr": "up == 0", "annotations": {"summary": summary}}
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertRule",
        # The example cluster (examples/basic, namespace default) selects rules with this label.
        "metadata": {"name": "down", "namespace": namespace, "labels": {"alertagent.io/cluster": "main"}},
        "spec": {"groups": [{"name": "g", "rules": [rule]}]},
    }


def test_validation_names_the_annotation_with_gos_message() -> None:
    _rule, issues = parse_alert_rule(alert_rule())
    assert [(i.group, i.rule, i.field, i.message) for i in issues] == [("g", "Down", FIELD, MESSAGE)]


def test_status_says_invalid_with_the_validation_error() -> None:
    body = alert_rule()
    body["metadata"]["generation"] = 1
    entry = index_alert_rule(body, template_issues)  # as the operator indexes it
    assert not entry.valid and entry.rule_file is None  # written to no evaluator
    patch = plan_rule_status(body, entry.issues, [], None, announce=True)
    assert patch is not None
    [ready] = [c for c in patch.status["conditions"] if c["type"] == "Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "Invalid", f"{FIELD}: {MESSAGE}")
    assert patch.status["validationErrors"] == [{"group": "g", "rule": "Down", "field": FIELD, "message": MESSAGE}]
    assert patch.warning == ("InvalidRule", LINE)


def test_admission_webhook_refuses_it() -> None:
    assert refusal(alert_rule()) == LINE
    # The handler the operator registers raises the same message (HTTP 422).
    registry = kopf.OperatorRegistry()
    register(registry, cast(Any, None))
    [handler] = registry._webhooks.get_all_handlers()
    with pytest.raises(kopf.AdmissionError, match=r"annotations\.summary: template: __alert_Down:1: unclosed action"):
        handler.fn(body=kopf.Body(alert_rule()))
    assert handler.fn(body=kopf.Body(alert_rule("{{ $labels.job }}"))) is None


def test_alertagent_render_reports_it_and_writes_no_rule_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = [*load_manifests([EXAMPLES]), alert_rule()]
    result = render_manifests(copy.deepcopy(objects))
    [report] = [r for r in result.reports if (r.kind, r.name) == ("AlertRule", "down")]
    assert (report.valid, report.errors) == (False, [LINE])
    assert not any("default_down" in str(path) for path in result.files)
    # The CLI: exit 1, one line on stdout.
    (tmp_path / "in.yaml").write_text(yaml.safe_dump_all(objects))
    assert main(["render", "-f", str(tmp_path / "in.yaml"), "-o", str(tmp_path / "out")]) == 1
    assert f"AlertRule default/down: {LINE}" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    "summary",
    [
        "{{ $labels.job }}",  # closed
        "{{ $expr }}",  # vmalert's variable: refused by Prometheus evaluators alone, per evaluator
        "job }} done",  # no action at all: plain text for both
    ],
)
def test_templates_some_evaluator_loads_stay_valid(summary: str) -> None:
    assert parse_alert_rule(alert_rule(summary))[1] == []
    assert refusal(alert_rule(summary)) is None
