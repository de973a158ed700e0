"""An AlertmanagerCluster's status tells an unreachable target from a render failure, names the target
and its URL, and posts one Warning Event per change of its Ready reason: not one per probe, none when
nothing changed, none twice when the probe and the status step write from copies of different age."""

from __future__ import annotations

import copy
import gc
import weakref
from typing import Any

from alertagent.api.alertmanagercluster import TargetHealth
from alertagent.plans.silences import unreachable_error
from alertagent.plans.status import plan_cluster_status
from alertagent.reconcile.state import ClusterRecord, OperatorState
from alertagent.reconcile.status import write_cluster_status
from alertagent.settings import Settings

REFUSED = "ConnectError: [Errno 111] Connection refused"
KEY = "ha-test/broken"
BODY: dict[str, Any] = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "AlertmanagerCluster",
    "metadata": {"name": "broken", "namespace": "ha-test", "generation": 1, "uid": "u"},
    "spec": {
        "alertmanager": {"url": "http://127.0.0.1:9"},
        "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": "http://127.0.0.1:9"}],
    },
}


def down(message: str = REFUSED) -> list[TargetHealth]:
    return [
        TargetHealth(name="alertmanager", type="alertmanager", reachable=False, message=message),
        TargetHealth(name="prometheus", type="prometheus", reachable=False, message=message),
    ]


def up() -> list[TargetHealth]:
    return [
        TargetHealth(name="alertmanager", type="alertmanager", reachable=True),
        TargetHealth(name="prometheus", type="prometheus", reachable=True),
    ]


def test_an_unreachable_alertmanager_is_targets_unhealthy_naming_target_and_url_not_render_failed() -> None:
    errors = {"silences": unreachable_error(REFUSED)}
    patch = plan_cluster_status(BODY, down(), {}, errors, None)
    assert patch is not None
    ready = patch.status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "TargetsUnhealthy")
    assert ready["message"] == (
        f"alertmanager (http://127.0.0.1:9): {REFUSED}; silences not synced; prometheus (http://127.0.0.1:9): {REFUSED}"
    )
    assert patch.status["lastError"] == ""  # the silences failed because Alertmanager is down: its health says so
    manager = patch.status["targets"][0]
    assert manager["message"] == f"{REFUSED}; silences not synced"
    assert patch.warning == ("TargetsUnhealthy", ready["message"])
    # A silences failure unlike the probe's error is given in full; one the probe did not see (it
    # answered the probe, not the silences API) makes the target unhealthy all the same.
    other = plan_cluster_status(BODY, up(), {}, {"silences": unreachable_error("HTTP 503 from x")}, None)
    assert other is not None
    assert other.status["conditions"][0]["reason"] == "TargetsUnhealthy"
    assert other.status["targets"][0]["message"] == "silences not synced: HTTP 503 from x"


def test_render_failed_is_for_render_failures_and_an_unhealthy_target_comes_first() -> None:
    refused = {"silences": "HTTPStatusError: 400 bad matcher", "rules": "ApiException: (409)"}
    patch = plan_cluster_status(BODY, up(), {}, refused, None)
    assert patch is not None
    ready = patch.status["conditions"][0]
    assert (ready["reason"], ready["message"]) == (
        "RenderFailed",
        "rules: ApiException: (409); silences: HTTPStatusError: 400 bad matcher",
    )
    both = plan_cluster_status(BODY, down(), {}, {"rules": "ApiException: (409)"}, None)
    assert both is not None
    ready = both.status["conditions"][0]
    assert ready["reason"] == "TargetsUnhealthy" and ready["message"].endswith("; also: rules: ApiException: (409)")
    assert both.status["lastError"] == "rules: ApiException: (409)"


