"""Test-send (blocking): post a channel's test alert to every Alertmanager that renders the channel; a
gateway channel's test message goes through each such cluster's gateway instead, which delivers it to
the robot at once and relays the robot's own answer."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.notificationchannel import delivery_of
from ..clients.alertmanager import post_alerts
from ..clients.http import http_client
from ..common.identity import ObjectRef
from ..plans.gateway import channels_secret_name, deployed_channels
from ..plans.status import PLURALS
from ..plans.testsend import SendOutcome, gateway_test_answer, gateway_test_url, synthetic_alert
from .state import OperatorState

GATEWAY_TEST_TIMEOUT = 30.0  # seconds: the gateway answers once the robot did


def send_test(state: OperatorState, channel: ObjectRef, value: str) -> SendOutcome:
    """(all accepted, what happened per cluster, the robot's answer code for a gateway channel)."""
    clusters = state.memberships.rendered_in(channel)
    if not clusters:
        return SendOutcome(False, "no AlertmanagerCluster renders this channel")
    own = state.kube.get_object(PLURALS[channel.kind], channel.namespace, channel.name) or {}
    spec = own.get("spec") or {}
    if delivery_of(spec.get("type"), spec.get("delivery")) == "Gateway":
        return _send_gateway_test(state, channel, clusters)
    failures, sent = [], []
    alert = synthetic_alert(channel, value, datetime.now(UTC))
    with http_client(state.settings.target_timeout_seconds) as http:
        for cluster in clusters:
            ref = ObjectRef.parse_key("AlertmanagerCluster", cluster)
            body = state.kube.get_object(PLURALS[ref.kind], ref.namespace, ref.name)
            if body is None:
                failures.append(f"{cluster}: not found")
                continue
            try:
                post_alerts(http, body["spec"]["alertmanager"]["url"].rstrip("/"), [alert])
                sent.append(cluster)
            except httpx.HTTPError as err:
                failures.append(f"{cluster}: {err.__class__.__name__}: {err}")
    if failures:
        return SendOutcome(False, "; ".join(failures))
    return SendOutcome(True, f"test alert accepted by {', '.join(sent)}")


def _send_gateway_test(state: OperatorState, channel: ObjectRef, clusters: list[str]) -> SendOutcome:
    """POST the gateway's test endpoint of each cluster with the channel's bearer token (read back
    from the cluster's channels Secret). The first failing robot's code is kept, else the last one's."""
    outcomes: list[tuple[str, SendOutcome]] = []
    timeout = max(state.settings.target_timeout_seconds, GATEWAY_TEST_TIMEOUT)
    with http_client(timeout) as http:
        for key in clusters:
            ref = ObjectRef.parse_key("AlertmanagerCluster", key)
            body = state.kube.get_object(PLURALS[ref.kind], ref.namespace, ref.name)
            if body is None:
                outcomes.append((key, SendOutcome(False, "not found")))
                continue
            cluster = AlertmanagerCluster.model_validate(body)
            if cluster.spec.gateway is None:
                outcomes.append((key, SendOutcome(False, "has no spec.gateway")))
                continue
            file = deployed_channels(cluster, state.kube.read_secret(ref.namespace, channels_secret_name(cluster)))
            entry = file.channels.get(channel.key) if file else None
            if entry is None:
                outcomes.append((key, SendOutcome(False, "the channel is not in the gateway's channels file yet")))
                continue
            url = gateway_test_url(cluster.spec.gateway.url, channel)
            try:
                response = http.post(url, headers={"Authorization": f"Bearer {entry.token}"})
                outcomes.append((key, gateway_test_answer(response.status_code, response.text)))
            except httpx.HTTPError as err:
                outcomes.append((key, SendOutcome(False, f"gateway unreachable: {err.__class__.__name__}")))
    ok = all(o.ok for _, o in outcomes)
    failed = [o for _, o in outcomes if not o.ok]
    code = failed[0].code if failed else outcomes[-1][1].code
    return SendOutcome(ok, "; ".join(f"{key}: {o.message}" for key, o in outcomes), code)
