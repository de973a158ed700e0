"""The gateway's channels: read from channels files (`ChannelsFile` JSON, written by the operator into
the Secret `<cluster>-gateway-channels`, key `channels.json`), re-read when they change.

Each `--channels-file` is a file or a folder (a mounted Secret: every `*.json` directly in it, hidden
entries such as Kubernetes' `..data` skipped); several are allowed, one per AlertmanagerCluster. A file
that cannot be read or parsed keeps its last good channels and is reported (without its content: it
holds robot URLs and secrets)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from ..render.robots.models import ChannelsFile, GatewayChannel, IncidentSettings

log = logging.getLogger("alertagent.gateway.channels")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".json" and not p.name.startswith(".") and p.is_file())
    return [path]


def describe_error(err: Exception) -> str:
    """One line for a load failure, never quoting the input (pydantic would show the values)."""
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in err.errors())
    if isinstance(err, json.JSONDecodeError):
        return f"not JSON: {err.msg} at line {err.lineno} column {err.colno}"
    if isinstance(err, OSError):
        return f"cannot read: {err.strerror or err}"
    return type(err).__name__


class ChannelSource:
    """The channels of every channels file, by key; `poll()` re-reads the files whose mtime or size
    changed and returns whether the channels changed."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.channels: dict[str, GatewayChannel] = {}
        self.errors: dict[str, str] = {}  # file -> its last load error
        self._seen: dict[Path, tuple[int, int]] = {}
        self._by_file: dict[Path, dict[str, GatewayChannel]] = {}
        self.incidents: dict[str, IncidentSettings] = {}  # cluster key -> its incident engine's settings
        self._incidents_by_file: dict[Path, tuple[str, IncidentSettings | None]] = {}
        self.clusters: dict[str, str] = {}  # channel key -> the cluster key of its channels file

    def poll(self) -> bool:
        current: dict[Path, tuple[int, int]] = {}
        for root in self.paths:
            for file in _files(root):
                try:
                    st = file.stat()
                except OSError as err:
                    self._record(file, err)
                    continue
                current[file] = (st.st_mtime_ns, st.st_size)
        changed = set(current) != set(self._seen) or any(self._seen.get(f) != sig for f, sig in current.items())
        if not changed:
            return False
        for file in set(self._by_file) - set(current):
            del self._by_file[file]
            self._incidents_by_file.pop(file, None)
        for file, sig in current.items():
            if self._seen.get(file) == sig:
                continue
            try:
                doc = ChannelsFile.model_validate_json(file.read_bytes())
            except (OSError, ValueError) as err:
                self._record(file, err)
                continue
            self.errors.pop(str(file), None)
            mismatched = sorted(k for k, c in doc.channels.items() if c.key != k)
            if mismatched:
                log.warning(
                    "channels file %s: keys %s differ from their channel's key; using the key", file, mismatched
                )
            self._by_file[file] = {k: c.model_copy(update={"key": k}) for k, c in doc.channels.items()}
            self._incidents_by_file[file] = (doc.cluster, doc.incidents)
            log.info("channels file %s (cluster %s): %d channels", file, doc.cluster, len(doc.channels))
        self._seen = current
        merged: dict[str, GatewayChannel] = {}
        for file in sorted(self._by_file):
            for key, channel in sorted(self._by_file[file].items()):
                if key in merged:
                    log.warning("channel %s is in more than one channels file; using the first (%s)", key, file)
                    continue
                merged[key] = channel
                self.clusters[key] = self._incidents_by_file[file][0]
        self.incidents = {c: i for c, i in self._incidents_by_file.values() if i is not None}
        before, self.channels = self.channels, merged
        return before != merged

    def _record(self, file: Path, err: Exception) -> None:
        text = describe_error(err)
        if self.errors.get(str(file)) != text:
            log.error("channels file %s: %s (keeping its last good channels)", file, text)
        self.errors[str(file)] = text
