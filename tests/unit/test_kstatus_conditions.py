"""kstatus conditions (pure): every Ready reason of every kind, produced by the real status functions,
carries the Ready / Reconciling / Stalled statuses `api.common.KSTATUS` gives it, each with the
object's generation; lastTransitionTime holds while a condition's status does, and a status computed
again from itself is not rewritten. (tests/integration/test_kstatus.py judges the same statuses with
the real kstatus library.)"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest

from alertagent.api.alertmanagercluster import TargetHealth
from alertagent.api.alertrule import RuleTargetStatus, ValidationIssue
from alertagent.api.common import KSTATUS, kstatus_of
from alertagent.incidents import record, track
from alertagent.plans.status import differs
from alertagent.status import Placement, alert_rule_status, channel_status, cluster_status, policy_status

GENERATION = 4
META = {"name": "x", "namespace": "team", "generation": GENERATION}
RULE = {"metadata": META, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]}}
CLUSTER = {"metadata": META, "spec": {}}
MEMBER = {"metadata": META, "spec": {"type": "slack"}}
SELECTED = Placement(selecting=("m/main",))
TYPO = Placement(unknown_targets=("m/typo",))
HEALTHY = [TargetHealth(name="alertmanager", type="alertmanager", reachable=True)]
DOWN = [TargetHealth(name="alertmanager", type="alertmanager", reachable=False, message="ConnectError")]
ISSUE = ValidationIssue(group="g", rule="A", field="spec.groups[0].rules[0].expr", message="invalid PromQL")

# Ready, Reconciling, Stalled: what kstatus makes of them (tests/integration/test_kstatus.py checks
# these three triples against the library: Current, InProgress, Failed).
CURRENT = ("True", "False", "False")
IN_PROGRESS = ("False", "True", "False")
FAILED = ("False", "False", "True")


def _target(state: str, message: str | None = None) -> RuleTargetStatus:
    return RuleTargetStatus(cluster="m/main", evaluator="p", state=state, message=message)  # type: ignore[arg-type]


Status = Callable[[Mapping[str, Any]], dict[str, Any]]

# kind → Ready reason → (the status function producing that reason from a body, the expected triple)
CASES: dict[str, dict[str, tuple[Status, tuple[str, str, str]]]] = {
    "AlertRule": {
        "Synced": (lambda b: alert_rule_status(b, [], [_target("Synced")], placement=SELECTED), CURRENT),
        "Suspended": (
            lambda b: alert_rule_status({**b, "spec": {**b["spec"], "enabled": False}}, [], []),
            CURRENT,
        ),
        "Pending": (lambda b: alert_rule_status(b, [], [], placement=SELECTED), IN_PROGRESS),
        "Invalid": (lambda b: alert_rule_status(b, [ISSUE], [], placement=SELECTED), FAILED),
        "UnknownTarget": (lambda b: alert_rule_status(b, [], [], placement=TYPO), FAILED),
        "NotSelected": (lambda b: alert_rule_status(b, [], [], placement=Placement()), FAILED),
        "SyncFailed": (lambda b: alert_rule_status(b, [], [_target("Failed", "too large")]), FAILED),
        "Stalled": (lambda b: alert_rule_status(b, [], [_target("Stalled", "no sidecar")]), FAILED),
    },
    "AlertmanagerCluster": {
        "Healthy": (lambda b: cluster_status(b, HEALTHY, {}, None), CURRENT),
        "Probing": (lambda b: cluster_status(b, [], {}, None), IN_PROGRESS),
        "RenderFailed": (lambda b: cluster_status(b, HEALTHY, {}, "render: boom"), FAILED),
        "TargetsUnhealthy": (lambda b: cluster_status(b, DOWN, {}, None), FAILED),
    },
    "NotificationChannel": {
        "Rendered": (lambda b: channel_status(b, {"m/main": None}, [], "Native", SELECTED), CURRENT),
        "Pending": (lambda b: channel_status(b, {}, [], "Native", SELECTED), IN_PROGRESS),
        "Invalid": (lambda b: channel_status(b, {"m/main": "bad matcher"}, [], "Native", SELECTED), FAILED),
        "RobotRefused": (
            lambda b: channel_status(b, {"m/main": None}, [], "Gateway", SELECTED, refused={"m/main": "sign"}),
            FAILED,
        ),
        "LastKnownGood": (
            lambda b: channel_status(b, {"m/main": None}, [], "Native", SELECTED, stale={"m/main": "Secret gone"}),
            FAILED,
        ),
        "UnknownTarget": (lambda b: channel_status(b, {}, [], "Native", TYPO), FAILED),
        "NotSelected": (lambda b: channel_status(b, {}, [], "Native", Placement()), FAILED),
    },
    "SuppressionPolicy": {
        "Rendered": (lambda b: policy_status(b, {"m/main": None}, [], [], [], 0, SELECTED), CURRENT),
        "Pending": (lambda b: policy_status(b, {}, [], [], [], 0, SELECTED), IN_PROGRESS),
        "Invalid": (lambda b: policy_status(b, {}, ["spec.x: bad"], [], [], 0, SELECTED), FAILED),
        "UnknownTarget": (lambda b: policy_status(b, {}, [], [], [], 0, TYPO), FAILED),
        "NotSelected": (lambda b: policy_status(b, {}, [], [], [], 0, Placement()), FAILED),
    },
}
BODIES = {"AlertRule": RULE, "AlertmanagerCluster": CLUSTER, "NotificationChannel": MEMBER, "SuppressionPolicy": MEMBER}
ALL = [(kind, reason) for kind, reasons in sorted(CASES.items()) for reason in sorted(reasons)]


def _triple(status: Mapping[str, Any]) -> tuple[str, str, str]:
    by_type = {c["type"]: c for c in status["conditions"]}
    return by_type["Ready"]["status"], by_type["Reconciling"]["status"], by_type["Stalled"]["status"]


def test_the_table_names_exactly_the_reasons_the_status_functions_produce() -> None:
    assert {kind: set(reasons) for kind, reasons in KSTATUS.items()} == {
        **{kind: set(reasons) for kind, reasons in CASES.items()},
        "Incident": {"Tracked"},
    }
    with pytest.raises(KeyError):
        kstatus_of("AlertRule", "SomethingNew")  # a new reason must be placed in the table


@pytest.mark.parametrize(("kind", "reason"), ALL)
def test_each_reason_sets_ready_reconciling_and_stalled(kind: str, reason: str) -> None:
    make, expected = CASES[kind][reason]
    status = make(BODIES[kind])
    conditions = status["conditions"]
    assert [c["type"] for c in conditions[:3]] == ["Ready", "Reconciling", "Stalled"]  # Ready first
    assert conditions[0]["reason"] == reason
    assert _triple(status) == expected
    assert status["observedGeneration"] == GENERATION
    assert all(c["observedGeneration"] == GENERATION for c in conditions)
    # The condition that is True says why, with Ready's reason and message; the others keep the reason.
    active = [c for c in conditions[1:3] if c["status"] == "True"]
    assert all((c["reason"], c["message"]) == (reason, conditions[0]["message"]) for c in active)
    assert all(c["reason"] == reason and c["message"] == "" for c in conditions[1:3] if c["status"] == "False")
    # Never both abnormal conditions at once: kstatus would read whichever comes first.
    assert len(active) <= 1


@pytest.mark.parametrize(("kind", "reason"), ALL)
def test_a_status_computed_again_from_itself_is_not_rewritten(kind: str, reason: str) -> None:
    make, _ = CASES[kind][reason]
    first = make(BODIES[kind])
    written = {**BODIES[kind], "status": first}
    again = make(written)
    assert not differs(written, again)
    assert again["conditions"] == first["conditions"]  # lastTransitionTime included


def test_transition_times_move_only_for_the_conditions_that_flip() -> None:
    make_pending, _ = CASES["AlertRule"]["Pending"]
    make_invalid, _ = CASES["AlertRule"]["Invalid"]
    old = "2020-01-01T00:00:00Z"
    pending = make_pending(RULE)
    for c in pending["conditions"]:
        c["lastTransitionTime"] = old
    invalid = make_invalid({**RULE, "status": pending})
    times = {c["type"]: c["lastTransitionTime"] for c in invalid["conditions"]}
    assert times["Ready"] == old  # False before and after
    assert times["Reconciling"] != old and times["Stalled"] != old  # True → False, False → True


def test_a_status_written_before_reconciling_and_stalled_existed_is_rewritten_once() -> None:
    make, _ = CASES["NotificationChannel"]["Rendered"]
    current = make(MEMBER)
    old = {**current, "conditions": current["conditions"][:1]}  # Ready only
    assert differs({**MEMBER, "status": old}, current)
    assert not differs({**MEMBER, "status": current}, make({**MEMBER, "status": current}))


def test_the_cluster_keeps_its_degraded_condition_after_the_kstatus_three() -> None:
    status = cluster_status(CLUSTER, HEALTHY, {}, None, last_known_good={"NotificationChannel team/x": "gone"})
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Reconciling", "Stalled", "Degraded"]
    assert _triple(status) == CURRENT  # the config is live; Degraded says not all of it is current


INCIDENT = track.Incident(
    name="db-1",
    root="shop/db",
    root_alerts=("Down",),
    root_fingerprints=frozenset(),
    impacted=(),
    alerts=1,
    suppressed=0,
    fingerprints=frozenset(),
    severity="critical",
    state=track.FIRING,
    started=1_800_000_000.0,
    resolved=None,
    timeline=(),
    changed=True,
)


@pytest.mark.parametrize(
    "incident",
    [INCIDENT, replace(INCIDENT, state=track.RESOLVED, resolved=1_800_000_600.0)],
    ids=["firing", "resolved"],
)
def test_an_incident_is_current_firing_or_resolved(incident: track.Incident) -> None:
    status = record.incident_status(incident)
    assert _triple(status) == CURRENT
    assert status["observedGeneration"] == record.INCIDENT_GENERATION == 1
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Reconciling", "Stalled", "Resolved"]
    # Its times are its own: the same incident written again is the same status (no rewrite).
    assert record.status_digest(status) == record.status_digest(record.incident_status(incident))
