"""The far side of each benchmark: functions run in a thread, a process or a sub-interpreter.

Everything here must import inside an own-GIL sub-interpreter, so nothing imports numpy, and
CPython's private modules are imported inside the functions that use them. Every wait has a
deadline (``timeout`` seconds from the start), so a broken peer ends in an exception, not a hang.

Conventions: ``ready`` is an ``interpchan.Sender`` (threads, sub-interpreters) or a
``multiprocessing`` connection (processes); the far side sends on it once it is set up, after
which the main side starts its clock. Streams return ``time.perf_counter()`` taken when the last
item arrived (CLOCK_MONOTONIC on Linux: comparable across threads, interpreters and processes).
"""

from __future__ import annotations

import os
import sys
import time
from itertools import repeat
from typing import Any

import interpchan

# Default "unbound item" operation of CPython's queues and channels (UNBOUND: 3).
UNBOUND = 3
# 3.14 changed the signatures of _interpqueues.create/put and _interpchannels.create.
NEW_SIGNATURES = sys.version_info >= (3, 14)


def _deadline(timeout: float) -> float:
    return time.monotonic() + timeout


def _expired(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"far side: {what} timed out")


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


def reset_peak_rss() -> bool:
    """Resets this process's VmHWM to its current RSS (Linux >= 4.0); False if it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


# ---- interpchan (threads and sub-interpreters) ----------------------------------------------


def ic_drain(rx: interpchan.Receiver, ready: interpchan.Sender, n: int, timeout: float) -> float:
    """Receives n items (blocking recv), drops each; returns when the last arrived."""
    recv = rx.recv
    ready.send(None)
    for _ in repeat(None, n):
        recv(timeout)
    return time.perf_counter()


def ic_echo(rx: interpchan.Receiver, tx: interpchan.Sender, ready: interpchan.Sender) -> int:
    """Sends back every item until the channel closes; returns how many it echoed."""
    echoed = 0
    ready.send(None)
    with rx, tx:
        for item in rx:
            tx.send(item)
            echoed += 1
    return echoed


def ic_forward_buffers(
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


def ic_send_back(tx: interpchan.Sender, ready: interpchan.Sender, nbytes: int, n: int) -> int:
    """Sends n copies of one bytearray (copied once each); reports its start time on ``ready``."""
    data = bytearray(nbytes)
    touch_pages(data)
    with tx:
        ready.send(time.perf_counter())
        send = tx.send
        for _ in repeat(None, n):
            send(data)
    return n


def ic_rss_drain(
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


# ---- CPython's own queues and channels (sub-interpreters) ------------------------------------
#
# ``kind`` names the module: "queues" (3.13's _interpqueues; handles are queue ids), "channels"
# (_interpchannels, or 3.12's _xxinterpchannels; channel ids) or "pep734" (3.14's
# concurrent.interpreters.Queue; handles are Queue objects).

NOTHING = object()  # what try_get returns when nothing is waiting


def import_interpreters() -> None:
    """Imports CPython's interpreters module, without which a received memoryview cannot be
    rebuilt ("_interpreters module not imported yet")."""
    try:
        import _interpreters  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        import _xxsubinterpreters  # type: ignore[import-not-found]  # noqa: F401


def channels_module() -> Any:
    """CPython's private channel module: ``_interpchannels`` (3.13+) or ``_xxinterpchannels``."""
    try:
        import _interpchannels  # type: ignore[import-not-found]

        return _interpchannels
    except ImportError:
        import _xxinterpchannels  # type: ignore[import-not-found]

        return _xxinterpchannels


