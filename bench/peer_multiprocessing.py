"""``multiprocessing.Queue`` and ``multiprocessing.Pipe`` to a process started with ``spawn``
(bytes go by ``send_bytes``/``recv_bytes`` on the Pipe; everything else is pickled)."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

from harness import Peer, Run, reset_peak_rss, status_kib, trip_range


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
            with _Process(drain, *args, timeout=timeout) as far:
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
            with _Process(send_back, far_end, nbytes, n, timeout=timeout) as far:
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

    def round_trips(self, n: int, timeout: float, budget: float) -> list[float]:
        out, far_in, far_out, back, close = self._duplex()
        samples = []
        try:
            with _Process(echo, far_in, far_out, timeout, timeout=timeout) as far:
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
                    for i in trip_range(n, budget):
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


# ---- the far side (a spawned process) --------------------------------------------------------


def _process_report(control: Any) -> None:
    reset_peak_rss()
    control.send(("ready", os.getpid(), status_kib("VmRSS")))


def _process_done(control: Any, value: Any, base_kib: int) -> None:
    control.send(("done", value, max(0, status_kib("VmHWM") - base_kib)))


def drain(source: Any, n: int, as_bytes: bool, timeout: float, control: Any) -> None:
    """Receives n items from a ``multiprocessing`` Queue or Connection; reports the end time."""
    _process_report(control)
    base = status_kib("VmRSS")
    if hasattr(source, "recv_bytes"):
        recv = source.recv_bytes if as_bytes else source.recv
        for _ in repeat(None, n):
            if not source.poll(timeout):
                raise TimeoutError("far side: Connection.recv timed out")
            recv()
    else:
        get = source.get
        for _ in repeat(None, n):
            get(True, timeout)
    _process_done(control, time.perf_counter(), base)


def echo(inbox: Any, outbox: Any, timeout: float, control: Any) -> None:
    """Sends back every item until None arrives (Queue or Connection)."""
    _process_report(control)
    base = status_kib("VmRSS")
    echoed = 0
    if hasattr(inbox, "recv_bytes"):
        while True:
            if not inbox.poll(timeout):
                raise TimeoutError("far side: Connection.recv timed out")
            item = inbox.recv()
            if item is None:
                break
            outbox.send(item)
            echoed += 1
    else:
        while (item := inbox.get(True, timeout)) is not None:
            outbox.put(item)
            echoed += 1
    _process_done(control, echoed, base)


def send_back(sink: Any, nbytes: int, n: int, control: Any) -> None:
    """Sends n times one bytes object (``send_bytes`` on a Connection, ``put`` on a Queue)."""
    data = bytes(nbytes)
    reset_peak_rss()
    base = status_kib("VmRSS")
    control.send(("ready", os.getpid(), time.perf_counter()))
    send = sink.send_bytes if hasattr(sink, "send_bytes") else sink.put
    for _ in repeat(None, n):
        send(data)
    _process_done(control, n, base)
