"""One sync: write the rule files atomically, reload the target, verify it loaded them, report back.

The report is three annotations on each rule ConfigMap, which the operator reads into the
AlertRules' `status.targets`: `alertagent.io/loaded-hash` (the content hash the target loaded),
`alertagent.io/loaded-time`, and `alertagent.io/sync-error` (set while a sync fails).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
from kubernetes import client

from alertagent.metrics import CONFIG_RELOAD_TOTAL
from alertagent.render.rules import LoadedGroup, expected_groups
from alertagent.settings import LOADED_HASH_ANNOTATION, LOADED_TIME_ANNOTATION, SYNC_ERROR_ANNOTATION
from alertagent.targets.rules import ReloadError, loaded_groups, reload

from .watcher import Shard

log = logging.getLogger(__name__)


def write_files(rules_dir: Path, files: Mapping[str, str]) -> bool:
    """Make `rules_dir` hold exactly `files` (*.yaml): each written to a temp file and renamed into
    place, stale ones removed. Returns whether anything changed."""
    changed = False
    for name, text in files.items():
        target = rules_dir / name
        if target.exists() and target.read_text() == text:
            continue
        fd, tmp = tempfile.mkstemp(dir=rules_dir, prefix=".tmp-", suffix=".part")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
        changed = True
    for stale in rules_dir.glob("*.yaml"):
        if stale.name not in files:
            stale.unlink()
            changed = True
    return changed


def describe_difference(expected: set[LoadedGroup], loaded: set[LoadedGroup]) -> str:
    """`missing groups [...]`, `unexpected groups [...]`, `different rules in [...]`, for messages."""
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


class Syncer:
    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        rules_dir: Path,
        target_url: str,
        target_name: str,
        verify_timeout: float = 30.0,
    ):
        self.core, self.namespace = core, namespace
        self.rules_dir, self.target_url, self.target_name = rules_dir, target_url, target_name
        self.verify_timeout = verify_timeout
        self.http = httpx.Client(timeout=10)
        self.synced_once = False
        self.last_error: str | None = None

    def sync(self, shards: Mapping[str, Shard]) -> None:
        """Bring the target to `shards`; raises (after reporting) when the target does not load them."""
        files = {name: text for shard in shards.values() for name, text in shard.data.items()}
        write_files(self.rules_dir, files)
        pending = {n: s for n, s in shards.items() if s.annotations.get(LOADED_HASH_ANNOTATION) != s.content_hash}
        try:
            self._reload_and_verify(files)
        except (ReloadError, httpx.HTTPError, TimeoutError) as err:
            self.last_error = str(err)
            CONFIG_RELOAD_TOTAL.labels(self.target_name, "error").inc()
            self._report(pending, error=self.last_error[:1000])
            raise
        CONFIG_RELOAD_TOTAL.labels(self.target_name, "success").inc()
        self.last_error = None
        self._report(pending, error=None)
        self.synced_once = True

    def _reload_and_verify(self, files: Mapping[str, str]) -> None:
        reload(self.http, self.target_url)
        expected = expected_groups(files)
        deadline = time.monotonic() + self.verify_timeout
        while True:  # vmalert reloads asynchronously: poll until the groups are there
            loaded = loaded_groups(self.http, self.target_url)
            ours = {g for g in loaded if g.file in files}
            if ours == expected:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.target_name} did not load the rules: {describe_difference(expected, ours)}")
            time.sleep(0.2)

    def _report(self, shards: Mapping[str, Shard], error: str | None) -> None:
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        for shard in shards.values():
            if error is None:
                annotations = {LOADED_HASH_ANNOTATION: shard.content_hash, LOADED_TIME_ANNOTATION: now,
                               SYNC_ERROR_ANNOTATION: None}  # fmt: skip
            else:
                annotations = {SYNC_ERROR_ANNOTATION: error}
            try:
                self.core.patch_namespaced_config_map(
                    shard.name, self.namespace, {"metadata": {"annotations": annotations}}
                )
            except client.exceptions.ApiException as err:
                if err.status != 404:  # deleted meanwhile: nothing to report on
                    log.warning("reporting on %s failed: %s", shard.name, err)
