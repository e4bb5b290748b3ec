"""The peers: one adapter per channel library, each with the same small interface.

A peer starts its far side in the right kind of context (a thread, a process, an own-GIL
sub-interpreter), moves items there or back, and says how long that took. The far-side code is
in ``far_side.py``. Every wait has a timeout, and a failed run still closes its channels, joins
its far side and frees its queues.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import far_side

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
    """This peer cannot do this workload (the message says why; the table shows it)."""


def _trip_range(n: int, budget: float) -> Iterator[int]:
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


class Peer:
    """A channel library between two contexts. Subclasses implement what they can carry."""

    key = ""  # short name for --peers and the JSON output
    label = ""  # name in the tables
    between = ""  # the two contexts, e.g. "main → own-GIL sub-interpreter"
    recv_mode = BLOCKS
    context = SUBINTERPRETER
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

    def round_trips(self, n: int, timeout: float, budget: float = 60.0) -> list[float]:
        """n blocking ping-pong round trips of a small int (fewer if they take more than
        ``budget`` seconds); microseconds each."""
        raise Unsupported("not measured")

    def registered(self) -> int | None:
        """Channels or queues this peer's module still holds in the process (leak check)."""
        return None


# ---- interpchan -----------------------------------------------------------------------------


class Interpchan(Peer):
    """interpchan with blocking recv, to an own-GIL sub-interpreter or to a thread."""

    label = "interpchan"
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
            self.context,
            far_side.ic_drain,
            rx,
            ready_tx,
            n,
            timeout,
            timeout=timeout,
            on_failure=(tx, rx),
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
            self.context,
            far_side.ic_send_back,
            tx,
            ready_tx,
            nbytes,
            n,
            timeout=timeout,
            on_failure=(tx, rx),
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
            far_side.touch_pages(buf)
        with Far(
            self.context,
            far_side.ic_forward_buffers,
            out_rx,
            back_tx,
            ready_tx,
            timeout,
            timeout=timeout,
            on_failure=(out_tx, back_rx),
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

    def round_trips(self, n: int, timeout: float, budget: float = 60.0) -> list[float]:
        ping_tx, ping_rx = interpchan.channel()
        pong_tx, pong_rx = interpchan.channel()
        ready_tx, ready_rx = interpchan.channel()
        samples = []
        with Far(
            self.context,
            far_side.ic_echo,
            ping_rx,
            pong_tx,
            ready_tx,
            timeout=timeout,
            on_failure=(ping_tx, pong_rx),
        ) as far:
            far.wait_ready(ready_rx)
            send, recv, clock = ping_tx.send, pong_rx.recv, time.perf_counter_ns
            for i in _trip_range(n, budget):
                start = clock()
                send(i)
                recv(timeout)
                samples.append((clock() - start) / 1000)
            ping_tx.close()
            far.join()
        return samples


# ---- queue.Queue between threads --------------------------------------------------------------


class ThreadQueue(Peer):
    """``queue.Queue`` (or ``queue.SimpleQueue``) between two threads of one interpreter."""

    key = "queue"
    label = "queue.Queue"
    between = "main → thread"
    context = THREAD
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
        ready_tx, ready_rx = interpchan.channel()
        with Far(THREAD, far_side.qq_drain, q, ready_tx, n, timeout, timeout=timeout) as far:
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
        with Far(THREAD, far_side.qq_send_back, q, ready_tx, nbytes, n, timeout=timeout) as far:
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
            far_side.touch_pages(buf)
        with Far(THREAD, far_side.qq_echo, out, back, ready_tx, timeout, timeout=timeout) as far:
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

    def round_trips(self, n: int, timeout: float, budget: float = 60.0) -> list[float]:
        ping, pong = self.make(), self.make()
        ready_tx, ready_rx = interpchan.channel()
        samples = []
        with Far(THREAD, far_side.qq_echo, ping, pong, ready_tx, timeout, timeout=timeout) as far:
            try:
                far.wait_ready(ready_rx)
                put, get, clock = ping.put, pong.get, time.perf_counter_ns
                for i in _trip_range(n, budget):
                    start = clock()
                    put(i)
                    get(True, timeout)
                    samples.append((clock() - start) / 1000)
            finally:
                ping.put(None)
            far.join()
        return samples


# ---- multiprocessing (spawned processes) ------------------------------------------------------


class _Process:
    """A spawned process running a far-side function, reporting on a control pipe."""

    def __init__(self, func: Callable[..., Any], *args: Any, timeout: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.timeout = timeout
        self.control, child_control = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=func, args=(*args, child_control), daemon=True)
        self.process.start()
        child_control.close()

    def message(self, expect: str) -> tuple[Any, ...]:
        deadline = time.monotonic() + self.timeout
        while not self.control.poll(0.05):
            if not self.process.is_alive() and not self.control.poll(0):
                raise RuntimeError(f"the far process exited ({self.process.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the far process did not report {expect!r}")
        message = self.control.recv()
        if message[0] != expect:
            raise RuntimeError(f"far process: expected {expect!r}, got {message!r}")
        return message

    def __enter__(self) -> _Process:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.process.join(self.timeout if exc[0] is None else 1)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.control.close()


class _Multiprocessing(Peer):
    """Common part of the multiprocessing peers (start method: spawn)."""

    context = PROCESS
    between = "main → process (spawn)"

    def _channel(self) -> tuple[Any, Any, Callable[[], None]]:
        """(main end, far end, close): a one-way queue or pipe from main to far."""
        raise NotImplementedError

    def _duplex(self) -> tuple[Any, Any, Any, Any, Callable[[], None]]:
        """(main out, far in, far out, main in, close) for ping-pong."""
        raise NotImplementedError

    @staticmethod
    def _sender(end: Any, item: Any) -> Callable[[Any], None]:
        if hasattr(end, "send_bytes"):
            return end.send_bytes if isinstance(item, bytes) else end.send
        return end.put

    def stream(self, item: Any, n: int, timeout: float) -> Run:
        main_end, far_end, close = self._channel()
        try:
            as_bytes = isinstance(item, bytes)
            args = (far_end, n, as_bytes, timeout)
            with _Process(far_side.mp_drain, *args, timeout=timeout) as far:
                far.message("ready")
                send = self._sender(main_end, item)
                start = time.perf_counter()
                for _ in repeat(None, n):
                    send(item)
                _, end, peak = far.message("done")
            return Run(end - start, peak)
        finally:
            close()

    def stream_back(self, nbytes: int, n: int, wrap: Callable[[Any], Any], timeout: float) -> Run:
        main_end, far_end, close = self._channel_back()
        try:
            with _Process(far_side.mp_send_back, far_end, nbytes, n, timeout=timeout) as far:
                _, _, start = far.message("ready")
                if hasattr(main_end, "recv_bytes"):
                    for _ in repeat(None, n):
                        if not main_end.poll(timeout):
                            raise TimeoutError("Connection.recv timed out")
                        wrap(main_end.recv_bytes())
                else:
                    for _ in repeat(None, n):
                        wrap(main_end.get(True, timeout))
                end = time.perf_counter()
                _, _, peak = far.message("done")
            return Run(end - start, peak)
        finally:
            close()

    def _channel_back(self) -> tuple[Any, Any, Callable[[], None]]:
        far_end, main_end, close = self._channel()
        return main_end, far_end, close

    def round_trips(self, n: int, timeout: float, budget: float = 60.0) -> list[float]:
        out, far_in, far_out, back, close = self._duplex()
        samples = []
        try:
            with _Process(far_side.mp_echo, far_in, far_out, timeout, timeout=timeout) as far:
                far.message("ready")
                send = out.send if hasattr(out, "send") else out.put
                if hasattr(back, "recv"):

                    def recv() -> Any:
                        if not back.poll(timeout):
                            raise TimeoutError("Connection.recv timed out")
                        return back.recv()
                else:

                    def recv() -> Any:
                        return back.get(True, timeout)

                clock = time.perf_counter_ns
                try:
                    for i in _trip_range(n, budget):
                        start = clock()
                        send(i)
                        recv()
                        samples.append((clock() - start) / 1000)
                finally:
                    send(None)
                far.message("done")
            return samples
        finally:
            close()


class ProcessQueue(_Multiprocessing):
    """``multiprocessing.Queue`` to a spawned process (pickled; a feeder thread writes a pipe)."""

    key = "mp-queue"
    label = "multiprocessing.Queue"
    carries = {  # noqa: RUF012
        "numpy": "pickled (copied)",
        "back": "bytes pickled (copied)",
    }

    def _channel(self) -> tuple[Any, Any, Callable[[], None]]:
        q = multiprocessing.get_context("spawn").Queue()

        def close() -> None:
            q.close()
            q.join_thread()

        return q, q, close

    def _duplex(self) -> tuple[Any, Any, Any, Any, Callable[[], None]]:
        ctx = multiprocessing.get_context("spawn")
        ping, pong = ctx.Queue(), ctx.Queue()

        def close() -> None:
            for q in (ping, pong):
                q.close()
                q.join_thread()

        return ping, ping, pong, pong, close


class ProcessPipe(_Multiprocessing):
    """``multiprocessing.Pipe`` to a spawned process (bytes: send_bytes; others pickled)."""

    key = "mp-pipe"
    label = "multiprocessing.Pipe"
    carries = {  # noqa: RUF012
        "numpy": "pickled (copied)",
        "back": "send_bytes/recv_bytes (copied)",
    }

    def _channel(self) -> tuple[Any, Any, Callable[[], None]]:
        far_end, main_end = multiprocessing.get_context("spawn").Pipe(duplex=False)

        def close() -> None:
            main_end.close()
            far_end.close()

        return main_end, far_end, close

    def _duplex(self) -> tuple[Any, Any, Any, Any, Callable[[], None]]:
        main_end, far_end = multiprocessing.get_context("spawn").Pipe()

        def close() -> None:
            main_end.close()
            far_end.close()

        return main_end, far_end, far_end, main_end, close


# ---- CPython's own cross-interpreter queues and channels ------------------------------------


def _poll(
    try_get: Callable[[Any], Any], handle: Any, far: Far, timeout: float, sleep: float = 0.0
) -> Any:
    """Polls until an item comes; fails early if the far side has ended."""
    nothing = far_side.NOTHING
    deadline = time.monotonic() + timeout
    check_at = time.monotonic() + 0.05
    while (item := try_get(handle)) is nothing:
        if sleep:
            time.sleep(sleep)
        if (now := time.monotonic()) > check_at:
            far.check()
            check_at = now + 0.05
            if now > deadline:
                raise TimeoutError("poll timed out")
    return item


class _CPythonPeer(Peer):
    """Common part of CPython's queues and channels: an own-GIL sub-interpreter on the far
    side, receive polling (busy, or sleeping 10 ms between tries as their blocking calls do)."""

    kind = ""  # far_side.xi_ops kind
    between = "main → own-GIL sub-interpreter"
    no_copy = frozenset({"buf1m", "buf64m", "np64m"})
    carries = {  # noqa: RUF012
        "circulate": "memoryview shared (no copy, both sides can write), index sent back",
        "numpy": "memoryview shared (no copy, both sides can write)",
        "back": "bytes (copied when received)",
    }

    def __init__(self, poll: str = BUSY) -> None:
        self.recv_mode = poll
        self.sleep = 0.01 if poll != BUSY else 0.0
        if poll != BUSY:
            self.key += "-blocking"

    def _create(self) -> Any:
        raise NotImplementedError

    def _destroy(self, handle: Any) -> None:
        raise NotImplementedError

    def _far(self, handle: Any) -> Any:
        """The handle as passed to the far side (which cannot take every handle type)."""
        return handle

    @contextmanager
    def _handles(self, count: int) -> Iterator[list[Any]]:
        handles = []
        try:
            for _ in range(count):
                handles.append(self._create())
            yield handles
        finally:
            for handle in handles:
                with suppress(Exception):
                    self._destroy(handle)

    def _ops(self) -> tuple[Any, Any]:
        return far_side.xi_ops(self.kind)

    def _check_busy(self) -> None:
        if self.sleep:
            raise Unsupported("round trip only")

    def _check_views(self) -> None:
        if self.kind == "channels" and sys.version_info < (3, 13):
            raise Unsupported("3.12's channels carry no memoryview")

    def _send_loop(self, handle: Any, item: Any, n: int) -> None:
        put, _ = self._ops()
        for _ in repeat(None, n):
            put(handle, item)

    def stream(self, item: Any, n: int, timeout: float) -> Run:
        self._check_busy()
        ready_tx, ready_rx = interpchan.channel()
        if not isinstance(item, (bytes, int, str)):
            self._check_views()
            item = memoryview(item)  # shared with the far side, not copied
        with (
            self._handles(1) as (handle,),
            Far(
                SUBINTERPRETER,
                far_side.xi_drain,
                self.kind,
                self._far(handle),
                ready_tx,
                n,
                timeout,
                timeout=timeout,
            ) as far,
        ):
            far.wait_ready(ready_rx)
            start = time.perf_counter()
            self._send_loop(handle, item, n)
            end = far.join()
        return Run(end - start)

    def stream_back(self, nbytes: int, n: int, wrap: Callable[[Any], Any], timeout: float) -> Run:
        self._check_busy()
        ready_tx, ready_rx = interpchan.channel()
        finished_tx, finished_rx = interpchan.channel()
        _, try_get = self._ops()
        with (
            self._handles(1) as (handle,),
            Far(
                SUBINTERPRETER,
                far_side.xi_send_back,
                self.kind,
                self._far(handle),
                ready_tx,
                finished_rx,
                nbytes,
                n,
                timeout,
                timeout=timeout,
                on_failure=(finished_tx,),
            ) as far,
        ):
            start = far.wait_ready(ready_rx)
            for _ in repeat(None, n):
                wrap(_poll(try_get, handle, far, timeout))
            end = time.perf_counter()
            finished_tx.send(None)
            far.join()
        return Run(end - start)

    def circulate(self, nbytes: int, pool: int, n: int, timeout: float) -> Run:
        self._check_busy()
        self._check_views()
        ready_tx, ready_rx = interpchan.channel()
        put, try_get = self._ops()
        buffers = [bytearray(nbytes) for _ in range(pool)]
        for buf in buffers:
            far_side.touch_pages(buf)
        with (
            self._handles(2) as (out, back),
            Far(
                SUBINTERPRETER,
                far_side.xi_return_views,
                self.kind,
                self._far(out),
                self._far(back),
                ready_tx,
                n,
                timeout,
                timeout=timeout,
            ) as far,
        ):
            far.wait_ready(ready_rx)
            start = time.perf_counter()
            for index in range(pool):
                put(out, (index, memoryview(buffers[index])))
            for _ in repeat(None, n - pool):
                index = _poll(try_get, back, far, timeout)
                put(out, (index, memoryview(buffers[index])))
            for _ in repeat(None, pool):
                _poll(try_get, back, far, timeout)
            end = time.perf_counter()
            far.join()
        return Run(end - start)

    def round_trips(self, n: int, timeout: float, budget: float = 60.0) -> list[float]:
        ready_tx, ready_rx = interpchan.channel()
        put, try_get = self._ops()
        wait = self.kind == "channels" and self.sleep > 0  # 3.13's send waits for receipt
        samples = []
        with (
            self._handles(2) as (ping, pong),
            Far(
                SUBINTERPRETER,
                far_side.xi_echo,
                self.kind,
                self._far(ping),
                self._far(pong),
                ready_tx,
                self.sleep,
                wait,
                timeout,
                timeout=timeout,
            ) as far,
        ):
            far.wait_ready(ready_rx)
            clock = time.perf_counter_ns
            try:
                for i in _trip_range(n, budget):
                    start = clock()
                    put(ping, i, wait)
                    self._receive_one(try_get, pong, far, timeout)
                    samples.append((clock() - start) / 1000)
            finally:
                put(ping, None)
            far.join()
        return samples

    def _receive_one(self, try_get: Any, handle: Any, far: Far, timeout: float) -> Any:
        return _poll(try_get, handle, far, timeout, self.sleep)


class InterpQueues(_CPythonPeer):
    """CPython 3.13's ``_interpqueues`` (what 3.14's concurrent.interpreters.Queue is built on)."""

    key = "interpqueues"
    label = "_interpqueues"
    kind = "queues"

    def missing(self) -> str | None:
        try:
            import _interpqueues  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            return "not available on this Python (3.13+)"
        return None

    def _create(self) -> Any:
        import _interpqueues

        if far_side.NEW_SIGNATURES:  # 3.14: (maxsize, unboundop, fallback)
            return _interpqueues.create(0, far_side.UNBOUND, -1)
        return _interpqueues.create(0, 0, far_side.UNBOUND)  # unbounded, shareable items only

    def _destroy(self, handle: Any) -> None:
        import _interpqueues

        _interpqueues.destroy(handle)

    def registered(self) -> int | None:
        import _interpqueues

        return len(_interpqueues.list_all())

    def _send_loop(self, handle: Any, item: Any, n: int) -> None:
        import _interpqueues

        put, unbound = _interpqueues.put, far_side.UNBOUND
        if far_side.NEW_SIGNATURES:
            for _ in repeat(None, n):
                put(handle, item, -1)
        else:
            for _ in repeat(None, n):
                put(handle, item, 0, unbound)


class InterpChannels(_CPythonPeer):
    """CPython's ``_interpchannels`` (3.13; ``_xxinterpchannels`` on 3.12)."""

    key = "interpchannels"
    label = "_interpchannels"
    kind = "channels"

    def __init__(self, poll: str = BUSY) -> None:
        super().__init__(poll)
        if poll != BUSY:
            self.recv_mode = "send waits for receipt; recv sleep-polls 10 ms"
        if sys.version_info < (3, 13):
            self.label = "_xxinterpchannels"

    def missing(self) -> str | None:
        try:
            far_side.channels_module()
        except ImportError:
            return "not available on this Python"
        if self.sleep and sys.version_info < (3, 13):
            return "3.12's channels have no blocking send"
        return None

    def _create(self) -> Any:
        module = far_side.channels_module()
        if far_side.NEW_SIGNATURES:
            return module.create(far_side.UNBOUND, -1)  # 3.14: (unboundop, fallback)
        if module.__name__ == "_interpchannels":
            return module.create(far_side.UNBOUND)
        return module.create()

    def _far(self, handle: Any) -> Any:
        return int(handle)  # the ChannelID object stays here: dropping it releases the channel

    def _destroy(self, handle: Any) -> None:
        far_side.channels_module().destroy(handle)

    def registered(self) -> int | None:
        return len(far_side.channels_module().list_all())

    def _send_loop(self, handle: Any, item: Any, n: int) -> None:
        module = far_side.channels_module()
        send = module.send
        if module.__name__ == "_interpchannels":
            unbound = far_side.UNBOUND
            for _ in repeat(None, n):
                send(handle, item, unbound, blocking=False)
        else:
            for _ in repeat(None, n):
                send(handle, item)


class InterpretersQueue(_CPythonPeer):
    """PEP 734's ``concurrent.interpreters.Queue`` (3.14)."""

    key = "pep734-queue"
    label = "concurrent.interpreters.Queue"
    kind = "pep734"

    def __init__(self, poll: str = BUSY) -> None:
        super().__init__(poll)
        if poll != BUSY:
            self.recv_mode = "blocks (get sleep-polls 10 ms)"

    def missing(self) -> str | None:
        try:
            from concurrent import interpreters  # type: ignore[attr-defined]  # noqa: F401
        except ImportError:
            return "not available on this Python (3.14+)"
        return None

    def _create(self) -> Any:
        from concurrent import interpreters  # type: ignore[attr-defined]

        return interpreters.create_queue()

    def _destroy(self, handle: Any) -> None:
        pass  # released with its last reference

    def registered(self) -> int | None:
        from concurrent.interpreters import _queues  # type: ignore[import-not-found]

        return len(_queues.list_all())

    def _receive_one(self, try_get: Any, handle: Any, far: Far, timeout: float) -> Any:
        if self.sleep:
            return handle.get(timeout=timeout)  # its own blocking get
        return _poll(try_get, handle, far, timeout)


def all_peers() -> list[Peer]:
    """Every peer, in table order (those missing on this Python are listed too, and skipped)."""
    return [
        Interpchan(SUBINTERPRETER),
        Interpchan(THREAD),
        ThreadQueue(),
        ThreadQueue(simple=True),
        ProcessQueue(),
        ProcessPipe(),
        InterpQueues(BUSY),
        InterpQueues(SLEEPS),
        InterpChannels(BUSY),
        InterpChannels(SLEEPS),
        InterpretersQueue(BUSY),
        InterpretersQueue(SLEEPS),
    ]
