"""NotificationChannel and SuppressionPolicy wiring: indexes of the parsed objects, status and Events,
test-send, and a change marks every cluster's reconcile due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP, VERSION
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.identity import ObjectRef
from ..plans.alertmanager import IndexedObject, index_object
from ..plans.status import PLURALS
from ..plans.testsend import ANNOTATION, last_test
from ..reconcile.status import write_member_status
from ..reconcile.testsend import send_test
from ..settings import Settings
from .memo import state_of, world_of


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    for kind, index_id in ((NotificationChannel, "channel_index"), (SuppressionPolicy, "policy_index")):
        plural = PLURALS[kind.__name__]
        kopf.index(GROUP, VERSION, plural, id=index_id, registry=registry)(_indexer(kind))
        kopf.on.event(GROUP, VERSION, plural, id=f"{index_id}_changed", registry=registry)(_on_change(index_id))

    @kopf.on.event(GROUP, VERSION, "notificationchannels", registry=registry, id="test_send")
    async def test_send(body: kopf.Body, type: str, memo: kopf.Memo, **_: Any) -> None:
        """A new value of the `alertagent.io/test-send` annotation posts a test alert; the outcome
        goes to `status.lastTest` (and a Warning Event when it failed)."""
        value = body.metadata.annotations.get(ANNOTATION)
        last = (body.get("status") or {}).get("lastTest") or {}
        if type == "DELETED" or not value or last.get("value") == value:
            return
        state = state_of(memo)
        ref = ObjectRef.of(dict(body), "NotificationChannel")
        ok, message, code = await asyncio.to_thread(send_test, state, ref, value)
        status = {"lastTest": last_test(value, ok, message, datetime.now(UTC), code)}
        await asyncio.to_thread(state.kube.patch_status, PLURALS[ref.kind], ref.namespace, ref.name, status)
        if not ok:
            await asyncio.to_thread(state.kube.post_event, dict(body), "Warning", "TestSendFailed", message)


def _indexer(kind: type[NotificationChannel] | type[SuppressionPolicy]) -> Any:
    def index(body: kopf.Body, **_: Any) -> dict[ObjectRef, IndexedObject]:
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
