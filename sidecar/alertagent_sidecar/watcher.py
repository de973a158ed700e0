"""The sidecar's watch: the rule ConfigMaps of one evaluator by label, or the Alertmanager config
Secret by name, kept by `alertagent.clients.listwatch.ListWatcher` (relists on 410 Gone, handles every
event type, records when it last heard from the API server so /healthz can fail on a stale watch)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection
from typing import Any

from kubernetes import client

from alertagent.clients.delivery import ShardState
from alertagent.clients.listwatch import ListWatcher
from alertagent.common.labels import CONTENT_HASH_ANNOTATION, LOADED_HASH_ANNOTATION


class ShardWatcher(ListWatcher[ShardState]):
    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        selector: str,
        on_change: Callable[[], None],
        watch_timeout: int = 60,
        secrets: bool = False,
    ):
        """`selector` is a label selector, or with `secrets` a field selector (`metadata.name=...`).
        `on_change` is called when a shard's data or content hash changed (not the sidecar's own
        loaded-hash report)."""
        list_fn = core.list_namespaced_secret if secrets else core.list_namespaced_config_map
        self.secrets = secrets

        def changed(_keys: Collection[str]) -> None:
            on_change()

        super().__init__(
            list_fn,
            (namespace,),
            {"field_selector" if secrets else "label_selector": selector},
            self._shard,
            changed,
            watch_timeout,
            what="Secrets" if secrets else "ConfigMaps",
        )

    def _shard(self, obj: Any) -> ShardState:
        annotations = obj.metadata.annotations or {}
        data = dict(obj.data or {})
        if self.secrets:
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        return ShardState(
            obj.metadata.name,
            data,
            annotations.get(CONTENT_HASH_ANNOTATION, ""),
            annotations.get(LOADED_HASH_ANNOTATION),
        )
