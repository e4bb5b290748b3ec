"""What a copy costs with no channel at all: the floor the large-copy targets are judged against.

A received ``bytes`` (or a buffer copied on send) lands in fresh memory, so no channel can move
64 MiB faster than one process makes one fresh copy of it. ``CopyFloor`` measures that copy,
``bytes(buffer)``, in a process of its own and in the same rounds as the peers (so a slow spell
of the machine, or memory the host took back, hits it too); ``reference_copies`` adds how fast
this machine copies into fresh and into already touched memory (the "memcpy" extra).

Copies into fresh memory pay a page fault per 4 KiB page unless the allocation is backed by
transparent huge pages (numpy advises them for large arrays, interpchan too; glibc's malloc,
which ``bytes`` uses, does not), so the kinds of copy differ a lot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

from harness import Peer, Run, Unsupported, touch_pages


class CopyFloor(Peer):
    """One fresh copy per item in one process, ``bytes(buffer)``: no channel, no other side."""

    key = "floor"
    label = "one fresh copy, bytes(buffer)"
    between = "one process, no channel"
    reference = True

    def stream(self, item: Any, n: int, timeout: float) -> Run:
        try:
            view = memoryview(item)
        except TypeError:
            raise Unsupported("buffers only") from None
        if view.nbytes < 64 << 20:
            raise Unsupported("measured for the 64 MiB copies only")
        start = time.perf_counter()
        for _ in repeat(None, n):
            bytes(view)  # a fresh copy, dropped at once as a receiver would drop it
        return Run(time.perf_counter() - start)

    def stream_back(self, nbytes: int, n: int, wrap: Callable[[Any], Any], timeout: float) -> Run:
        data = bytearray(nbytes)
        touch_pages(data)
        start = time.perf_counter()
        for _ in repeat(None, n):
            wrap(bytes(data))
        return Run(time.perf_counter() - start)


FRESH_BYTES = "bytes(bytearray): malloc'd fresh memory"


def _gbps(copy: Callable[[], Any], nbytes: int) -> float:
    start = time.perf_counter()
    result = copy()
    seconds = time.perf_counter() - start
    del result
    return nbytes / seconds / 1e9


def reference_copies(nbytes: int) -> dict[str, float]:
    """One timing (GB/s) of each kind of copy of ``nbytes``, in this process."""
    source = bytearray(b"\x01" * nbytes)
    target = bytearray(nbytes)
    touch_pages(target)
    target_view, source_view = memoryview(target), memoryview(source)

    def into_touched() -> None:
        target_view[:] = source_view

    rows = {
        FRESH_BYTES: _gbps(lambda: bytes(source), nbytes),
        "memoryview slice copy into touched memory": _gbps(into_touched, nbytes),
    }
    try:
        import numpy as np
    except ImportError:
        return rows
    array = np.frombuffer(source, dtype=np.uint8).copy()
    touched = np.ones_like(array)
    rows["numpy copy into fresh memory (huge pages advised)"] = _gbps(array.copy, nbytes)
    rows["numpy copyto into touched memory"] = _gbps(lambda: np.copyto(touched, array), nbytes)
    return rows
