"""Giving freed memory back to the operating system after a burst (glibc only; elsewhere a no-op).

Why: a start or a burst of objects parses listings and events of every object; Python frees those
objects, but the C allocator keeps the pages in its heaps, so the resident size stays at the peak of
the burst. `malloc_trim(0)` returns the free pages; it costs a few milliseconds, so it runs once after
a start and after large status batches, never per event."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim() -> bool:
    """Collect garbage and return free heap pages to the OS; False where the C library cannot."""
    gc.collect()
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) is not None)