def xi_ops(kind: str) -> tuple[Any, Any]:
    """``(put(handle, item, wait=False), try_get(handle) -> item or NOTHING)`` for ``kind``.

    ``wait``: a channel's send waits until the item is received (3.13's blocking send).
    """
    import_interpreters()
    if kind == "queues":
        import _interpqueues  # type: ignore[import-not-found]

        raw_put, raw_get = _interpqueues.put, _interpqueues.get
        empty, gone = _interpqueues.QueueError, _interpqueues.QueueNotFoundError

        def put(qid: int, item: Any, wait: bool = False) -> None:
            if NEW_SIGNATURES:
                raw_put(qid, item, -1)  # 3.14: (qid, obj, unboundop); -1: the queue's default
            else:
                raw_put(qid, item, 0, UNBOUND)  # 3.13: (qid, obj, fmt, unboundop)

        def try_get(qid: int) -> Any:
            try:
                return raw_get(qid)[0]
            except gone:
                raise
            except empty:  # QueueEmpty
                return NOTHING

        return put, try_get
    if kind == "channels":
        module = channels_module()
        send, recv = module.send, module.recv
        if module.__name__ == "_interpchannels":

            def put(cid: int, item: Any, wait: bool = False) -> None:
                send(cid, item, UNBOUND, blocking=wait)

            def try_get(cid: int) -> Any:
                return recv(cid, NOTHING)[0]

            return put, try_get

        def put_312(cid: int, item: Any, wait: bool = False) -> None:
            send(cid, item)

        return put_312, lambda cid: recv(cid, NOTHING)
    import queue as queue_module

    def put_queue(q: Any, item: Any, wait: bool = False) -> None:
        q.put(item)

    def try_get_queue(q: Any) -> Any:
        try:
            return q.get_nowait()
        except queue_module.Empty:
            return NOTHING

    return put_queue, try_get_queue


def xi_get(try_get: Any, handle: Any, deadline: float, sleep: float = 0.0) -> Any:
    """Polls until an item comes: busy (sleep 0) or sleeping between tries."""
    while (item := try_get(handle)) is NOTHING:
        _expired(deadline, "receive")
        if sleep:
            time.sleep(sleep)
    return item


def xi_drain(kind: str, handle: Any, ready: interpchan.Sender, n: int, timeout: float) -> float:
    """Busy-polls for n items; returns when the last arrived. The loops call the modules
    directly, as a user's tight loop would (no helper call per item)."""
    _, try_get = xi_ops(kind)
    deadline = _deadline(timeout)
    got = 0
    if kind == "queues":
        import _interpqueues

        get, empty = _interpqueues.get, _interpqueues.QueueError
        ready.send(None)
        while got < n:
            try:
                get(handle)
                got += 1
            except empty:
                _expired(deadline, "receive")
    elif kind == "channels" and channels_module().__name__ == "_interpchannels":
        recv = channels_module().recv
        ready.send(None)
        while got < n:
            if recv(handle, NOTHING)[0] is NOTHING:
                _expired(deadline, "receive")
            else:
                got += 1
    else:
        ready.send(None)
        while got < n:
            if try_get(handle) is NOTHING:
                _expired(deadline, "receive")
            else:
                got += 1
    return time.perf_counter()


def xi_echo(
    kind: str,
    inbox: Any,
    outbox: Any,
    ready: interpchan.Sender,
    sleep: float,
    wait: bool,
    timeout: float,
) -> int:
    """Sends back every item until None arrives; receives busy-polling (sleep 0), by the
    blocking ``get`` (a concurrent.interpreters.Queue, sleep > 0), or sleep-polling."""
    put, try_get = xi_ops(kind)
    deadline = _deadline(timeout)
    echoed = 0
    ready.send(None)
    while True:
        if kind == "pep734" and sleep:
            item = inbox.get(timeout=max(1.0, deadline - time.monotonic()))
        else:
            item = xi_get(try_get, inbox, deadline, sleep)
        if item is None:
            return echoed
        put(outbox, item, wait)
        echoed += 1


def xi_return_views(
    kind: str, inbox: Any, outbox: Any, ready: interpchan.Sender, n: int, timeout: float
) -> int:
    """Receives (index, memoryview) pairs, drops the view, sends the index back; n times."""
    put, try_get = xi_ops(kind)
    deadline = _deadline(timeout)
    ready.send(None)
    for _ in repeat(None, n):
        index, view = xi_get(try_get, inbox, deadline)
        view.release()
        put(outbox, index)
    return n


