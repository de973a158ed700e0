"""A Secret mounted into a folder as the kubelet mounts a `secret` volume, for the processes of the local
stack that read one (the gateway reads its channels Secret, `<cluster>-gateway-channels`, that way).

The layout is the kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): the data of one version in
a hidden timestamped folder `..<time>`, a symlink `..data` to it swapped by rename, and each key a
symlink `<key> -> ..data/<key>`; a reader never sees half a version. `SecretMount` polls the API server
with kubectl (the kubelet refreshes mounted Secrets periodically too, only more slowly) and writes a new
version when the data changed; before the Secret exists, and after it is deleted, the folder holds the
last version it saw (none at first), as an `optional: true` volume does."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .controlplane import ControlPlane

DATA_LINK = "..data"


def write_projection(folder: Path, data: Mapping[str, bytes]) -> None:
    """Write one version of a Secret's `data` (key → decoded bytes) into `folder` as the kubelet does:
    files (mode 0644) in a new `..<UTC time>` folder, `..data` swapped to it atomically, a symlink per
    key, keys no longer in `data` and the previous version removed. Creates `folder` if needed."""
    folder.mkdir(parents=True, exist_ok=True)
    version = folder / f"..{datetime.now(UTC).strftime('%Y_%m_%d_%H_%M_%S.%f')}"
    version.mkdir()
    for key, value in sorted(data.items()):
        path = version / key
        path.write_bytes(value)
        path.chmod(0o644)
    link, tmp = folder / DATA_LINK, folder / f"{DATA_LINK}_tmp"
    previous = os.readlink(link) if link.is_symlink() else None
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version.name)
    tmp.replace(link)  # rename(2): readers see the old version or the new one, never a mix
    for key in data:
        if not (folder / key).is_symlink():
            (folder / key).symlink_to(f"{DATA_LINK}/{key}")
    for entry in folder.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in data:
            entry.unlink()
    if previous and previous != version.name:
        for old in (folder / previous).iterdir():
            old.unlink()
        (folder / previous).rmdir()


class SecretMount:
    """Keeps `folder` equal to the Secret `namespace/name`'s data, polled every `interval` seconds on a
    daemon thread; `stop()` ends it. Errors (the API server going away at shutdown) are counted, not
    raised."""

    def __init__(self, plane: ControlPlane, namespace: str, name: str, folder: Path, interval: float = 1.0) -> None:
        self.plane, self.namespace, self.name, self.folder, self.interval = plane, namespace, name, folder, interval
        self.versions = 0  # versions written
        self.errors = 0
        self._last: dict[str, bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mount-{namespace}-{name}", daemon=True)
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> SecretMount:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def sync(self) -> bool:
        """Read the Secret once; write a new version when its data changed. Returns whether it did."""
        result = self.plane.kubectl(
            "-n", self.namespace, "get", "secret", self.name, "-o", "json", "--ignore-not-found", check=False
        )
        if result.returncode != 0:
            self.errors += 1
            return False
        if not result.stdout.strip():
            return False  # not there (yet): keep the last version, as an optional volume does
        encoded = json.loads(result.stdout).get("data") or {}
        data = {key: base64.b64decode(value) for key, value in encoded.items()}
        if data == self._last:
            return False
        write_projection(self.folder, data)
        self._last, self.versions = data, self.versions + 1
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception:  # a half-stopped control plane, a kubectl timeout: try again
                self.errors += 1
            self._stop.wait(self.interval)


@contextmanager
def mounted_secret(
    plane: ControlPlane, namespace: str, name: str, folder: Path, interval: float = 1.0
) -> Iterator[SecretMount]:
    """`SecretMount` for the length of a `with` block."""
    mount = SecretMount(plane, namespace, name, folder, interval).start()
    try:
        yield mount
    finally:
        mount.stop()
