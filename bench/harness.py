"""What every peer shares: the Peer interface, a far side in a thread or a sub-interpreter, and
``measure``, one timed run of a peer on a workload.

This module is imported inside own-GIL sub-interpreters too (by the peers' far-side functions),
so it imports nothing that cannot load there (no numpy, no multiprocessing at the top).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import workloads as wl

import interpchan

SUBINTERPRETER = "sub-interpreter"
THREAD = "thread"
PROCESS = "process"

# How each peer's receive waits (the tables show it).
BLOCKS = "blocks"
BUSY = "busy-polls"
SLEEPS = "sleep-polls 10 ms"


@dataclass
class Run:
    """One timed run: seconds, and the far process's peak RSS over its start (KiB) if separate."""

    seconds: float
    far_peak_kib: int = 0


class Unsupported(Exception):
    """This peer cannot do this workload (the message says why; the report shows it)."""


class Peer:
    """A channel library between two contexts; the peer_*.py files subclass it."""

    key = ""  # short name for --peers and the JSON output
    label = ""  # name in the tables
    between = ""  # the two contexts, e.g. "main → own-GIL sub-interpreter"
    recv_mode = BLOCKS
    reference = False  # a floor measured like a peer, shown apart from the peers' rows
    # how it carries each kind of workload, where that needs saying (shown under the tables)
    carries: dict[str, str] = {}  # noqa: RUF012
    # workloads where it hands over a reference, a shared view or a moved Buffer: no copy
    no_copy: frozenset[str] = frozenset()

    def missing(self) -> str | None:
        """Why this peer cannot run on this Python, or None."""
        return None

    def stream(self, item: Any, n: int, timeout: float) -> Run:
        """Sends ``item`` n times from the main side; the far side receives each."""
        raise Unsupported("not measured")

    def stream_back(self, nbytes: int, n: int, wrap: Callable[[Any], Any], timeout: float) -> Run:
        """The far side sends n byte buffers of ``nbytes``; the main side wraps each (numpy)."""
        raise Unsupported("not measured")

    def circulate(self, nbytes: int, pool: int, n: int, timeout: float) -> Run:
        """``pool`` buffers of ``nbytes`` go to the far side and back, n hand-offs each way."""
        raise Unsupported("no move: see the bytes rows")

    def round_trips(self, n: int, timeout: float, budget: float) -> list[float]:
        """Blocking ping-pong of a small int, n times or until ``budget`` seconds have passed
        (after 20 at least); microseconds each."""
        raise Unsupported("not measured")

    def idle_waiters(self, threads: int, window: float, timeout: float) -> float:
        """The process's CPU time over ``window`` seconds of wall time, as a fraction of one core,
        while ``threads`` threads of this interpreter wait on an empty channel."""
        raise Unsupported("not measured")

    def registered(self) -> int | None:
        """Channels or queues this peer's module still holds in the process (leak check)."""
        return None


# ---- helpers ---------------------------------------------------------------------------------


def trip_range(n: int, budget: float) -> Iterator[int]:
    """0 to n - 1, ending early once ``budget`` seconds have passed (after 20 at least)."""
    stop = time.perf_counter() + budget
    for i in range(n):
        if i >= 20 and time.perf_counter() > stop:
            return
        yield i


def percentile(samples: list[float], q: float) -> float:
    """The sample at quantile ``q`` (0.5: the median, 0.99: p99)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def touch_pages(buf: Any) -> None:
    """Writes one byte per 4 KiB page so the memory is really there (not lazily zero-mapped)."""
    view = memoryview(buf).cast("B")
    for i in range(0, len(view), 4096):
        view[i] = 1
    view.release()


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (VmRSS, VmHWM); 0 where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss() -> None:
    """Resets this process's VmHWM to its current RSS (Linux >= 4.0; elsewhere nothing)."""
    with suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def idle_cpu(
    waiter: Callable[[], None],
    wake: Callable[[], None],
    threads: int,
    window: float,
    timeout: float,
) -> float:
    """Starts ``threads`` threads running ``waiter`` (each blocks until ``wake`` is called), lets
    them settle, and returns the process's CPU time over ``window`` seconds of wall time (1.0:
    one core busy). Then wakes and joins them all, also after a failure."""
    started = threading.Semaphore(0)

    def run() -> None:
        started.release()
        waiter()

    pool = []
    try:
        for _ in range(threads):
            pool.append(threading.Thread(target=run, daemon=True))
            pool[-1].start()
        for _ in pool:
            if not started.acquire(timeout=timeout):
                raise TimeoutError("the waiting threads did not start")
        time.sleep(0.2)  # each thread is past its release and into its blocking call
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(window)
        return (time.process_time() - cpu) / (time.perf_counter() - wall)
    finally:
        wake()
        deadline = time.monotonic() + timeout
        for thread in pool:
            thread.join(max(0.0, deadline - time.monotonic()))


