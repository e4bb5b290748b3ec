"""interpchan itself, blocking on receive: main → own-GIL sub-interpreter, and main → thread.

The main-side methods of the ``Interpchan`` peer come first, then the far-side functions (run in
the sub-interpreter or the thread), then the RSS check over millions of items.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

from harness import (
    BLOCKS,
    SUBINTERPRETER,
    THREAD,
    Far,
    Peer,
    Run,
    Unsupported,
    idle_cpu,
    settle,
    status_kib,
    touch_pages,
    trip_range,
)

import interpchan


class Interpchan(Peer):
    """interpchan with blocking recv, to an own-GIL sub-interpreter or to a thread."""

    label = "interpchan"
    recv_mode = BLOCKS
    no_copy = frozenset({"buf1m", "buf64m"})
    carries = {  # noqa: RUF012
        "circulate": "Buffer moved, no copy",
        "numpy": "copied once; received as a memoryview",
        "back": "bytearray copied once; received as a memoryview",
    }

    def __init__(self, context: str) -> None:
        self.context = context
        self.key = "interpchan" if context == SUBINTERPRETER else "interpchan-thread"
        self.between = (
            "main → own-GIL sub-interpreter" if context == SUBINTERPRETER else "main → thread"
        )

    def registered(self) -> int | None:
        return interpchan._interpchan._live_channels()

    def stream(self, item: Any, n: int, timeout: float) -> Run:
        tx, rx = interpchan.channel()
        ready_tx, ready_rx = interpchan.channel()
        with Far(
            self.context, drain, rx, ready_tx, n, timeout, timeout=timeout, on_failure=(tx, rx)
        ) as far:
            far.wait_ready(ready_rx)
            send = tx.send
            start = time.perf_counter()
            for _ in repeat(None, n):
                send(item)
            end = far.join()
        return Run(end - start)

    def stream_back(self, nbytes: int, n: int, wrap: Callable[[Any], Any], timeout: float) -> Run:
        tx, rx = interpchan.channel()
        ready_tx, ready_rx = interpchan.channel()
        with Far(
            self.context, send_back, tx, ready_tx, nbytes, n, timeout=timeout, on_failure=(tx, rx)
        ) as far:
            start = far.wait_ready(ready_rx)
            recv = rx.recv
            for _ in repeat(None, n):
                wrap(recv(timeout))
            end = time.perf_counter()
            far.join()
        return Run(end - start)

    def circulate(self, nbytes: int, pool: int, n: int, timeout: float) -> Run:
        out_tx, out_rx = interpchan.channel()
        back_tx, back_rx = interpchan.channel()
        ready_tx, ready_rx = interpchan.channel()
        buffers = [interpchan.Buffer(nbytes) for _ in range(pool)]
        for buf in buffers:
            touch_pages(buf)
        args = (out_rx, back_tx, ready_tx, timeout)
        with Far(
            self.context, forward_buffers, *args, timeout=timeout, on_failure=(out_tx, back_rx)
        ) as far:
            far.wait_ready(ready_rx)
            send, recv = out_tx.send, back_rx.recv
            start = time.perf_counter()
            for buf in buffers:
                send(buf)
            for _ in repeat(None, n - pool):
                view = recv(timeout)
                buf = view.obj
                view.release()
                send(buf)
            home = [recv(timeout) for _ in range(pool)]
            end = time.perf_counter()
            for view in home:  # freeing the pool is not part of the moves
                view.release()
            del home
            out_tx.close()
            far.join()
        return Run(end - start)

    def round_trips(self, n: int, timeout: float, budget: float) -> list[float]:
        ping_tx, ping_rx = interpchan.channel()
        pong_tx, pong_rx = interpchan.channel()
        ready_tx, ready_rx = interpchan.channel()
        samples = []
        args = (ping_rx, pong_tx, ready_tx)
        with Far(self.context, echo, *args, timeout=timeout, on_failure=(ping_tx, pong_rx)) as far:
            far.wait_ready(ready_rx)
            send, recv, clock = ping_tx.send, pong_rx.recv, time.perf_counter_ns
            for i in trip_range(n, budget):
                start = clock()
                send(i)
                recv(timeout)
                samples.append((clock() - start) / 1000)
            ping_tx.close()
            far.join()
        return samples

    def idle_waiters(self, threads: int, window: float, timeout: float) -> float:
        if self.context != THREAD:
            raise Unsupported("threads of the main interpreter: see the thread row")
        tx, rx = interpchan.channel()

        def wait() -> None:
            for _ in rx:
                pass

        return idle_cpu(wait, tx.close, threads, window, timeout)


# ---- the far side (a thread or an own-GIL sub-interpreter) -----------------------------------


def drain(rx: interpchan.Receiver, ready: interpchan.Sender, n: int, timeout: float) -> float:
    """Receives n items (blocking recv), drops each; returns when the last arrived."""
    recv = rx.recv
    ready.send(None)
    for _ in repeat(None, n):
        recv(timeout)
    return time.perf_counter()


def echo(rx: interpchan.Receiver, tx: interpchan.Sender, ready: interpchan.Sender) -> int:
    """Sends back every item until the channel closes; returns how many it echoed."""
    echoed = 0
    ready.send(None)
    with rx, tx:
        for item in rx:
            tx.send(item)
            echoed += 1
    return echoed


def forward_buffers(
    rx: interpchan.Receiver, tx: interpchan.Sender, ready: interpchan.Sender, timeout: float
) -> int:
    """Moves every received Buffer back (no copy) until the channel closes; returns the count."""
    moved = 0
    ready.send(None)
    with rx, tx:
        while True:
            try:
                view = rx.recv(timeout)
            except interpchan.ChannelClosed:
                return moved
            buf = view.obj
            view.release()
            tx.send(buf)
            moved += 1


def send_back(tx: interpchan.Sender, ready: interpchan.Sender, nbytes: int, n: int) -> int:
    """Sends n copies of one bytearray (copied once each); reports its start time on ``ready``."""
    data = bytearray(nbytes)
    touch_pages(data)
    with tx:
        ready.send(time.perf_counter())
        send = tx.send
        for _ in repeat(None, n):
            send(data)
    return n


# ---- RSS over millions of items (the "rss" extra) --------------------------------------------


def rss_over_items(items: int, timeout: float) -> dict[str, Any]:
    """Main → own-GIL sub-interpreter through a bounded channel: the process's RSS every tenth
    of ``items`` ints, and the interpchan channels alive in the process before and after."""
    settle()
    before = interpchan._interpchan._live_channels()
    result = _rss_run(items, max(1, items // 10), timeout)
    settle()  # every handle of the run is gone with _rss_run's frame
    after = interpchan._interpchan._live_channels()
    return {**result, "live_channels_before": before, "live_channels_after": after}


def _rss_run(items: int, every: int, timeout: float) -> dict[str, Any]:
    tx, rx = interpchan.channel(capacity=10_000)
    ready_tx, ready_rx = interpchan.channel()
    args = (rx, ready_tx, items, every, timeout)
    far_timeout = max(timeout, items / 100_000)
    with Far(SUBINTERPRETER, rss_drain, *args, timeout=far_timeout, on_failure=(tx, rx)) as far:
        far.wait_ready(ready_rx)
        send = tx.send
        start = time.perf_counter()
        for i in range(items):
            send(i)
        samples = far.join()
        seconds = time.perf_counter() - start
    return {"items": items, "every": every, "rss_kib": samples, "seconds": seconds}


def rss_drain(
    rx: interpchan.Receiver, ready: interpchan.Sender, n: int, every: int, timeout: float
) -> list[int]:
    """Receives n items; every ``every`` items records the process's VmRSS (KiB)."""
    recv = rx.recv
    samples = [status_kib("VmRSS")]
    ready.send(None)
    for done in range(1, n + 1):
        recv(timeout)
        if done % every == 0:
            samples.append(status_kib("VmRSS"))
    return samples
