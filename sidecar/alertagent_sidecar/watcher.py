"""List-then-watch of the rule ConfigMaps by label, or of the Alertmanager config Secret by name:
resumes from the list's resourceVersion, relists on 410 Gone (so deletes between watches are never
missed), handles every event type the API server sends (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR),
and records when it last heard from the API server so /healthz can fail on a stale watch."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from alertagent.clients.delivery import ShardState as Shard
from alertagent.common.labels import CONTENT_HASH_ANNOTATION, LOADED_HASH_ANNOTATION

log = logging.getLogger(__name__)


class ShardWatcher:
    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        selector: str,
        on_change: Callable[[], None],
        watch_timeout: int = 60,
        secrets: bool = False,
    ):
        """`selector` is a label selector, or with `secrets` a field selector (`metadata.name=...`)."""
        self.core, self.namespace, self.secrets = core, namespace, secrets
        self.list_fn = core.list_namespaced_secret if secrets else core.list_namespaced_config_map
        self.selectors = {"field_selector" if secrets else "label_selector": selector}
        self.on_change = on_change
        self.watch_timeout = watch_timeout
        self.shards: dict[str, Shard] = {}
        self.lock = threading.Lock()
        self.last_contact = 0.0  # monotonic time of the last list, event, bookmark or clean watch end
        self.listed = threading.Event()
        self.stopping = threading.Event()
        self.relists = 0  # full lists made (the first, then after 410 Gone or a failed watch)
        self.bookmarks = 0  # BOOKMARK events seen: progress without objects

    def snapshot(self) -> dict[str, Shard]:
        with self.lock:
            return dict(self.shards)

    def stale(self) -> bool:
        return time.monotonic() - self.last_contact > 2 * self.watch_timeout + 30

    def _shard(self, obj: Any) -> Shard:
        annotations = obj.metadata.annotations or {}
        data = dict(obj.data or {})
        if self.secrets:
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        return Shard(
            obj.metadata.name,
            data,
            annotations.get(CONTENT_HASH_ANNOTATION, ""),
            annotations.get(LOADED_HASH_ANNOTATION),
        )

    def _relist(self) -> str:
        self.relists += 1
        listing = self.list_fn(self.namespace, **self.selectors)
        shards = {cm.metadata.name: self._shard(cm) for cm in listing.items}
        with self.lock:
            changed = {n: (s.data, s.content_hash) for n, s in shards.items()} != {
                n: (s.data, s.content_hash) for n, s in self.shards.items()
            }
            self.shards = shards
        self.last_contact = time.monotonic()
        if changed or not self.listed.is_set():
            self.listed.set()
            self.on_change()
        return str(listing.metadata.resource_version)

    def _apply(self, event_type: str, cm: Any) -> bool:
        """Apply one event; True when the data (not just our own annotations) changed."""
        name = cm.metadata.name
        with self.lock:
            before = self.shards.get(name)
            if event_type == "DELETED":
                self.shards.pop(name, None)
                return before is not None
            shard = self._shard(cm)
            self.shards[name] = shard
            return before is None or (before.data, before.content_hash) != (shard.data, shard.content_hash)

    def run(self, resource_version: str = "") -> None:
        """Watch until stop(), from `resource_version` (empty: list first); errors are logged and
        retried after a pause."""
        while not self.stopping.is_set():
            try:
                if not resource_version:
                    resource_version = self._relist()
                stream = watch.Watch()
                for event in stream.stream(
                    self.list_fn,
                    self.namespace,
                    **self.selectors,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=self.watch_timeout,
                ):
                    self.last_contact = time.monotonic()
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        code = obj.get("code", 500) if isinstance(obj, dict) else getattr(obj, "code", 500)
                        raise ApiException(status=code)
                    resource_version = _resource_version(obj) or resource_version
                    if event["type"] == "BOOKMARK":  # the client leaves a bookmark's object a plain dict
                        self.bookmarks += 1
                        continue
                    if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
                        log.warning("ignoring a watch event of unknown type %r", event["type"])
                        continue
                    if self._apply(event["type"], obj):
                        self.on_change()
                    if self.stopping.is_set():
                        stream.stop()
                self.last_contact = time.monotonic()
            except ApiException as err:
                if err.status == 410:  # our resourceVersion is too old: relist, which sees deletes too
                    log.info("watch expired (410 Gone); relisting")
                    resource_version = ""
                    continue
                log.warning("watching ConfigMaps failed: %s; retrying", err)
                resource_version = ""
                self.stopping.wait(2)
            except Exception as err:
                log.warning("watching ConfigMaps failed: %s; retrying", err)
                resource_version = ""
                self.stopping.wait(2)

    def stop(self) -> None:
        self.stopping.set()


def _resource_version(obj: Any) -> str | None:
    """The resourceVersion of a watch event's object: a client model, or (BOOKMARK) a plain dict."""
    if isinstance(obj, dict):
        version = (obj.get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None
    metadata = getattr(obj, "metadata", None)
    version = getattr(metadata, "resource_version", None)
    return str(version) if version else None