class _Kube:
    """The API server as far as the cluster's status goes: keeps the object, counts writes and Events."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = copy.deepcopy(body)
        self.writes = 0
        self.events: list[tuple[str, str, str]] = []

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        assert (plural, namespace, name) == ("alertmanagerclusters", "ha-test", "broken")
        self.writes += 1
        self.body["status"] = copy.deepcopy(status)
        return copy.deepcopy(self.body)

    def post_event(self, about: dict[str, Any], type: str, reason: str, message: str) -> None:
        assert about["metadata"]["name"] == "broken"
        self.events.append((type, reason, message))


def test_one_warning_event_per_change_of_reason_not_per_probe() -> None:
    kube = _Kube(BODY)
    state = OperatorState(settings=Settings(), kube=kube, queue=None, api=None)  # type: ignore[arg-type]
    record = state.clusters.setdefault(KEY, ClusterRecord(reconciled=True))

    def probe(health: list[TargetHealth], body: dict[str, Any] | None = None) -> bool:
        record.health = health
        return write_cluster_status(state, KEY, copy.deepcopy(body if body is not None else kube.body))

    assert probe(down()) and [e[1] for e in kube.events] == ["TargetsUnhealthy"]
    assert kube.events[0][0] == "Warning" and "alertmanager (http://127.0.0.1:9)" in kube.events[0][2]
    stale = copy.deepcopy(BODY)  # a copy taken before the write above (its watch event not seen yet)
    for _ in range(5):  # every probe after it: nothing new, nothing written, no Event
        assert not probe(down())
    assert kube.writes == 1
    probe(down(), stale)  # the status step's older copy: written again, perhaps, but not announced again
    assert len(kube.events) == 1
    # The silences step fails too: the message grows, the reason stays: a write, no Event.
    record.errors["silences"] = unreachable_error(REFUSED)
    assert probe(down()) and len(kube.events) == 1
    # Back: Healthy (no Event); then a render failure: one Event of its own; it persists: none more.
    record.errors.clear()
    assert probe(up()) and len(kube.events) == 1
    record.errors["alertmanager"] = "ApiException: (422) Secret too large"
    assert probe(up()) and [e[1] for e in kube.events] == ["TargetsUnhealthy", "RenderFailed"]
    assert not probe(up()) and len(kube.events) == 2


def test_a_restart_with_the_same_problem_posts_no_event() -> None:
    kube = _Kube(BODY)
    state = OperatorState(settings=Settings(), kube=kube, queue=None, api=None)  # type: ignore[arg-type]
    state.clusters[KEY] = ClusterRecord(reconciled=True, health=down())
    assert write_cluster_status(state, KEY, copy.deepcopy(kube.body)) and len(kube.events) == 1
    restarted = OperatorState(settings=Settings(), kube=kube, queue=None, api=None)  # type: ignore[arg-type]
    restarted.clusters[KEY] = ClusterRecord(reconciled=True, health=down())
    assert not write_cluster_status(restarted, KEY, copy.deepcopy(kube.body))
    assert (kube.writes, len(kube.events)) == (1, 1)


def test_nothing_of_a_deleted_cluster_stays_and_one_created_again_announces_its_problem_afresh() -> None:
    kube = _Kube(BODY)
    state = OperatorState(settings=Settings(), kube=kube, queue=None, api=None)  # type: ignore[arg-type]
    state.clusters[KEY] = ClusterRecord(reconciled=True, health=down())
    assert write_cluster_status(state, KEY, copy.deepcopy(kube.body)) and len(kube.events) == 1
    forgotten = state.forget_cluster(KEY, "u")
    assert forgotten is not None and forgotten.announced == "TargetsUnhealthy"
    record = weakref.ref(forgotten)
    del forgotten
    gc.collect()
    assert record() is None  # nothing holds the deleted cluster's record (its announced reason with it)
    # Created again under the same name (another uid, no status yet), with the same problem: announced.
    again = copy.deepcopy(BODY)
    again["metadata"]["uid"] = "u2"
    kube.body = copy.deepcopy(again)
    state.clusters[KEY] = ClusterRecord(reconciled=True, health=down())
    assert write_cluster_status(state, KEY, again) and [e[1] for e in kube.events] == ["TargetsUnhealthy"] * 2
