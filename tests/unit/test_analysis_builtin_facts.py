"""Parsing raw Kubernetes objects (analysis/facts.py) and the alert's PromQL (analysis/promql.py):
recorded kube-apiserver v1.34 lists and Prometheus `/api/v1/query_range` matrices."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertagent.analysis.facts import (
    ClusterFacts,
    parse_event,
    parse_pod,
    parse_replicaset,
    parse_time,
    parse_workload,
)
from alertagent.analysis.promql import crossing, expr_from_generator_url, query_range_params, vmalert_alert_api

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analysis"
END = datetime(2026, 11, 30, 19, 17, 33, tzinfo=UTC)  # the recorded query_range window's end (1h, 15s steps)


def items(namespace: str, name: str) -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / "cluster" / namespace / f"{name}.json").read_text())["items"])


def named(objs: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    return next(o for o in objs if o["metadata"]["name"].startswith(prefix))


def matrix(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "prometheus" / f"query_range-{name}.json").read_text()))


# -- facts -----------------------------------------------------------------------------------------


def test_crash_looping_pod_keeps_waiting_and_last_terminated_reasons() -> None:
    pod = parse_pod(named(items("shop", "pods"), "database-d48fc65d4"))
    assert (pod.phase, pod.ready, pod.restarts) == ("Running", False, 3)
    assert pod.reasons == ("CrashLoopBackOff", "OOMKilled")
    assert pod.meta.owner is not None and (pod.meta.owner.kind, pod.meta.owner.name) == (
        "ReplicaSet",
        "database-d48fc65d4",
    )
    assert not pod.healthy and pod.node.startswith("node-")


def test_pending_pod_the_scheduler_cannot_place_is_unschedulable() -> None:
    pod = parse_pod(named(items("data", "pods"), "postgres-2"))
    assert (pod.phase, pod.ready, pod.reasons, pod.node) == ("Pending", False, ("Unschedulable",), "")


def test_ready_pod_is_healthy_and_starting_reasons_are_not_faults() -> None:
    assert parse_pod(named(items("shop", "pods"), "api-")).healthy
    creating = {
        "status": {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}
    }
    assert parse_pod(creating).reasons == ()
    evicted = {"status": {"phase": "Failed", "reason": "Evicted"}}
    assert parse_pod(evicted).reasons == ("Evicted",)


def test_replicaset_revision_and_owner() -> None:
    rs = parse_replicaset(named(items("shop", "replicasets"), "database-d48fc65d4"))
    assert (rs.revision, rs.replicas) == (3, 1)
    assert rs.meta.owner is not None and (rs.meta.owner.kind, rs.meta.owner.name) == ("Deployment", "database")
    assert rs.meta.created == datetime(2026, 11, 30, 19, 14, 33, tzinfo=UTC)


def test_statefulset_revisions_and_deployment_replicas() -> None:
    sts = parse_workload("StatefulSet", items("data", "statefulsets")[0])
    assert (sts.replicas, sts.ready) == (3, 2)
    assert (sts.current_revision, sts.update_revision) == ("postgres-85c4fd88ff", "postgres-66f6866d77")
    dep = parse_workload("Deployment", named(items("shop", "deployments"), "database"))
    assert (dep.replicas, dep.ready, dep.revision, dep.selector) == (2, 0, 3, (("app", "database"),))


def test_controller_revisions_of_a_statefulset() -> None:
    parsed = ClusterFacts(controllerrevisions=items("data", "controllerrevisions")).parsed()
    assert [
        (c.meta.name, c.revision, c.meta.owner.name if c.meta.owner else "") for c in parsed.controllerrevisions
    ] == [
        ("postgres-66f6866d77", 2, "postgres"),
        ("postgres-85c4fd88ff", 1, "postgres"),
    ]


def test_core_and_events_api_shapes_parse_to_the_same_event() -> None:
    core = named(items("shop", "events-core"), "database-d48fc65d4-2xvwz.ee60")
    new = named(items("shop", "events"), "database-d48fc65d4-2xvwz.ee60")
    assert "involvedObject" in core and "regarding" in new
    assert parse_event(core) == parse_event(new)
    event = parse_event(new)
    assert (event.type, event.reason, event.kind, event.count) == ("Warning", "BackOff", "Pod", 9)
    assert event.message.startswith("Back-off restarting failed container postgres")
    assert event.time == datetime(2026, 11, 30, 19, 14, 35, tzinfo=UTC)


def test_scheduler_event_uses_series_last_observed_time_and_count() -> None:
    for name in ("events-core", "events"):
        event = parse_event(named(items("data", name), "postgres-2."))
        assert (event.reason, event.count) == ("FailedScheduling", 4)
        assert event.time == datetime(2026, 11, 30, 19, 14, 40, 118204, tzinfo=UTC)


def test_from_responses_sorts_lists_by_kind_and_dedupes_events_by_uid() -> None:
    responses = [json.loads(p.read_text()) for p in sorted((FIXTURES / "cluster" / "shop").glob("*.json"))]
    cluster = ClusterFacts.from_responses(responses)
    assert len(cluster.events) == 2 * len(items("shop", "events"))  # both APIs, as read
    parsed = cluster.parsed()
    assert len(parsed.events) == len(items("shop", "events"))
    assert [w.meta.name for w in parsed.workloads] == ["api", "database", "frontend", "worker"]
    assert [p.meta.name for p in parsed.pods] == sorted(p.meta.name for p in parsed.pods)


def test_missing_fields_give_empty_values() -> None:
    assert parse_pod({}).phase == "" and parse_event({}).count == 1
    assert parse_time("not a time") is None and parse_time(None) is None


# -- promql ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://prometheus.monitoring:9090/graph?g0.expr=up%7Bjob%3D%22database%22%7D+%3D%3D+0&g0.tab=1",
            ("http://prometheus.monitoring:9090", 'up{job="database"} == 0'),
        ),
        (
            "https://example.com/prometheus/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            ("https://example.com/prometheus", "up == 0"),
        ),
        ("http://vm:8428/vmui/#/?g0.expr=up%20%3D%3D%200", ("http://vm:8428", "up == 0")),
        (
            "http://vmselect:8481/select/0/vmui/#/?g0.expr=up%20%3D%3D%200",
            ("http://vmselect:8481/select/0/prometheus", "up == 0"),
        ),
        (
            'http://grafana:3000/explore?orgId=1&left={"datasource":"VictoriaMetrics","queries":'
            '[{"expr":"up%20%3D%3D%200","refId":"A"}],"range":{"from":"now-1h","to":"now"}}',
            ("", "up == 0"),
        ),
        ("http://vmalert:8880/vmalert/alert?group_id=1036955090143761274&alert_id=1074584496268461589", None),
        ("not a url", None),
    ],
)
def test_expr_from_generator_url(url: str, expected: tuple[str, str] | None) -> None:
    assert expr_from_generator_url(url) == expected


def test_vmalert_default_link_maps_to_its_json_api() -> None:
    url = "http://vmalert:8880/vmalert/alert?group_id=1036955090143761274&alert_id=1074584496268461589"
    assert vmalert_alert_api(url) == (
        "http://vmalert:8880/api/v1/alert?group_id=1036955090143761274&alert_id=1074584496268461589"
    )
    assert vmalert_alert_api("http://prometheus:9090/graph?g0.expr=up") is None


def test_query_range_params_respect_the_point_limit() -> None:
    assert query_range_params("up == 0", END) == {
        "query": "up == 0",
        "start": f"{END.timestamp() - 3600:.3f}",
        "end": f"{END.timestamp():.3f}",
        "step": "15",
    }
    assert query_range_params("up", END, lookback=7 * 86400, step=15)["step"] == "55"


def test_crossing_is_the_start_of_the_run_reaching_the_end() -> None:
    assert crossing(matrix("database-down"), END, 15) == (datetime(2026, 11, 30, 19, 16, 3, tzinfo=UTC), 1)
    assert crossing(matrix("database-down"), END.timestamp(), 15) == crossing(matrix("database-down"), END, 15)


def test_crossing_across_series_bridges_gaps_of_two_steps_and_breaks_on_longer_ones() -> None:
    # api-0 held 18:20-18:30 and 19:00-19:05:03; api-1 from 19:05:33 (30 s = 2 steps later) to the end
    assert crossing(matrix("gaps"), END, 15) == (datetime(2026, 11, 30, 19, 0, 3, tzinfo=UTC), 1)


def test_crossing_none_when_nothing_reaches_the_end() -> None:
    assert crossing(matrix("empty"), END, 15) == (None, 0)
    stale = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[END.timestamp() - 31, "1"]]}]},
    }
    assert crossing(stale, END, 15) == (None, 0)
    fresh = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[END.timestamp() - 30, "1"]]}]},
    }
    assert crossing(fresh, END, 15) == (datetime.fromtimestamp(END.timestamp() - 30, UTC), 1)


def test_crossing_raises_on_error_and_non_matrix() -> None:
    with pytest.raises(ValueError, match="bad_data: invalid parameter"):
        crossing(matrix("error"), END, 15)
    with pytest.raises(ValueError, match="expected a matrix"):
        crossing({"status": "success", "data": {"resultType": "vector", "result": []}}, END, 15)
