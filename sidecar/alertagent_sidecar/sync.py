"""One sync: write the rule files atomically, then reload the target, verify it loaded them and
report back (alertagent.delivery, shared with the operator-driven mode)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx
from kubernetes import client

from alertagent.clients.delivery import ShardState, deliver


def write_atomically(target: Path, text: str) -> bool:
    """Write `text` to a temp file beside `target` and rename it into place (readers never see half a
    file). Returns False when the file already holds exactly that."""
    if target.exists() and target.read_text() == text:
        return False
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, target)
    return True


def write_files(rules_dir: Path, files: Mapping[str, str]) -> bool:
    """Make `rules_dir` hold exactly `files` (*.yaml), each written atomically, stale ones removed.
    Returns whether anything changed."""
    changed = False
    for name, text in files.items():
        changed |= write_atomically(rules_dir / name, text)
    for stale in rules_dir.glob("*.yaml"):
        if stale.name not in files:
            stale.unlink()
            changed = True
    return changed


class Syncer:
    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        rules_dir: Path,
        target_url: str,
        target_name: str,
        verify_timeout_seconds: float = 30.0,
    ):
        self.core, self.namespace = core, namespace
        self.rules_dir, self.target_url, self.target_name = rules_dir, target_url, target_name
        self.verify_timeout_seconds = verify_timeout_seconds
        self.http = httpx.Client(timeout=10)
        self.synced_once = False

    def sync(self, shards: Mapping[str, ShardState]) -> None:
        """Bring the target to `shards`; raises (after reporting) when the target does not load them."""
        write_files(self.rules_dir, {name: text for shard in shards.values() for name, text in shard.data.items()})
        deliver(
            self.core,
            self.http,
            self.namespace,
            self.target_url,
            self.target_name,
            shards.values(),
            self.verify_timeout_seconds,
        )
        self.synced_once = True
