"""Content hashes: the same content always gives the same hash, so output is written only on change."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def content_hash(data: Mapping[str, str]) -> str:
    """sha256 (64 hex characters) over the sorted keys and their values."""
    digest = hashlib.sha256()
    for key in sorted(data):
        digest.update(key.encode())
        digest.update(b"\0")
        digest.update(data[key].encode())
        digest.update(b"\0")
    return digest.hexdigest()
