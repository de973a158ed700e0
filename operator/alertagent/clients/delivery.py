"""Loading rule shards into a target and reporting it (blocking), shared by the sidecar and the
operator-driven mode: reload, verify through the rules API, then annotate each shard ConfigMap with
what the target loaded (or why it failed), which the operator turns into AlertRule status."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from ..common.labels import LOADED_HASH_ANNOTATION, LOADED_TIME_ANNOTATION, SYNC_ERROR_ANNOTATION
from ..metrics import CONFIG_RELOAD_TOTAL
from ..render.rules import LoadedGroup, expected_groups
from .connection import http_status
from .prometheus import ReloadError, loaded_groups, reload

if TYPE_CHECKING:
    from kubernetes import client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardState:
    """A rule ConfigMap (or the Alertmanager config Secret) as a sidecar syncs it. Equal when the data
    and content hash are: the loaded hash is the sidecar's own report, not a change to sync."""

    name: str
    data: dict[str, str]
    content_hash: str
    loaded_hash: str | None = field(compare=False)


def describe_difference(expected: set[LoadedGroup], loaded: set[LoadedGroup]) -> str:
    """`missing groups [...]`, `unexpected groups [...]`, `old rules still loaded in [...]`."""
    want = {(g.file, g.name): g.rules for g in expected}
    have = {(g.file, g.name): g.rules for g in loaded}
    parts = []
    if missing := sorted(f"{f}:{n}" for f, n in want.keys() - have.keys()):
        parts.append(f"missing groups {missing}")
    if unexpected := sorted(f"{f}:{n}" for f, n in have.keys() - want.keys()):
        parts.append(f"unexpected groups {unexpected}")
    if different := sorted(f"{f}:{n}" for (f, n) in want.keys() & have.keys() if want[f, n] != have[f, n]):
        parts.append(f"old rules still loaded in {different} (did the target reject the new files? see its log)")
    return "; ".join(parts)


def reload_and_verify(
    http: httpx.Client, url: str, name: str, files: Mapping[str, str], timeout_seconds: float
) -> None:
    """POST /-/reload, then poll the rules API (every 0.2 s, for at most `timeout_seconds`) until exactly
    these files' groups are loaded (vmalert reloads asynchronously). Raises ReloadError,
    httpx.HTTPError or TimeoutError."""
    reload(http, url)
    expected = expected_groups(files)
    deadline = time.monotonic() + timeout_seconds
    while True:
        ours = {g for g in loaded_groups(http, url) if g.file in files}
        if ours == expected:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not load the rules: {describe_difference(expected, ours)}")
        time.sleep(0.2)


def deliver(
    core: client.CoreV1Api,
    http: httpx.Client,
    namespace: str,
    target_url: str,
    target_name: str,
    shards: Iterable[ShardState],
    verify_timeout_seconds: float,
) -> None:
    """Reload and verify, count it, and report on every shard not yet reported loaded. Raises
    ReloadError, httpx.HTTPError or TimeoutError after reporting the failure on the shards."""
    shards = list(shards)
    files = {name: text for shard in shards for name, text in shard.data.items()}
    pending = [s for s in shards if s.loaded_hash != s.content_hash]
    try:
        reload_and_verify(http, target_url, target_name, files, verify_timeout_seconds)
    except (ReloadError, httpx.HTTPError, TimeoutError) as err:
        CONFIG_RELOAD_TOTAL.labels(target_name, "error").inc()
        report(core, namespace, pending, error=str(err)[:1000])
        raise
    CONFIG_RELOAD_TOTAL.labels(target_name, "success").inc()
    report(core, namespace, pending, error=None)


def report(
    core: client.CoreV1Api, namespace: str, shards: Iterable[ShardState], error: str | None, secrets: bool = False
) -> None:
    """Annotate each ConfigMap (or, with `secrets`, Secret) with what the target loaded, or why not."""
    patch = core.patch_namespaced_secret if secrets else core.patch_namespaced_config_map
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    for shard in shards:
        annotations: dict[str, str | None]
        if error is None:
            annotations = {
                LOADED_HASH_ANNOTATION: shard.content_hash,
                LOADED_TIME_ANNOTATION: now,
                SYNC_ERROR_ANNOTATION: None,
            }
        else:
            annotations = {SYNC_ERROR_ANNOTATION: error}
        try:
            patch(shard.name, namespace, {"metadata": {"annotations": annotations}})
        except Exception as err:  # the typed client's ApiException (imported by whoever made `core`)
            if http_status(err) != 404:  # deleted meanwhile: nothing to report on
                log.warning("reporting on %s failed: %s", shard.name, err)
