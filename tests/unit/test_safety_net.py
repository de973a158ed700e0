"""The Alertmanager safety net with an injected checker: the objects the tool refuses are left out
alone with its message, everything else is rendered, and `alertagent render` reports the same."""

from __future__ import annotations

from typing import Any

from alertagent.api import AlertmanagerCluster, NotificationChannel
from alertagent.common.culprits import scrub
from alertagent.common.identity import ObjectRef
from alertagent.plans.offline import render_manifests
from alertagent.render.checked import render_checked

CLUSTER = {
    "apiVersion": "alertagent.io/v1alpha1",
    "kind": "AlertmanagerCluster",
    "metadata": {"name": "main", "namespace": "monitoring"},
    "spec": {"alertmanager": {"url": "http://am:9093"}},
}


def channel(name: str, namespace: str = "team-a") -> dict[str, Any]:
    return {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "NotificationChannel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "webhook", "webhook": {"url": f"http://{name}.example/hook"}, "route": {}},
    }


def refuses_bad(text: str) -> str | None:
    """Stands in for amtool: refuses any file with a receiver whose URL names `bad`."""
    return "unsupported scheme for bad.example" if "bad.example" in text else None


def test_the_refused_channel_is_left_out_alone_and_the_rest_rendered() -> None:
    cluster = AlertmanagerCluster.model_validate(CLUSTER)
    channels = [NotificationChannel.model_validate(channel(n)) for n in ("good", "bad", "other")]
    checked = render_checked(cluster, channels, [], lambda ns, ref: None, refuses_bad)
    assert checked.culprits == {ObjectRef("NotificationChannel", "team-a", "bad"): "unsupported scheme for bad.example"}
    assert checked.error is None
    receivers = {r["name"] for r in checked.rendered.config["receivers"]}
    assert {"team-a/good", "team-a/other"} <= receivers and "team-a/bad" not in receivers


def test_a_refusal_no_object_explains_alone_is_returned_as_the_error() -> None:
    cluster = AlertmanagerCluster.model_validate(CLUSTER)
    channels = [NotificationChannel.model_validate(channel(n)) for n in ("a", "b")]

    def together(text: str) -> str | None:
        return "a and b clash" if "a.example" in text and "b.example" in text else None

    checked = render_checked(cluster, channels, [], lambda ns, ref: None, together)
    assert (checked.culprits, checked.error) == ({}, "a and b clash")


def test_render_reports_the_culprit_invalid_and_writes_everything_else() -> None:
    result = render_manifests([CLUSTER, channel("good"), channel("bad")], check_config=refuses_bad)
    reports = {(r.kind, r.name): r for r in result.reports}
    assert not result.all_valid
    bad = reports["NotificationChannel", "bad"]
    assert not bad.valid and bad.errors == [
        "monitoring/main: Alertmanager refuses it (amtool): unsupported scheme for bad.example"
    ]
    assert reports["NotificationChannel", "good"].valid and reports["AlertmanagerCluster", "main"].valid
    text = next(t for p, t in result.files.items() if p.name == "alertmanager.yaml")
    assert "good.example" in text and "bad.example" not in text


def test_a_live_channel_that_turns_bad_keeps_its_last_good_version() -> None:
    cluster = AlertmanagerCluster.model_validate(CLUSTER)
    before = NotificationChannel.model_validate(channel("hooks"))
    after = NotificationChannel.model_validate({**channel("hooks"), "spec": {**channel("bad")["spec"]}})
    ref = ObjectRef("NotificationChannel", "team-a", "hooks")
    checked = render_checked(cluster, [after], [], lambda ns, r: None, refuses_bad, {ref: before})
    assert checked.culprits.keys() == {ref} and checked.kept == {ref} and checked.error is None
    (hooks,) = [r for r in checked.rendered.config["receivers"] if r["name"] == "team-a/hooks"]
    assert hooks["webhook_configs"][0]["url"] == "http://hooks.example/hook"  # the version last written
    new = render_checked(cluster, [after], [], lambda ns, r: None, refuses_bad, {})  # never live: left out
    assert new.kept == frozenset() and "team-a/hooks" not in {r["name"] for r in new.rendered.config["receivers"]}


def test_a_bad_global_secret_is_the_clusters_fault_alone_and_never_quoted() -> None:
    """The cluster's Slack URL Secret holds no URL: the cluster says so (the value redacted), the Slack
    channel that needed it says why, and an unrelated channel is still written."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "glob", "namespace": "monitoring"},
        "stringData": {"url": "https://SEKRET5 host/x\\n"},
    }
    cluster = {**CLUSTER, "spec": {**CLUSTER["spec"], "global": {"slackApiUrl": {"name": "glob", "key": "url"}}}}
    slack = {**channel("slack"), "spec": {"type": "slack", "slack": {"channel": "#ops"}, "route": {}}}
    result = render_manifests([secret, cluster, slack, channel("hooks")], check_config=refuses_bad)
    reports = {(r.kind, r.name): r for r in result.reports}
    (error,) = reports["AlertmanagerCluster", "main"].errors
    assert error == (
        "monitoring/main: spec.global: slack_api_url from its Secret: "
        "parse <secret value>: invalid character in host name"
    )
    assert "no global Slack API URL set" in reports["NotificationChannel", "slack"].errors[0]
    assert reports["NotificationChannel", "hooks"].valid
    assert "SEKRET" not in repr([r.as_json() for r in result.reports])
    text = next(t for p, t in result.files.items() if p.name == "alertmanager.yaml")
    assert "hooks.example" in text and "SEKRET" not in text


def test_scrub_catches_the_escaped_and_trimmed_forms_a_tool_prints() -> None:
    assert scrub('parse "https://SEKRET1\\n": bad', {"https://SEKRET1\n"}) == 'parse "<secret>": bad'
    assert scrub("token SEKRET2 rejected", {" SEKRET2 \t"}) == "token <secret> rejected"
