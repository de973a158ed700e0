"""Incidents as Kubernetes objects (pure): the status written (service references, caps, RFC 3339
times, kstatus conditions, merge-patch nulls), where it goes, reading it back, and the write plan
(only changes, one write per incident per interval with deferred changes written later, a cap per
poll, retention deletes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from alertagent.api.incident import Incident as IncidentResource
from alertagent.api.incident import IncidentStatus
from alertagent.discovery.facts import Evidence
from alertagent.discovery.snapshot import Edge, Graph, Node
from alertagent.incidents import record
from alertagent.incidents.alerts import AlertView
from alertagent.incidents.correlate import correlate
from alertagent.incidents.record import Sent, WriteOptions, Written, plan_writes
from alertagent.incidents.track import FIRING, RESOLVED, Entry, Incident, advance

T0 = 1_800_000_000.0
CLUSTER = "monitoring/main"


def graph(*edges: str, namespace: str = "shop") -> Graph:
    pairs = [tuple(e.split(">")) for e in edges]
    names = sorted({n for p in pairs for n in p})
    nodes = [Node(f"{namespace}/{n}", "service", namespace, n) for n in names]
    said = (Evidence("annotation", "test"),)
    return Graph.build(nodes, [Edge(f"{namespace}/{a}", f"{namespace}/{b}", said) for a, b in pairs], [])


def alert(node: str, at: float = 0.0, name: str = "Down", suppressed: bool = False) -> AlertView:
    return AlertView(node, T0 + at, f"{node}-{name}", name, "critical", suppressed)


def incident_of(g: Graph, alerts: list[AlertView], now: float = 30.0) -> Incident:
    (incident,) = advance([], correlate(g, alerts, 300.0), T0 + now)
    return incident


def simple(name: str, root: str, state: str = FIRING, started: float = T0, resolved: float | None = None) -> Incident:
    return Incident(
        name=name,
        root=root,
        root_alerts=("Down",),
        root_fingerprints=frozenset({f"{root}-Down"}),
        impacted=(),
        alerts=1,
        suppressed=0,
        fingerprints=frozenset({f"{root}-Down"}),
        severity="critical",
        state=state,
        started=started,
        resolved=resolved,
        timeline=(Entry(started, f"first alert: Down on {root}"),),
    )


# -- names and places ------------------------------------------------------------------------------


def test_node_ids_become_service_references() -> None:
    assert record.node_ref("shop/api") == ("shop", "api", True)
    assert record.node_ref("shop/deployment/worker") == ("shop", "deployment/worker", True)
    assert record.node_ref("alert:ops/disk") == ("ops", "disk", False)
    for node in ("shop/api", "shop/deployment/worker", "alert:ops/disk"):
        assert record.node_id(*record.node_ref(node)) == node


def test_an_incident_goes_into_its_roots_namespace_when_the_cluster_selects_it() -> None:
    assert record.incident_namespace("shop/db", CLUSTER, None) == "shop"  # the cluster selects all
    assert record.incident_namespace("shop/db", CLUSTER, ["shop", "pay"]) == "shop"
    assert record.incident_namespace("shop/db", CLUSTER, ["pay"]) == "monitoring"
    assert record.incident_namespace("alert:/HostDown", CLUSTER, None) == "monitoring"  # no namespace label


def test_the_cluster_label_fits_a_label_value() -> None:
    assert record.cluster_label(CLUSTER) == "monitoring.main"
    long = record.cluster_label("n" * 63 + "/" + "c" * 63)
    assert len(long) <= 63 and long != record.cluster_label("n" * 63 + "/" + "c" * 62)


# -- the status ------------------------------------------------------------------------------------


def test_the_status_names_root_impacted_and_counts_and_validates_as_the_crd() -> None:
    g = graph("web>api", "api>db")
    incident = incident_of(g, [alert("shop/db"), alert("shop/api", 10, suppressed=True), alert("shop/web", 20)])
    status = record.incident_status(incident, Sent(2, T0 + 40, ("team/dingtalk",)))
    IncidentStatus.model_validate(status)  # the CRD's model accepts it
    assert status["state"] == "Firing" and status["severity"] == "critical"
    assert status["root"] == {"namespace": "shop", "name": "db", "inGraph": True, "alerts": ["Down"]}
    assert [(i["name"], i["depth"], i["parent"], i["suppressed"]) for i in status["impacted"]] == [
        ("api", 1, "shop/db", 1),
        ("web", 2, "shop/api", 0),
    ]
    assert (status["services"], status["alerts"], status["suppressedAlerts"]) == (3, 3, 1)
    assert status["startTime"] == "2027-01-15T08:00:00Z"  # RFC 3339, UTC, whole seconds
    assert status["timeline"][0] == {"time": "2027-01-15T08:00:00Z", "event": "first alert: Down on shop/db"}
    assert status["notifications"] == {"sent": 2, "lastSentTime": "2027-01-15T08:00:40Z", "channels": ["team/dingtalk"]}
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "Ready": ("True", "Tracked"),
        "Reconciling": ("False", "Tracked"),
        "Stalled": ("False", "Tracked"),
        "Resolved": ("False", "Firing"),
    }
    assert status["resolveTime"] is None and status["mergedInto"] is None  # a merge patch clears them
    resolved_condition = next(c for c in status["conditions"] if c["type"] == "Resolved")
    assert resolved_condition["message"] == "3 alerts firing over 3 services"
    one = record.incident_status(replace(incident, alerts=1, impacted=()))
    assert next(c for c in one["conditions"] if c["type"] == "Resolved")["message"] == "1 alert firing over 1 service"


def test_an_alert_naming_no_service_is_a_root_outside_the_graph() -> None:
    incident = incident_of(Graph.build([], [], []), [alert("alert:ops/disk")])
    assert record.incident_status(incident)["root"] == {
        "namespace": "ops",
        "name": "disk",
        "inGraph": False,
        "alerts": ["Down"],
    }


def test_a_resolved_incident_says_so_in_state_time_and_condition() -> None:
    g = graph("api>db")
    (incident,) = advance([incident_of(g, [alert("shop/db")])], [], T0 + 90)
    status = record.incident_status(incident)
    assert status["state"] == "Resolved" and status["resolveTime"] == "2027-01-15T08:01:30Z"
    resolved = next(c for c in status["conditions"] if c["type"] == "Resolved")
    assert (resolved["status"], resolved["reason"], resolved["lastTransitionTime"]) == (
        "True",
        "AllAlertsGone",
        "2027-01-15T08:01:30Z",
    )


def test_impacted_is_capped_at_1000_and_services_counts_them_all() -> None:
    g = graph(*(f"s{i:04d}>db" for i in range(1200)))
    incident = incident_of(g, [alert("shop/db"), *(alert(f"shop/s{i:04d}", 5) for i in range(1200))])
    status = record.incident_status(incident)
    assert len(status["impacted"]) == 1000 and status["services"] == 1201
    IncidentStatus.model_validate(status)


def test_the_timeline_is_capped_at_50_keeping_the_first_entry() -> None:
    entries = tuple(Entry(T0 + i, f"event {i}") for i in range(80))
    status = record.incident_status(replace(simple("db-1", "shop/db"), timeline=entries))
    assert len(status["timeline"]) == 50
    assert status["timeline"][0]["event"] == "event 0" and status["timeline"][-1]["event"] == "event 79"


def test_the_object_to_create_is_valid_and_labelled_with_its_cluster() -> None:
    incident = simple("db-1", "shop/db")
    body = record.incident_object(incident, CLUSTER, "shop")
    IncidentResource.model_validate({**body, "status": record.incident_status(incident)})
    assert body["metadata"]["labels"]["alertagent.io/cluster"] == "monitoring.main"
    assert body["spec"] == {"cluster": CLUSTER}


def test_an_incident_read_back_gives_the_same_status() -> None:
    g = graph("web>api", "api>db")
    incident = incident_of(g, [alert("shop/db"), alert("shop/api", 10), alert("shop/web", 20)])
    sent = Sent(3, T0 + 50, ("a/b", "c/d"))
    status = record.incident_status(incident, sent)
    obj = {**record.incident_object(incident, CLUSTER, "shop"), "status": status}
    found = record.incident_from_object(obj)
    assert found is not None
    back, back_sent = found
    assert back.name == incident.name and back.root == incident.root and back_sent == sent
    assert record.incident_status(back, back_sent) == status
    assert record.incident_from_object({"metadata": {"name": "x"}, "spec": {"cluster": CLUSTER}}) is None


def test_a_stored_incident_takes_over_the_replicas_own_incident_of_the_same_outage() -> None:
    g = graph("web>api", "api>db")
    stored = replace(incident_of(g, [alert("shop/db")]), name="db-stored", fingerprints=frozenset())
    local = replace(incident_of(g, [alert("shop/db"), alert("shop/api", 10)]), name="db-local")
    other = simple("cart-1", "shop/cart")
    adopted = record.adopt([local, other], [stored])
    assert sorted(i.name for i in adopted) == ["cart-1", "db-stored"]
    taken = next(i for i in adopted if i.name == "db-stored")
    assert taken.fingerprints == local.fingerprints
    (after, _) = sorted(
        advance(adopted, correlate(g, [alert("shop/db"), alert("shop/api", 10)], 300.0), T0 + 60),
        key=lambda i: i.name != "db-stored",
    )
    assert after.name == "db-stored" and after.state == FIRING and after.services == 2
    # an incident known by name keeps the replica's own version
    assert record.adopt([stored], [replace(stored, alerts=9)])[0].alerts == stored.alerts


# -- the write plan --------------------------------------------------------------------------------


def written_now(plan: record.WritePlan, at: float) -> dict[str, Written]:
    return {w.name: Written(w.namespace, at, w.digest) for w in plan.writes if w.op != "delete"}


def test_a_new_incident_is_created_then_nothing_until_it_changes() -> None:
    incident = simple("db-1", "shop/db")
    plan = plan_writes([incident], {}, CLUSTER, None, T0)
    (write,) = plan.writes
    assert (write.op, write.namespace, write.body["spec"]) == ("create", "shop", {"cluster": CLUSTER})  # type: ignore[index]
    assert write.status == record.incident_status(incident)
    written = written_now(plan, T0)
    assert plan_writes([replace(incident, changed=False)], written, CLUSTER, None, T0 + 60).writes == ()


def test_a_change_within_the_interval_is_deferred_then_written() -> None:
    incident = simple("db-1", "shop/db")
    written = written_now(plan_writes([incident], {}, CLUSTER, None, T0), T0)
    grown = replace(incident, alerts=2)
    soon = plan_writes([grown], written, CLUSTER, None, T0 + 4, options=WriteOptions(min_interval=10))
    assert soon.writes == () and soon.deferred == ("db-1",)
    later = plan_writes([replace(grown, changed=False)], written, CLUSTER, None, T0 + 10, pending={"db-1"})
    assert [(w.op, w.name, w.status["alerts"]) for w in later.writes] == [("status", "db-1", 2)]  # type: ignore[index]


def test_only_pending_incidents_are_compared() -> None:
    incident = simple("db-1", "shop/db")
    written = written_now(plan_writes([incident], {}, CLUSTER, None, T0), T0)
    grown = replace(incident, alerts=5)
    assert plan_writes([grown], written, CLUSTER, None, T0 + 60, pending=set()).writes == ()
    assert len(plan_writes([grown], written, CLUSTER, None, T0 + 60, pending={"db-1"}).writes) == 1


def test_a_written_incident_stays_in_its_namespace_when_its_root_moves() -> None:
    incident = simple("db-1", "shop/db")
    written = {"db-1": Written("shop", T0, "old")}
    (write,) = plan_writes([replace(incident, root="pay/ledger")], written, CLUSTER, None, T0 + 60).writes
    assert (write.op, write.namespace) == ("status", "shop")


def test_the_cap_per_poll_writes_new_incidents_first_and_defers_the_rest() -> None:
    old = [simple(f"old-{i}", f"shop/o{i}", started=T0 + i) for i in range(5)]
    written = {i.name: Written("shop", T0 - 100, "stale") for i in old}
    new = [simple(f"new-{i:02d}", f"shop/n{i}", started=T0 + 100 + i) for i in range(12)]
    plan = plan_writes(old + new, written, CLUSTER, None, T0 + 200, options=WriteOptions(max_per_poll=10))
    assert [w.op for w in plan.writes] == ["create"] * 10
    assert len(plan.deferred) == 7 and set(plan.deferred) >= {"old-0", "new-11"}


def test_resolved_incidents_are_deleted_after_retention() -> None:
    gone = simple("db-1", "shop/db", RESOLVED, resolved=T0)
    never_written = simple("db-2", "shop/cache", RESOLVED, resolved=T0)
    written = {"db-1": Written("shop", T0, record.status_digest(record.incident_status(gone)))}
    options = WriteOptions(retention=3600)
    assert plan_writes([gone], written, CLUSTER, None, T0 + 3599, options=options).writes == ()
    plan = plan_writes([gone, never_written], written, CLUSTER, None, T0 + 3600, options=options)
    assert [(w.op, w.name, w.namespace) for w in plan.writes] == [("delete", "db-1", "shop")]
    assert sorted(plan.forget) == ["db-1", "db-2"]


def test_times_are_rfc3339() -> None:
    status = record.incident_status(simple("db-1", "shop/db", started=T0 + 0.75))
    assert datetime.fromisoformat(status["startTime"]).timestamp() == T0  # whole seconds
    assert status["startTime"].endswith("Z")