def xi_send_back(
    kind: str,
    handle: Any,
    ready: interpchan.Sender,
    finished: interpchan.Receiver,
    nbytes: int,
    n: int,
    timeout: float,
) -> int:
    """Sends n times one bytes object (copied when received); reports the start on ``ready``.

    Waits on ``finished`` before returning: items left in CPython's queues when their
    interpreter is destroyed turn into UNBOUND."""
    put, _ = xi_ops(kind)
    data = bytes(nbytes)
    ready.send(time.perf_counter())
    for _ in repeat(None, n):
        put(handle, data)
    finished.recv(timeout)
    return n


# ---- threads with queue.Queue -----------------------------------------------------------------


def qq_drain(q: Any, ready: Any, n: int, timeout: float) -> float:
    """Blocking ``queue.Queue.get`` n times; returns when the last arrived."""
    get = q.get
    ready.send(None)
    for _ in repeat(None, n):
        get(True, timeout)
    return time.perf_counter()


def qq_echo(inbox: Any, outbox: Any, ready: Any, timeout: float) -> int:
    """Sends back every item until None arrives."""
    echoed = 0
    ready.send(None)
    while (item := inbox.get(True, timeout)) is not None:
        outbox.put(item)
        echoed += 1
    return echoed


def qq_send_back(q: Any, ready: Any, nbytes: int, n: int) -> int:
    """Puts n times a reference to one bytearray; reports the start on ``ready``."""
    data = bytearray(nbytes)
    touch_pages(data)
    ready.send(time.perf_counter())
    for _ in repeat(None, n):
        q.put(data)
    return n


# ---- processes (multiprocessing, spawn) -------------------------------------------------------


def _process_report(control: Any) -> None:
    reset_peak_rss()
    control.send(("ready", os.getpid(), status_kib("VmRSS")))


def _process_done(control: Any, value: Any, base_kib: int) -> None:
    control.send(("done", value, max(0, status_kib("VmHWM") - base_kib)))


def mp_drain(source: Any, n: int, as_bytes: bool, timeout: float, control: Any) -> None:
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


def mp_echo(inbox: Any, outbox: Any, timeout: float, control: Any) -> None:
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


def mp_send_back(sink: Any, nbytes: int, n: int, control: Any) -> None:
    """Sends n times one bytes object (``send_bytes`` on a Connection, ``put`` on a Queue)."""
    data = bytes(nbytes)
    reset_peak_rss()
    base = status_kib("VmRSS")
    control.send(("ready", os.getpid(), time.perf_counter()))
    send = sink.send_bytes if hasattr(sink, "send_bytes") else sink.put
    for _ in repeat(None, n):
        send(data)
    _process_done(control, n, base)


# ---- scaling: CPU-bound pure-Python work ----------------------------------------------------


def cpu_work(iterations: int) -> int:
    """Pure-Python work that holds the GIL all along: a checksum of a pseudo-random walk."""
    state, total = iterations, 0
    for _ in range(iterations):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        total ^= state >> 3
    return total


def cpu_worker(
    tasks: interpchan.Receiver, results: interpchan.Sender, ready: interpchan.Sender
) -> int:
    """Runs ``cpu_work`` on every task until the task channel closes; returns how many."""
    done = 0
    ready.send(None)
    with tasks, results:
        for iterations in tasks:
            results.send(cpu_work(iterations))
            done += 1
    return done


def cpu_worker_queue(tasks: Any, results: Any, ready: Any, timeout: float) -> int:
    """``cpu_worker`` on a thread fed by ``queue.Queue`` (None ends it)."""
    done = 0
    ready.send(None)
    while (iterations := tasks.get(True, timeout)) is not None:
        results.put(cpu_work(iterations))
        done += 1
    return done
