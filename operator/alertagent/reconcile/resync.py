"""A relist replaces what the operator knew, as a client-go informer's does (`DeltaFIFO.Replace`): an
object the operator saw, which a complete listing no longer has, was deleted while no watch ran (the
watch expired with 410 Gone after etcd compaction, the API server restarted, the connection dropped
for longer than the API server keeps history) and is handled as deleted.

Pure bookkeeping over raw watch events (`{"type": ..., "object": {...}}`, Kopf's convention: type
None for an object a listing returned); `handlers.resync` feeds it Kopf's watch streams and puts the
deletions it returns into them.

What is kept per object is its last metadata, never its payload (a deletion's final state is unknown
anyway: client-go's `DeletedFinalStateUnknown`): apiVersion, kind, and of `metadata` the name,
namespace, uid, resourceVersion, generation, labels (handler filters match on them), finalizers,
ownerReferences and deletionTimestamp."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

RawEvent = dict[str, Any]  # {"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | None, "object": body}
Body = dict[str, Any]

_KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "labels",
    "finalizers",
    "ownerReferences",
    "deletionTimestamp",
)


UNREAD_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def slimmed(event: RawEvent) -> RawEvent:
    """A raw watch event without what no handler reads and which can outweigh the object itself:
    `metadata.managedFields` (server-side apply) and kubectl's last-applied annotation (a copy of
    the whole object). Kopf holds every listed object's event until its indexes are complete, so at
    a start with thousands of objects this halves the operator's peak memory. Changes `event` in
    place and returns it."""
    obj = event.get("object")
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in UNREAD_ANNOTATIONS:
                annotations.pop(key, None)
    return event


def last_known(body: Mapping[str, Any]) -> Body:
    """What is remembered of an object: its identity and metadata, without spec, data or status."""
    meta = body.get("metadata") or {}
    kept = {k: meta[k] for k in _KEPT_METADATA if k in meta}
    return {"apiVersion": body.get("apiVersion", ""), "kind": body.get("kind", ""), "metadata": kept}


def deletion(known: Mapping[str, Any], now: str) -> RawEvent:
    """The DELETED event of an object that vanished, from what was known of it. `now` (RFC 3339) becomes
    its deletionTimestamp when it had none: it was deleted by now, and Kopf stops an object's daemons
    (the per-cluster reconciler) only for an object marked as deleted."""
    meta = dict(known.get("metadata") or {})
    meta.setdefault("deletionTimestamp", now)
    return {"type": "DELETED", "object": {**known, "metadata": meta}}


def _sort_key(body: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "", meta.get("uid") or "")


def vanished(known: Mapping[str, Body], listed: Collection[str]) -> list[Body]:
    """The known objects (uid → last known body) a complete listing (its uids) does not have, sorted
    by namespace, name and uid."""
    return sorted((body for uid, body in known.items() if uid not in listed), key=_sort_key)


@dataclass
class Relist:
    """What one watch stream (one kind, one namespace or all) has seen, to find at each complete
    listing the objects that vanished. Feed it every event of the stream in order: `begin()` when a
    listing starts, `observe(event)` for each event, `listed(now)` when a listing is complete. Each
    returns the DELETED events to deliver before going on (sorted; empty when nothing vanished)."""

    known: dict[str, Body] = field(default_factory=dict)  # uid → last known body
    uids: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, name) → uid
    listing: set[str] | None = None  # uids of the listing under way; None when none is

    def begin(self) -> None:
        """A listing starts (a partial one, cut by an error, is never completed: only complete
        listings decide what vanished)."""
        self.listing = set()

    def unchanged(self, event: Mapping[str, Any]) -> bool:
        """Whether `event` is a relisted object at the very version last seen of it: nothing happened
        to it while no watch ran, so no handler needs it again (call before `observe`). After an API
        server restart every watch relists; passing on only what changed keeps a change made meanwhile
        from queueing behind every unchanged object."""
        body = event.get("object") or {}
        meta = body.get("metadata") or {}
        if event.get("type") is not None or self.listing is None or not meta.get("resourceVersion"):
            return False
        known = self.known.get(meta.get("uid") or "")
        return known is not None and known["metadata"].get("resourceVersion") == meta["resourceVersion"]

    def observe(self, event: Mapping[str, Any], now: str) -> list[RawEvent]:
        """Record one event. An object of the same namespace and name under another uid means the one
        known was deleted (and created again) meanwhile: its deletion is returned, to come first, as
        the API server would have sent it."""
        kind, body = event.get("type"), event.get("object") or {}
        meta = body.get("metadata") or {}
        uid = meta.get("uid")
        if kind not in (None, "ADDED", "MODIFIED", "DELETED") or not uid:
            return []  # BOOKMARK (no identity), or an object without uid Kopf keys otherwise
        name = (meta.get("namespace") or "", meta.get("name") or "")
        if kind == "DELETED":
            self.known.pop(uid, None)
            if self.uids.get(name) == uid:
                del self.uids[name]
            return []
        replaced = self.uids.get(name)
        before = self.known.pop(replaced, None) if replaced not in (None, uid) else None
        gone = [deletion(before, now)] if before is not None else []
        self.known[uid] = last_known(body)
        self.uids[name] = uid
        if kind is None and self.listing is not None:
            self.listing.add(uid)
        return gone

    def listed(self, now: str) -> list[RawEvent]:
        """The listing is complete: forget, and return the deletions of, every known object it did not
        return."""
        if self.listing is None:
            return []
        gone = vanished(self.known, self.listing)
        self.listing = None
        for body in gone:
            meta = body["metadata"]
            self.known.pop(meta["uid"], None)
            name = (meta.get("namespace") or "", meta.get("name") or "")
            if self.uids.get(name) == meta["uid"]:
                del self.uids[name]
        return [deletion(body, now) for body in gone]
