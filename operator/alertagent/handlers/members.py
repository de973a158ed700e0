"""NotificationChannel and SuppressionPolicy wiring: indexes of the parsed objects, status and Events,
test-send, and a change marks every cluster's reconcile due."""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP, VERSION
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.identity import ObjectRef
from ..plans.alertmanager import IndexedObject, index_object
from ..plans.status import PLURALS
from ..plans.testsend import ANNOTATION, requested_value
from ..reconcile.status import write_member_status
from ..reconcile.testsend import serve_test_sends
from ..settings import Settings
from .memo import state_of, world_of


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    for kind, index_id in ((NotificationChannel, "channel_index"), (SuppressionPolicy, "policy_index")):
        plural = PLURALS[kind.__name__]
        kopf.index(GROUP, VERSION, plural, id=index_id, registry=registry)(_indexer(kind))
        kopf.on.event(GROUP, VERSION, plural, id=f"{index_id}_changed", registry=registry)(_on_change(index_id))

    @kopf.on.event(GROUP, VERSION, "notificationchannels", registry=registry, id="test_send")
    async def test_send(
        body: kopf.Body,
        type: str,
        memo: kopf.Memo,
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        **_: Any,
    ) -> None:
        """A new value of the `alertagent.io/test-send` annotation posts a test alert, once the
        operator knows which clusters render the channel (a request seen at start, or with the
        channel's creation, waits for that instead of failing); the outcome goes to `status.lastTest`
        (and a Warning Event when it failed). A sender task per channel serves the requests
        (`reconcile.testsend.serve_test_sends`), so the channel's other events are not held up."""
        state = state_of(memo)
        ref = ObjectRef.of(dict(body), "NotificationChannel")
        requests = state.test_sends
        if type == "DELETED":
            requests.forget(ref)
            return
        recorded = ((body.get("status") or {}).get("lastTest") or {}).get("value")
        value = requested_value(body.metadata.annotations.get(ANNOTATION), recorded, requests.sent.get(ref))
        if value is None:
            return
        if requests.request(ref, value, dict(body), time.monotonic()):

            def primed() -> bool:  # the index is a live view: the clusters there are when asked
                return state.primed(list(alertmanagercluster_index))

            task = asyncio.create_task(serve_test_sends(state, ref, primed), name=f"test-send {ref}")
            state.background.append(task)
            task.add_done_callback(partial(_discard, state.background))


def _discard(items: list[Any], item: Any) -> None:
    """Drop a finished task from the list of those stopped at cleanup (gone already once cleared)."""
    with contextlib.suppress(ValueError):
        items.remove(item)


def _indexer(kind: type[NotificationChannel] | type[SuppressionPolicy]) -> Any:
    async def index(body: kopf.Body, **_: Any) -> dict[ObjectRef, IndexedObject]:
        entry = index_object(kind, body)
        return {entry.ref: entry}

    return index


def _on_change(index_id: str) -> Any:
    async def changed(
        type: str,
        body: kopf.Body,
        memo: kopf.Memo,
        alertmanagercluster_index: kopf.Index[str, AlertmanagerCluster | None],
        namespace_labels: kopf.Index[str, dict[str, str]],
        **kwargs: Any,
    ) -> None:
        state = state_of(memo)
        ref = ObjectRef.of(dict(body))
        if state.change_seen(ref, type, dict(body.metadata)):
            state.queue.add_all()
        if type == "DELETED":
            return
        if not state.primed(list(alertmanagercluster_index)):
            state.hold(ref)  # memberships are not known yet: the first reconcile writes it
            return
        entry = next(iter(kwargs[index_id].get(ref, [])), None)
        world = world_of(alertmanagercluster_index, namespace_labels)
        await asyncio.to_thread(write_member_status, state, dict(body), entry, world)

    return changed
