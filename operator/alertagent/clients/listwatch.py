"""List-then-watch of one kind of object, as client-go's reflector does it: list, then watch from the
list's resourceVersion; on 410 Gone or a failed watch, list again and replace the store with the list
(so objects deleted while no watch ran are dropped, never kept); every event type the API server sends
is handled (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR). Blocking: run it in a thread.

The store maps each object's key (its name, or `namespace/name`) to a value made from it; `on_change`
is called with the keys whose value changed (after the first list: every key, possibly none).

Objects are the typed client's models (a typed list call such as `CoreV1Api.list_namespaced_secret`,
watched through the kubernetes package's `Watch`: the sidecar) or plain JSON dicts (a list function
of `Kube.lister`, with `typed=False`, whose watch answers one JSON event a line: the operator, which
never imports the kubernetes package)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Generator
from typing import Any, Generic, TypeVar

from .connection import ApiError, http_status

log = logging.getLogger(__name__)

V = TypeVar("V")
ListFunction = Callable[..., Any]  # a client list call (not a partial: the client reads its docstring)


class ListWatcher(Generic[V]):
    """`list_fn(*list_args, **selectors)` lists the objects (`list_args`: the namespace, if any; a label
    or field selector in `selectors`) and, with `watch=True`, watches them; `value_of(obj)` is what the
    store keeps of one object; `key_of(obj)` its key (default: its name)."""

    def __init__(
        self,
        list_fn: ListFunction,
        list_args: tuple[Any, ...],
        selectors: dict[str, str],
        value_of: Callable[[Any], V],
        on_change: Callable[[Collection[str]], None],
        watch_timeout: int = 60,
        key_of: Callable[[Any], str] | None = None,
        what: str = "objects",
        typed: bool = True,
    ):
        self.list_fn, self.list_args, self.selectors = list_fn, list_args, selectors
        self.value_of, self.on_change = value_of, on_change
        self.key_of = key_of or (lambda obj: str(_metadata(obj, "name")))
        self.watch_timeout, self.what = watch_timeout, what
        self._typed = typed  # models from a typed client call; else JSON dicts (`Kube.lister`)
        self.store: dict[str, V] = {}
        self.lock = threading.Lock()
        self.last_contact = 0.0  # monotonic time of the last list, event, bookmark or clean watch end
        self.listed = threading.Event()
        self.stopping = threading.Event()
        self.relists = 0  # full lists made (the first, then after 410 Gone or a failed watch)
        self.bookmarks = 0  # BOOKMARK events seen: progress without objects

    def snapshot(self) -> dict[str, V]:
        with self.lock:
            return dict(self.store)

    def stale(self) -> bool:
        """No word from the API server for two watch timeouts and then some: the watch is stuck."""
        return time.monotonic() - self.last_contact > 2 * self.watch_timeout + 30

    def _relist(self) -> str:
        self.relists += 1
        listing = self.list_fn(*self.list_args, **self.selectors)
        items = listing["items"] if isinstance(listing, dict) else listing.items
        fresh = {self.key_of(obj): self.value_of(obj) for obj in items or []}
        with self.lock:
            changed = {k for k in fresh.keys() | self.store.keys() if fresh.get(k) != self.store.get(k)}
            self.store = fresh
        self.last_contact = time.monotonic()
        if changed or not self.listed.is_set():
            self.listed.set()
            self.on_change(changed)
        return str(_resource_version(listing))

    def _apply(self, event_type: str, obj: Any) -> bool:
        """Apply one event to the store; True when the key's value changed."""
        key = self.key_of(obj)
        with self.lock:
            before = self.store.get(key)
            if event_type == "DELETED":
                self.store.pop(key, None)
                return before is not None
            value = self.value_of(obj)
            self.store[key] = value
            return before != value

    def run(self, resource_version: str = "") -> None:
        """Watch until stop(), from `resource_version` (empty: list first); errors are logged and
        retried after a pause, with a fresh list."""
        while not self.stopping.is_set():
            try:
                if not resource_version:
                    resource_version = self._relist()
                events = self._events(resource_version)
                for event in events:
                    self.last_contact = time.monotonic()
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        code = obj.get("code", 500) if isinstance(obj, dict) else getattr(obj, "code", 500)
                        raise ApiError(code)
                    resource_version = _resource_version(obj) or resource_version
                    if event["type"] == "BOOKMARK":  # the client leaves a bookmark's object a plain dict
                        self.bookmarks += 1
                        continue
                    if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
                        log.warning("ignoring a watch event of unknown type %r", event["type"])
                        continue
                    if self._apply(event["type"], obj):
                        self.on_change({self.key_of(obj)})
                    if self.stopping.is_set():
                        events.close()
                self.last_contact = time.monotonic()
            except Exception as err:
                resource_version = ""
                if http_status(err) == 410:  # our resourceVersion is too old: relist, which sees deletes too
                    log.info("watch of %s expired (410 Gone); relisting", self.what)
                    continue
                log.warning("watching %s failed: %s; retrying", self.what, err)
                self.stopping.wait(2)

    def _events(self, resource_version: str) -> Generator[dict[str, Any]]:
        """The watch's events from `resource_version`: `{"type", "object"}` dicts."""
        params: dict[str, Any] = {
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self.watch_timeout,
        }
        if self._typed:
            from kubernetes import watch  # noqa: PLC0415 - typed models: the sidecar has the package loaded

            stream: Generator[dict[str, Any]] = watch.Watch().stream(
                self.list_fn, *self.list_args, **self.selectors, **params
            )
            return stream
        return _json_lines(self.list_fn(*self.list_args, **self.selectors, **params, watch=True))

    def stop(self) -> None:
        self.stopping.set()


def _json_lines(response: Any) -> Generator[dict[str, Any]]:
    """The events of a watch response (urllib3, not preloaded): one JSON object a line. The response
    goes back to its pool when the watch ends or the generator is closed."""
    try:
        pending = b""
        for chunk in response.stream(64 * 1024):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
        if pending.strip():
            yield json.loads(pending)
    finally:
        response.release_conn()


def _metadata(obj: Any, field: str) -> Any:
    """A metadata field of a client model (snake_case) or a plain dict (the API's camelCase)."""
    if isinstance(obj, dict):
        camel = "".join(w.capitalize() if i else w for i, w in enumerate(field.split("_")))
        return (obj.get("metadata") or {}).get(camel)
    return getattr(getattr(obj, "metadata", None), field, None)


def _resource_version(obj: Any) -> str | None:
    """The resourceVersion of a listing or of a watch event's object (a model, or a plain dict)."""
    version = _metadata(obj, "resource_version")
    return str(version) if version else None
