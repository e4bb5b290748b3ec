"""Reference rows: how fast this machine copies 64 MiB in one thread, into fresh or touched memory.

Copies into fresh memory pay a page fault per 4 KiB page unless the allocation is backed by
transparent huge pages (numpy advises them for large arrays; glibc's malloc does not), so the
two differ a lot; a one-copy send can at best match the one that fits how it allocates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import far_side

FRESH_NUMPY = "numpy copy into fresh memory (huge pages advised)"


def _time(copy: Callable[[], Any], nbytes: int) -> float:
    start = time.perf_counter()
    result = copy()
    seconds = time.perf_counter() - start
    del result
    return nbytes / seconds / 1e9


def copies(nbytes: int) -> dict[str, float]:
    """One timing (GB/s) of each kind of copy of ``nbytes``."""
    source = bytearray(b"\x01" * nbytes)
    target = bytearray(nbytes)
    far_side.touch_pages(target)
    target_view, source_view = memoryview(target), memoryview(source)

    def into_touched() -> None:
        target_view[:] = source_view

    rows = {
        "bytes(bytearray): malloc'd fresh memory": _time(lambda: bytes(source), nbytes),
        "memoryview slice copy into touched memory": _time(into_touched, nbytes),
    }
    try:
        import numpy as np
    except ImportError:
        return rows
    array = np.frombuffer(source, dtype=np.uint8).copy()
    touched = np.ones_like(array)
    rows[FRESH_NUMPY] = _time(array.copy, nbytes)
    rows["numpy copyto into touched memory"] = _time(lambda: np.copyto(touched, array), nbytes)
    return rows
