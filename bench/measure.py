"""One timed run of a peer on a workload, with its peak RSS and the references it left behind.

Runs inside the peer's own process (see peer_process.py), so one peer's leftovers cannot slow
another, and VmHWM is that peer's alone.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

import far_side
import peers as peer_module
import workloads as wl

import interpchan


def settle() -> None:
    """Lets released items come home (CPython's queues release them by a pending call)."""
    gc.collect()
    time.sleep(0.002)
    gc.collect()


def measure(
    peer: peer_module.Peer, workload: wl.Workload, n: int, timeout: float, budget: float
) -> dict[str, Any]:
    """One timed run: its figure in the workload's unit, peak RSS over the start, leaked refs.

    ``count`` is how many items (round trips) it did, fewer than n if round trips ran past
    ``budget`` seconds.
    """
    settle()
    item = workload.make() if workload.make else None
    refs_before = sys.getrefcount(item)
    far_side.reset_peak_rss()
    base_kib = far_side.status_kib("VmRSS")
    run = None
    samples = None
    if workload.kind == wl.STREAM:
        run = peer.stream(item, n, timeout)
    elif workload.kind == wl.BACK:
        import numpy

        run = peer.stream_back(
            workload.nbytes, n, lambda b: numpy.frombuffer(b, numpy.uint8), timeout
        )
    elif workload.kind == wl.CIRCULATE:
        run = peer.circulate(workload.nbytes, workload.pool, n, timeout)
    else:
        samples = peer.round_trips(n, timeout, budget)
    peak_kib = max(0, far_side.status_kib("VmHWM") - base_kib) + (run.far_peak_kib if run else 0)
    settle()
    leaked = sys.getrefcount(item) - refs_before
    del item
    count = n
    if run is not None:
        value: Any = wl.rate(workload, n, run.seconds)
        seconds = run.seconds
    else:
        assert samples is not None
        value = [peer_module.percentile(samples, 0.50), peer_module.percentile(samples, 0.99)]
        count = len(samples)
        seconds = value[0] / 1e6 * count  # by the median: stalls do not shrink the next n
    return {
        "value": value,
        "count": count,
        "seconds": seconds,
        "peak_kib": peak_kib,
        "leaked_refs": leaked,
    }


def rss_over_items(items: int, timeout: float) -> dict[str, Any]:
    """interpchan, main → own-GIL sub-interpreter: process RSS while ``items`` ints go through,
    and the channels alive in the process before and after."""
    settle()
    live_before = interpchan._interpchan._live_channels()
    result = _rss_run(items, max(1, items // 10), timeout)
    settle()
    result["live_channels_before"] = live_before
    result["live_channels_after"] = interpchan._interpchan._live_channels()
    return result


def _rss_run(items: int, every: int, timeout: float) -> dict[str, Any]:
    tx, rx = interpchan.channel(capacity=10_000)
    ready_tx, ready_rx = interpchan.channel()
    with peer_module.Far(
        peer_module.SUBINTERPRETER,
        far_side.ic_rss_drain,
        rx,
        ready_tx,
        items,
        every,
        timeout,
        timeout=max(timeout, items / 100_000),
        on_failure=(tx, rx),
    ) as far:
        far.wait_ready(ready_rx)
        send = tx.send
        start = time.perf_counter()
        for i in range(items):
            send(i)
        samples = far.join()
        seconds = time.perf_counter() - start
    return {"items": items, "every": every, "rss_kib": samples, "seconds": seconds}
