"""CPython's own cross-interpreter queues and channels, main → own-GIL sub-interpreter:
``_interpqueues`` (3.13+), ``_interpchannels`` (3.13+; ``_xxinterpchannels`` on 3.12) and PEP 734's
``concurrent.interpreters.Queue`` (3.14).

None of them can block on receive without sleeping (their blocking calls sleep 10 ms between
tries), so throughput is measured busy-polling, and the round trip both ways. One protocol
serves all three: ``ops(kind)`` gives put and try-get for ``kind``, "queues", "channels" or
"pep734". The far-side functions come after the peers; they import CPython's private modules
inside, since they run in the sub-interpreter.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from itertools import repeat
from typing import Any

from harness import (
    BUSY,
    SUBINTERPRETER,
    Far,
    Peer,
    Run,
    Unsupported,
    touch_pages,
    trip_range,
)

import interpchan

# Default "unbound item" operation of CPython's queues and channels (UNBOUND: 3).
UNBOUND = 3
# 3.14 changed the signatures of _interpqueues.create/put and _interpchannels.create.
NEW_SIGNATURES = sys.version_info >= (3, 14)


def _poll(
    try_get: Callable[[Any], Any], handle: Any, far: Far, timeout: float, sleep: float = 0.0
) -> Any:
    """Polls until an item comes; fails early if the far side has ended."""
    nothing = NOTHING
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

    kind = ""  # ops kind
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

    def _start(self, func: Callable[..., Any], handles: list[Any], *args: Any, **kw: Any) -> Far:
        """``func(kind, *handles, *args)`` in a new own-GIL sub-interpreter, the queues or
        channels passed as the far side can take them; ``args`` ends with the timeout."""
        far_handles = [self._far(handle) for handle in handles]
        return Far(SUBINTERPRETER, func, self.kind, *far_handles, *args, timeout=args[-1], **kw)

    def _ops(self) -> tuple[Any, Any]:
        return ops(self.kind)

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
            self._start(drain, [handle], ready_tx, n, timeout) as far,
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
        args = (ready_tx, finished_rx, nbytes, n, timeout)
        with (
            self._handles(1) as (handle,),
            self._start(send_back, [handle], *args, on_failure=(finished_tx,)) as far,
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
            touch_pages(buf)
        with (
            self._handles(2) as (out, back),
            self._start(return_views, [out, back], ready_tx, n, timeout) as far,
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

    def round_trips(self, n: int, timeout: float, budget: float) -> list[float]:
        ready_tx, ready_rx = interpchan.channel()
        put, try_get = self._ops()
        wait = self.kind == "channels" and self.sleep > 0  # 3.13's send waits for receipt
        samples = []
        args = (ready_tx, self.sleep, wait, timeout)
        with (
            self._handles(2) as (ping, pong),
            self._start(echo, [ping, pong], *args) as far,
        ):
            far.wait_ready(ready_rx)
            clock = time.perf_counter_ns
            try:
                for i in trip_range(n, budget):
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

        if NEW_SIGNATURES:  # 3.14: (maxsize, unboundop, fallback)
            return _interpqueues.create(0, UNBOUND, -1)
        return _interpqueues.create(0, 0, UNBOUND)  # unbounded, shareable items only

    def _destroy(self, handle: Any) -> None:
        import _interpqueues

        _interpqueues.destroy(handle)

    def registered(self) -> int | None:
        import _interpqueues

        return len(_interpqueues.list_all())

    def _send_loop(self, handle: Any, item: Any, n: int) -> None:
        import _interpqueues

        put, unbound = _interpqueues.put, UNBOUND
        if NEW_SIGNATURES:
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
            channels_module()
        except ImportError:
            return "not available on this Python"
        if self.sleep and sys.version_info < (3, 13):
            return "3.12's channels have no blocking send"
        return None

    def _create(self) -> Any:
        module = channels_module()
        if NEW_SIGNATURES:
            return module.create(UNBOUND, -1)  # 3.14: (unboundop, fallback)
        if module.__name__ == "_interpchannels":
            return module.create(UNBOUND)
        return module.create()

    def _far(self, handle: Any) -> Any:
        return int(handle)  # the ChannelID object stays here: dropping it releases the channel

    def _destroy(self, handle: Any) -> None:
        channels_module().destroy(handle)

    def registered(self) -> int | None:
        return len(channels_module().list_all())

    def _send_loop(self, handle: Any, item: Any, n: int) -> None:
        module = channels_module()
        send = module.send
        if module.__name__ == "_interpchannels":
            unbound = UNBOUND
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


# ---- the far side (an own-GIL sub-interpreter) and the put/try-get of each kind ----------


def _expired(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"far side: {what} timed out")


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


def ops(kind: str) -> tuple[Any, Any]:
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


def get_polling(try_get: Any, handle: Any, deadline: float, sleep: float = 0.0) -> Any:
    """Polls until an item comes: busy (sleep 0) or sleeping between tries."""
    while (item := try_get(handle)) is NOTHING:
        _expired(deadline, "receive")
        if sleep:
            time.sleep(sleep)
    return item


def drain(kind: str, handle: Any, ready: interpchan.Sender, n: int, timeout: float) -> float:
    """Busy-polls for n items; returns when the last arrived. The loops call the modules
    directly, as a user's tight loop would (no helper call per item)."""
    _, try_get = ops(kind)
    deadline = time.monotonic() + timeout
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


def echo(
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
    put, try_get = ops(kind)
    deadline = time.monotonic() + timeout
    echoed = 0
    ready.send(None)
    while True:
        if kind == "pep734" and sleep:
            item = inbox.get(timeout=max(1.0, deadline - time.monotonic()))
        else:
            item = get_polling(try_get, inbox, deadline, sleep)
        if item is None:
            return echoed
        put(outbox, item, wait)
        echoed += 1


def return_views(
    kind: str, inbox: Any, outbox: Any, ready: interpchan.Sender, n: int, timeout: float
) -> int:
    """Receives (index, memoryview) pairs, drops the view, sends the index back; n times."""
    put, try_get = ops(kind)
    deadline = time.monotonic() + timeout
    ready.send(None)
    for _ in repeat(None, n):
        index, view = get_polling(try_get, inbox, deadline)
        view.release()
        put(outbox, index)
    return n


def send_back(
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
    put, _ = ops(kind)
    data = bytes(nbytes)
    ready.send(time.perf_counter())
    for _ in repeat(None, n):
        put(handle, data)
    finished.recv(timeout)
    return n
