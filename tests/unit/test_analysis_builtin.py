"""The built-in root-cause report (analysis/builtin.py) over API responses recorded from a real
kube-apiserver v1.34 (tests/fixtures/analysis/cluster, see its README): the demo's database outage, a
StatefulSet root, a root with healthy pods, a workload root node, no rollout, a rollout after the first
alert, missing facts; goldens of whole reports under tests/unit/golden/analysis/.

To regenerate the goldens after an intended change, then review the diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_analysis_builtin.py
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alertagent.analysis.builtin import builtin_report, duration, render_text, suggested_actions
from alertagent.analysis.facts import ClusterFacts
from alertagent.analysis.promql import crossing
from alertagent.api.analysis import BuiltinReport, QueryFinding
from alertagent.api.incident import IncidentStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analysis"
GOLDEN = Path(__file__).resolve().parent / "golden" / "analysis"
# The recording: shop/database's revision 3 ReplicaSet was created at 19:14:33; the first alert
# comes 2 minutes later, the report a minute after that.
REV3 = datetime(2026, 11, 30, 19, 14, 33, tzinfo=UTC)
FIRST_ALERT = REV3 + timedelta(minutes=2)
NOW = FIRST_ALERT + timedelta(minutes=1)


def responses(namespace: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((FIXTURES / "cluster" / namespace).glob("*.json"))]


def facts(namespace: str) -> ClusterFacts:
    return ClusterFacts.from_responses(responses(namespace))


def status(root: str, start: datetime = FIRST_ALERT, impacted: tuple[str, ...] = ()) -> IncidentStatus:
    namespace, _, name = root.partition("/")
    return IncidentStatus.model_validate(
        {
            "root": {"namespace": namespace, "name": name, "alerts": ["DatabaseDown"]},
            "impacted": [
                {"namespace": s.split("/")[0], "name": s.split("/")[1], "depth": depth, "alerts": 1}
                for depth, s in enumerate(impacted, start=1)
            ],
            "startTime": start.isoformat(),
        }
    )


def database_query() -> QueryFinding:
    matrix = json.loads((FIXTURES / "prometheus" / "query_range-database-down.json").read_text())
    crossed, series = crossing(matrix, NOW, 15)
    return QueryFinding(alert="DatabaseDown", expr='up{job="database"} == 0', crossed_time=crossed, series=series)


def demo_report() -> BuiltinReport:
    return builtin_report(
        status("shop/database", impacted=("shop/api", "shop/frontend")), facts("shop"), [database_query()], NOW
    )


def as_golden(report: BuiltinReport) -> str:
    doc = {
        "report": report.model_dump(mode="json", by_alias=True, exclude_defaults=False),
        "actions": [a.model_dump(mode="json", by_alias=True, exclude_none=True) for a in suggested_actions(report)],
        "text": render_text(report).splitlines(),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def check_golden(name: str, rendered: str) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing (UPDATE_GOLDEN=1 to write it)"
    assert path.read_text() == rendered, f"differs from {path.name} (UPDATE_GOLDEN=1 to accept)"


GOLDEN_CASES = {
    "demo-database-outage": demo_report,
    "statefulset-root": lambda: builtin_report(status("data/postgres"), facts("data"), [], NOW),
    "healthy-root": lambda: builtin_report(
        status("shop/api", start=NOW + timedelta(hours=2)), facts("shop"), [], NOW + timedelta(hours=2, minutes=1)
    ),
    "workload-node-root": lambda: builtin_report(status("shop/deployment/worker"), facts("shop"), [], NOW),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_reports(case: str) -> None:
    check_golden(case, as_golden(GOLDEN_CASES[case]()))


# -- the demo's database outage --------------------------------------------------------------------


def test_demo_summary_names_root_failing_pods_rollout_query_and_impacted() -> None:
    assert demo_report().summary == (
        "Root cause candidate: shop/database. 3 of 3 pods of Deployment shop/database are not ready: "
        "database-76c57dcd69-mqnrb (CrashLoopBackOff, OOMKilled, restarts 3); "
        "database-b749b5966-997bj (CrashLoopBackOff, OOMKilled, restarts 4); "
        "database-d48fc65d4-2xvwz (CrashLoopBackOff, OOMKilled, restarts 3). "
        "Deployment shop/database rolled out revision 3 (from 2) "
        "2m before the first alert. DatabaseDown has held since 19:16:03 UTC. Impacted: shop/api, shop/frontend."
    )


def test_demo_workload_groups_pods_of_every_replicaset_under_the_deployment() -> None:
    (workload,) = demo_report().workloads
    assert (workload.kind, workload.namespace, workload.name, workload.desired, workload.ready) == (
        "Deployment",
        "shop",
        "database",
        2,
        0,
    )
    assert [p.name for p in workload.pods] == sorted(p.name for p in workload.pods)
    assert {p.name.rsplit("-", 2)[1] for p in workload.pods} == {"76c57dcd69", "b749b5966", "d48fc65d4"}
    assert all(p.reasons == ["CrashLoopBackOff", "OOMKilled"] and not p.ready for p in workload.pods)


def test_demo_rollout_is_the_newest_revision_with_its_previous_one() -> None:
    (rollout,) = demo_report().rollouts
    assert (rollout.kind, rollout.name, rollout.revision, rollout.previous) == ("Deployment", "database", "3", "2")
    assert rollout.time == REV3 and rollout.before_first_alert == 120.0


def test_demo_events_are_warnings_first_then_newest_and_only_about_the_root() -> None:
    events = demo_report().events
    types = [e.type for e in events]
    assert types == sorted(types, key=lambda t: t != "Warning") and types[0] == "Warning"
    warnings = [e for e in events if e.type == "Warning"]
    assert [e.time for e in warnings] == sorted((e.time for e in warnings), reverse=True)
    assert {e.reason for e in warnings} == {"BackOff"} and all(e.count == 9 for e in warnings)
    assert all("database" in e.object for e in events)  # nothing about api, frontend or worker


def test_demo_event_read_through_both_apis_counts_once() -> None:
    # the recording lists every Event through core/v1 and events.k8s.io/v1: the same uid twice
    report = demo_report()
    assert len({(e.object, e.reason, e.time, e.message) for e in report.events}) == len(report.events)


def test_demo_suggests_undo_to_the_previous_revision_not_a_restart() -> None:
    actions = suggested_actions(demo_report())
    assert actions[0].kind == "RolloutUndo"
    assert actions[0].command == "kubectl rollout undo deployment/database -n shop --to-revision=2"
    assert "Restart" not in {a.kind for a in actions}
    assert any(a.kind == "Other" and "OOMKilled" in a.reason for a in actions)


def test_report_is_deterministic_whatever_the_order_of_the_objects() -> None:
    shuffled = responses("shop")
    rng = random.Random(7)
    for response in shuffled:
        rng.shuffle(response["items"])
    rng.shuffle(shuffled)
    again = builtin_report(
        status("shop/database", impacted=("shop/api", "shop/frontend")),
        ClusterFacts.from_responses(shuffled),
        [database_query()],
        NOW,
    )
    assert again == demo_report()


def test_render_text_stays_within_15_lines() -> None:
    text = render_text(demo_report())
    assert text.splitlines()[0] == "Root cause candidate: shop/database"
    assert len(text.splitlines()) <= 15
    crowded = demo_report().model_copy(update={"impacted": [f"shop/svc-{i}" for i in range(100)]})
    assert len(render_text(crowded).splitlines()) <= 15


# -- other roots -----------------------------------------------------------------------------------


def test_statefulset_root_reports_the_unschedulable_pod_and_its_revision_change() -> None:
    report = builtin_report(status("data/postgres"), facts("data"), [], NOW)
    (workload,) = report.workloads
    assert (workload.kind, workload.desired, workload.ready) == ("StatefulSet", 3, 2)
    assert [(p.name, p.phase, p.reasons) for p in workload.pods] == [("postgres-2", "Pending", ["Unschedulable"])]
    (rollout,) = report.rollouts
    assert (rollout.revision, rollout.previous) == ("postgres-66f6866d77", "postgres-85c4fd88ff")
    assert "1 of 3 pods of StatefulSet data/postgres is not ready: postgres-2 (Unschedulable)" in report.summary
    # the scheduler's events.k8s.io/v1 Event, with its series count
    assert (report.events[0].reason, report.events[0].count) == ("FailedScheduling", 4)
    kinds = [(a.kind, a.command) for a in suggested_actions(report)]
    assert kinds == [
        ("RolloutUndo", "kubectl rollout undo statefulset/postgres -n data"),
        ("Restart", "kubectl delete pod postgres-2 -n data"),  # forced rollback: the controller waits on it
        ("Other", "kubectl describe pod postgres-2 -n data"),
    ]


def test_root_with_healthy_pods_says_so_and_shows_a_few() -> None:
    later = NOW + timedelta(hours=2)
    report = builtin_report(status("shop/api", start=later), facts("shop"), [], later + timedelta(minutes=1))
    assert "All 2 pods of Deployment shop/api are ready." in report.summary
    assert [p.ready for p in report.workloads[0].pods] == [True, True]
    assert suggested_actions(report) == []


def test_workload_root_node_reads_that_workload() -> None:
    report = builtin_report(status("shop/deployment/worker"), facts("shop"), [], NOW)
    assert report.root == "shop/deployment/worker"
    assert [(w.kind, w.name) for w in report.workloads] == [("Deployment", "worker")]
    assert report.workloads[0].pods[0].reasons == ["ImagePullBackOff"]
    assert report.rollouts == []  # its only revision is its creation, not a change
    assert [e.reason for e in report.events if e.type == "Warning"] == ["Failed"]
    assert {a.kind for a in suggested_actions(report)} == {"Other"}  # a restart pulls the same image


def test_no_rollout_in_the_window_is_said() -> None:
    later = FIRST_ALERT + timedelta(hours=1)
    report = builtin_report(status("shop/database", start=later), facts("shop"), [], later)
    assert report.rollouts == []
    assert "No rollout in the 30m before the first alert." in report.summary
    assert suggested_actions(report)[0].kind == "Restart"


def test_rollout_after_the_first_alert_is_listed_but_not_a_cause() -> None:
    early = REV3 - timedelta(seconds=60)  # the alert fired before revision 3 went out
    report = builtin_report(status("shop/database", start=early), facts("shop"), [], NOW)
    after = [r for r in report.rollouts if r.revision == "3"]
    assert len(after) == 1 and after[0].before_first_alert == -60.0
    assert "revision 3 (from 2) 1m after the first alert" in report.summary
    assert not any(a.kind == "RolloutUndo" and "to-revision=2" in a.command for a in suggested_actions(report))


def test_missing_facts_give_empty_lists_and_say_nothing_was_found() -> None:
    report = builtin_report(status("shop/database"), ClusterFacts(), [], NOW)
    assert (report.workloads, report.rollouts, report.events, report.queries) == ([], [], [], [])
    assert report.summary == ("Root cause candidate: shop/database. No workloads or pods of shop/database were found.")
    assert suggested_actions(report) == []
    assert render_text(report) == "Root cause candidate: shop/database"


def test_incident_without_root_still_reports_impacted() -> None:
    st = IncidentStatus.model_validate(
        {"impacted": [{"namespace": "shop", "name": "api", "depth": 1, "alerts": 2}], "startTime": NOW.isoformat()}
    )
    report = builtin_report(st, facts("shop"), [], NOW)
    assert (report.root, report.impacted) == ("", ["shop/api"])


def test_impacted_nearest_first_and_unrelated_roots_last() -> None:
    st = IncidentStatus.model_validate(
        {
            "root": {"namespace": "shop", "name": "database"},
            "impacted": [
                {"namespace": "shop", "name": "frontend", "depth": 2, "alerts": 1},
                {"namespace": "data", "name": "backup", "depth": 0, "alerts": 1},
                {"namespace": "shop", "name": "api", "depth": 1, "alerts": 1},
            ],
        }
    )
    assert builtin_report(st, ClusterFacts(), [], NOW).impacted == ["shop/api", "shop/frontend", "data/backup"]


def test_query_error_and_silence_are_said() -> None:
    queries = [
        QueryFinding(alert="B", expr="b", error="bad_data: parse error"),
        QueryFinding(alert="A", expr="a"),
    ]
    report = builtin_report(status("shop/database"), ClusterFacts(), queries, NOW)
    assert [q.alert for q in report.queries] == ["A", "B"]
    assert "A's expression returns nothing now." in report.summary
    assert "B's expression could not be evaluated (bad_data: parse error)." in report.summary


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45, "45s"), (120, "2m"), (150, "2m30s"), (3900, "1h5m"), (-60, "1m")]
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text
