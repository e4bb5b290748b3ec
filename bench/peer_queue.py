"""``queue.Queue`` and ``queue.SimpleQueue`` between two threads of one interpreter (one GIL;
items are handed over by reference, never copied)."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

from harness import THREAD, Far, Peer, Run, idle_cpu, touch_pages, trip_range

import interpchan


class ThreadQueue(Peer):
    """``queue.Queue`` (or ``queue.SimpleQueue``) between two threads of one interpreter."""

    key = "queue"
    label = "queue.Queue"
    between = "main → thread"
    no_copy = frozenset({"b64", "b4k", "b1m", "b64m", "buf1m", "buf64m", "np64m", "back64m"})
    carries = {  # noqa: RUF012
        "circulate": "reference passed, no ownership check",
        "numpy": "reference passed (shared, no copy)",
        "back": "reference passed (shared, no copy)",
    }

    def __init__(self, simple: bool = False) -> None:
        self.make: Callable[[], Any] = queue.SimpleQueue if simple else queue.Queue
        if simple:
            self.key, self.label = "simplequeue", "queue.SimpleQueue"

    def stream(self, item: Any, n: int, timeout: float) -> Run:
        q = self.make()
        ready_tx, ready_rx = interpchan.channel()  # the far thread's "ready" only
        with Far(THREAD, drain, q, ready_tx, n, timeout, timeout=timeout) as far:
            far.wait_ready(ready_rx)
            put = q.put
            start = time.perf_counter()
            for _ in repeat(None, n):
                put(item)
            end = far.join()
        return Run(end - start)

    def stream_back(self, nbytes: int, n: int, wrap: Callable[[Any], Any], timeout: float) -> Run:
        q = self.make()
        ready_tx, ready_rx = interpchan.channel()
        with Far(THREAD, send_back, q, ready_tx, nbytes, n, timeout=timeout) as far:
            start = far.wait_ready(ready_rx)
            for _ in repeat(None, n):
                wrap(q.get(True, timeout))
            end = time.perf_counter()
            far.join()
        return Run(end - start)

    def circulate(self, nbytes: int, pool: int, n: int, timeout: float) -> Run:
        out, back = self.make(), self.make()
        ready_tx, ready_rx = interpchan.channel()
        buffers = [bytearray(nbytes) for _ in range(pool)]
        for buf in buffers:
            touch_pages(buf)
        with Far(THREAD, echo, out, back, ready_tx, timeout, timeout=timeout) as far:
            try:
                far.wait_ready(ready_rx)
                start = time.perf_counter()
                for buf in buffers:
                    out.put(buf)
                for _ in repeat(None, n - pool):
                    out.put(back.get(True, timeout))
                for _ in repeat(None, pool):
                    back.get(True, timeout)
                end = time.perf_counter()
            finally:
                out.put(None)
            far.join()
        return Run(end - start)

    def round_trips(self, n: int, timeout: float, budget: float) -> list[float]:
        ping, pong = self.make(), self.make()
        ready_tx, ready_rx = interpchan.channel()
        samples = []
        with Far(THREAD, echo, ping, pong, ready_tx, timeout, timeout=timeout) as far:
            try:
                far.wait_ready(ready_rx)
                put, get, clock = ping.put, pong.get, time.perf_counter_ns
                for i in trip_range(n, budget):
                    start = clock()
                    put(i)
                    get(True, timeout)
                    samples.append((clock() - start) / 1000)
            finally:
                ping.put(None)
            far.join()
        return samples

    def idle_waiters(self, threads: int, window: float, timeout: float) -> float:
        q = self.make()

        def wake() -> None:
            for _ in range(threads):
                q.put(None)

        return idle_cpu(q.get, wake, threads, window, timeout)


# ---- the far side (a thread) ---------------------------------------------------------------------


def drain(q: Any, ready: Any, n: int, timeout: float) -> float:
    """Blocking ``get`` n times; returns when the last arrived."""
    get = q.get
    ready.send(None)
    for _ in repeat(None, n):
        get(True, timeout)
    return time.perf_counter()


def echo(inbox: Any, outbox: Any, ready: Any, timeout: float) -> int:
    """Sends back every item until None arrives."""
    echoed = 0
    ready.send(None)
    while (item := inbox.get(True, timeout)) is not None:
        outbox.put(item)
        echoed += 1
    return echoed


def send_back(q: Any, ready: Any, nbytes: int, n: int) -> int:
    """Puts n times a reference to one bytearray; reports the start on ``ready``."""
    data = bytearray(nbytes)
    touch_pages(data)
    ready.send(time.perf_counter())
    for _ in repeat(None, n):
        q.put(data)
    return n
