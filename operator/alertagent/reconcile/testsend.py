"""Test-send: post a channel's test alert to every Alertmanager that renders the channel (blocking,
`send_test`); a gateway channel's test message goes through each such cluster's gateway instead, which
delivers it to the robot at once and relays the robot's own answer. `serve_test_sends` serves one channel's
requests on the event loop: it waits until the operator knows which clusters render the channel (see
`plans.testsend.plan_test_send`), sends, and records the outcome in `status.lastTest`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.notificationchannel import delivery_of
from ..clients.alertmanager import post_alerts
from ..clients.http import http_client
from ..common.identity import ObjectRef
from ..plans.gateway import channels_secret_name, deployed_channels
from ..plans.status import PLURALS
from ..plans.testsend import (
    SendOutcome,
    gateway_not_loaded,
    gateway_test_answer,
    gateway_test_url,
    last_test,
    plan_test_send,
    synthetic_alert,
)
from .state import OperatorState

log = logging.getLogger(__name__)

GATEWAY_TEST_TIMEOUT = 30.0  # seconds: the gateway answers once the robot did
GATEWAY_LOAD_WAIT = 90.0  # seconds a gateway may take to load a new channel (the kubelet's Secret sync)
GATEWAY_LOAD_POLL = 1.0  # seconds between tries meanwhile
POLL_SECONDS = 0.25  # how often a waiting test-send looks whether the memberships are complete


async def serve_test_sends(state: OperatorState, channel: ObjectRef, primed: Callable[[], bool]) -> None:
    """Serve `state.test_sends.pending[channel]` until nothing is pending for the channel: wait while
    the memberships are incomplete (`primed()`: every cluster reconciled since start; settled: no
    reconcile due or running), at most `priming_max_seconds` per request, then send it once, record
    `status.lastTest` and, when it failed, post a Warning Event `TestSendFailed`. A value requested
    meanwhile is served next; the channel's deletion drops its request. Raises nothing (API errors
    are logged; a send that raised is recorded as failed, not repeated)."""
    requests = state.test_sends
    try:
        while channel in requests.pending:
            value, body, since = requests.pending[channel]
            recorded = ((body.get("status") or {}).get("lastTest") or {}).get("value")
            action = plan_test_send(
                value,
                recorded,
                requests.sent.get(channel),
                primed=primed(),
                settled=not state.queue.busy(),
                waited=time.monotonic() - since,
                patience=state.settings.priming_max_seconds,
            )
            if action == "wait":
                await asyncio.sleep(POLL_SECONDS)
                continue
            del requests.pending[channel]
            if action == "send":
                await _send_and_record(state, channel, value, body)
    finally:
        requests.waiting.discard(channel)


async def _send_and_record(state: OperatorState, channel: ObjectRef, value: str, body: dict[str, Any]) -> None:
    # Recorded before sending: a channel deleted meanwhile has `forget()` run on it, which must win.
    state.test_sends.sent[channel] = value
    try:
        ok, message, code = await asyncio.to_thread(send_test, state, channel, value)
    except Exception as err:  # an API error mid-way: what was sent is unknown, so it is not repeated
        log.warning("test-send of %s failed: %s", channel, err)
        ok, message, code = False, f"{err.__class__.__name__}: {err}", None
    log.info("test-send %r of %s: %s (%s)", value, channel, "Succeeded" if ok else "Failed", message)
    status = {"lastTest": last_test(value, ok, message, datetime.now(UTC), code)}
    try:
        await asyncio.to_thread(state.kube.patch_status, PLURALS[channel.kind], channel.namespace, channel.name, status)
        if not ok:
            await asyncio.to_thread(state.kube.post_event, body, "Warning", "TestSendFailed", message)
    except Exception as err:  # the channel deleted meanwhile, or the API server away
        log.warning("outcome of the test-send of %s not recorded: %s", channel, err)


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
    from the cluster's channels Secret); while a gateway says it has not loaded the channel yet
    (`gateway_not_loaded`), again every `GATEWAY_LOAD_POLL` s, for at most `GATEWAY_LOAD_WAIT` s in all.
    The first failing robot's code is kept, else the last one's."""
    outcomes: list[tuple[str, SendOutcome]] = []
    timeout = max(state.settings.target_timeout_seconds, GATEWAY_TEST_TIMEOUT)
    loaded_by = time.monotonic() + GATEWAY_LOAD_WAIT  # one bound for all the clusters' gateways
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
                while True:
                    response = http.post(url, headers={"Authorization": f"Bearer {entry.token}"})
                    if not gateway_not_loaded(response.status_code, response.text) or time.monotonic() > loaded_by:
                        break
                    time.sleep(GATEWAY_LOAD_POLL)  # its Secret is not mounted yet: nothing was sent
                outcomes.append((key, gateway_test_answer(response.status_code, response.text)))
            except httpx.HTTPError as err:
                outcomes.append((key, SendOutcome(False, f"gateway unreachable: {err.__class__.__name__}")))
    ok = all(o.ok for _, o in outcomes)
    failed = [o for _, o in outcomes if not o.ok]
    code = failed[0].code if failed else outcomes[-1][1].code
    return SendOutcome(ok, "; ".join(f"{key}: {o.message}" for key, o in outcomes), code)