# ---- the far side in a thread or an own-GIL sub-interpreter ----------------------------------


class Far:
    """A far-side function running in a thread or an own-GIL sub-interpreter.

    Used as a context manager: on the way out after a failure it closes ``on_failure`` handles
    (waking a blocked far side) and joins, so nothing is left running.
    """

    def __init__(
        self,
        context: str,
        func: Callable[..., Any],
        *args: Any,
        timeout: float,
        on_failure: tuple[Any, ...] = (),
    ) -> None:
        self.timeout = timeout
        self.on_failure = on_failure
        self._joined = False
        if context == SUBINTERPRETER:
            self._worker: Any = interpchan.spawn(func, *args)
        else:
            self._worker = _ThreadWorker(func, *args)

    def wait_ready(self, ready: interpchan.Receiver) -> Any:
        """The value the far side sends once set up; raises its error if it failed first."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return ready.recv(0.05)
            except TimeoutError:
                if not self._worker.is_alive():
                    self.join()
                    raise RuntimeError("the far side ended before it was ready") from None
                if time.monotonic() > deadline:
                    raise TimeoutError("the far side did not get ready") from None

    def check(self) -> None:
        """Raises if the far side has ended (with its error, if it raised one)."""
        if not self._worker.is_alive():
            self.join()
            raise RuntimeError("the far side ended early")

    def join(self) -> Any:
        """The far function's return value (re-raises its error)."""
        self._joined = True
        return self._worker.join(self.timeout)

    def __enter__(self) -> Far:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None and self._joined:
            return
        for handle in self.on_failure:
            with suppress(Exception):
                handle.close()
        with suppress(Exception):
            self._worker.join(self.timeout)


class _ThreadWorker:
    """``interpchan.spawn``'s Worker interface on a plain thread."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self._result: list[Any] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, args=(func, args), daemon=True)
        self._thread.start()

    def _main(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._result.append(func(*args))
        except BaseException as exc:
            self._error.append(exc)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> Any:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the far thread is still running")
        if self._error:
            raise self._error[0]
        return self._result[0]


# ---- one timed run -----------------------------------------------------------------------------


def settle() -> None:
    """Lets released items come home (CPython's queues release them by a pending call)."""
    gc.collect()
    time.sleep(0.002)
    gc.collect()


def measure(
    peer: Peer, workload: wl.Workload, n: int, timeout: float, budget: float
) -> dict[str, Any]:
    """One timed run, in the peer's own process: its figure in the workload's unit, the count it
    did (fewer round trips than n past ``budget`` seconds), peak RSS over the start, leaked refs.
    """
    settle()
    item = workload.make() if workload.make else None
    refs_before = sys.getrefcount(item)
    reset_peak_rss()
    base_kib = status_kib("VmRSS")
    run, count = None, n
    if workload.kind == wl.STREAM:
        run = peer.stream(item, n, timeout)
    elif workload.kind == wl.BACK:
        import numpy

        run = peer.stream_back(
            workload.nbytes, n, lambda b: numpy.frombuffer(b, numpy.uint8), timeout
        )
    elif workload.kind == wl.CIRCULATE:
        run = peer.circulate(workload.nbytes, wl.POOL, n, timeout)
    elif workload.kind == wl.IDLE:
        value: Any = 100 * peer.idle_waiters(n, budget, timeout)
        seconds = budget
    else:
        samples = peer.round_trips(n, timeout, budget)
        value = [percentile(samples, 0.50), percentile(samples, 0.99)]
        count = len(samples)
        seconds = value[0] / 1e6 * count  # by the median: stalls do not shrink the next n
    peak_kib = max(0, status_kib("VmHWM") - base_kib) + (run.far_peak_kib if run else 0)
    if run is not None:
        value, seconds = wl.rate(workload, n, run.seconds), run.seconds
    settle()
    leaked = sys.getrefcount(item) - refs_before
    return {
        "value": value,
        "count": count,
        "seconds": seconds,
        "peak_kib": peak_kib,
        "leaked_refs": leaked,
    }
