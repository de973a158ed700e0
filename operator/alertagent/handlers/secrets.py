"""Secret watch wiring: Secrets labelled `alertagent.io/watch=true` in the watched namespaces (or every
namespace) are list-watched by label, server-side, in threads; a change or deletion of one makes every
cluster re-render its Alertmanager config (a rotated credential reaches Alertmanager in seconds; a
deleted one leaves the channel on its last-known-good receiver, see `render.alertmanager`).

Only a hash of each Secret's data is kept, never the values. RBAC: list and watch on Secrets, in
namespaced mode by Roles in the watched namespaces only (see the chart); RBAC cannot narrow list/watch
to a label, so cluster-wide mode needs them cluster-wide."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection
from typing import Any

import kopf

from ..clients.listwatch import ListWatcher
from ..common.hashing import content_hash
from ..common.labels import WATCH_LABEL
from ..settings import Settings
from .memo import state_of

STEPS = ("alertmanager",)  # what a Secret feeds: receivers and the global block
# Each watch ends with its connection closed (the client's stream does): a new TLS handshake per
# watch, so an idle operator renews it as rarely as Kopf's own watches (bookmarks keep it fresh).
WATCH_TIMEOUT_SECONDS = 540


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.on.startup(registry=registry, id="watch_secrets")
    async def watch_secrets(memo: kopf.Memo, **_: Any) -> None:
        state = state_of(memo)
        loop = asyncio.get_running_loop()
        list_secrets = state.kube.lister("secrets")

        def changed(keys: Collection[str]) -> None:
            if keys:
                loop.call_soon_threadsafe(state.queue.add_all, STEPS)

        def digest(secret: dict[str, Any]) -> str:
            return content_hash(dict(secret.get("data") or {}))

        def key(secret: dict[str, Any]) -> str:
            return f"{secret['metadata'].get('namespace')}/{secret['metadata']['name']}"

        selectors = {"label_selector": f"{WATCH_LABEL}=true"}
        namespaces: tuple[str | None, ...] = settings.namespaces or (None,)
        for namespace in namespaces:
            watcher = ListWatcher(
                list_secrets,
                (namespace,),
                selectors,
                digest,
                changed,
                watch_timeout=WATCH_TIMEOUT_SECONDS,
                key_of=key,
                what="Secrets",
                typed=False,
            )
            threading.Thread(target=watcher.run, name=f"watch-secrets-{namespace or 'all'}", daemon=True).start()
            state.background.append(watcher)
