"""asyncio support: recv_async, send_async, async iteration and select_async.

How a wait works. Each event loop that awaits a channel gets one ``_Hub``: a native ``_Waker``
(a socket pair owned by Rust) whose read end the loop watches with ``add_reader``. A task that
cannot complete at once adds a waiter to the hub, which asks the channel (the first time for that
channel side) to wake this waker on any change; it then checks the channel once more, so a change
that came before the registration is not missed, and awaits a future of the loop. Whoever changes
the channel, in any interpreter or thread (a send, a receive that frees room, a close, the last
handle of one side going away), records the channel in the waker and makes its socket readable:
one byte per batch, later wakes are coalesced until the loop takes them. The loop's reader
callback takes the batch and resolves the futures of as many waiters as there are items (or room)
now, oldest first, plus every waiter whose handle is closed.

Cancellation safety comes from who takes the item: never the callback, always the awaiting task
itself, with ``recv_nowait``/``send_nowait`` once it runs again. A cancelled or timed-out wait has
therefore taken nothing (the item stays in the channel, per-sender order untouched), and a woken
waiter that leaves without taking passes its wake on to the next waiter. A ``send_async`` that
returns has enqueued its item; one that raises (``TimeoutError``, ``CancelledError``,
``ChannelClosed``...) has not.

No thread is started: waiting costs a future and a dictionary entry per task, and one socket pair
per loop. ``asyncio`` is imported lazily (only once a wait has to suspend, which needs a running
loop anyway), so importing interpchan in a sub-interpreter does not import it.
"""

from __future__ import annotations

import math
import weakref

from . import _interpchan
from ._interpchan import ChannelClosed, Empty, Full, Receiver, Sender, _Waker, select

__all__ = ["select_async"]

TYPE_CHECKING = False  # typing is not imported at run time: every worker imports interpchan
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

# One hub per running loop, keyed by id(loop). A hub holds its loop, so the id cannot be reused
# while the hub lives; the loop holds the hub only through its reader registration (and waiting
# tasks through their frames), so both go away together once the loop is closed and dropped.
_hubs: weakref.WeakValueDictionary[int, _Hub] = weakref.WeakValueDictionary()


def _check_timeout(timeout: object) -> float | None:
    """A timeout checked as the blocking calls check it (TypeError, ValueError), in seconds."""
    if timeout is None:
        return None
    kind = type(timeout)
    if not (hasattr(kind, "__float__") or hasattr(kind, "__index__")):
        raise TypeError(f"timeout must be a number or None, not {kind.__name__}")
    seconds = float(timeout)  # type: ignore[arg-type]
    if math.isnan(seconds):
        raise ValueError("timeout must not be NaN")
    if seconds < 0:
        raise ValueError("timeout must be non-negative")
    if math.isinf(seconds):
        return None  # as good as none (and some loops cannot schedule a timer that far)
    return seconds


class _Waiter:
    """One suspended call: its future and the (key, handle) pairs it waits on."""

    __slots__ = ("entries", "fut", "queued", "woken")

    def __init__(self, fut: Any, entries: list[tuple[int, Any]]) -> None:
        self.fut = fut
        self.entries = entries
        self.queued = True
        self.woken = False


class _Hub:
    """A loop's waker and the waiters of that loop, by channel side (key)."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.waker = _Waker()
        # key -> waiters in arrival order (a dict as an ordered set)
        self.queues: dict[int, dict[_Waiter, None]] = {}
        try:
            loop.add_reader(self.waker.fileno(), self._on_readable)
        except NotImplementedError:
            self.waker.close()
            raise RuntimeError(
                "interpchan's async calls need an event loop with add_reader() (a selector "
                "loop or uvloop); on Windows use asyncio.SelectorEventLoop"
            ) from None

    def wait(self, handles: Iterable[Any]) -> _Waiter:
        """Registers a waiter on `handles`; the caller re-checks the channels, then awaits."""
        waker = self.waker
        entries = []
        for handle in handles:
            key = waker.key(handle)
            entries.append((key, handle))
        waiter = _Waiter(self.loop.create_future(), entries)
        for key, handle in entries:
            queue = self.queues.get(key)
            if queue is None:
                queue = self.queues[key] = {}
                waker.watch(handle)  # once per key and hub
            queue[waiter] = None
        return waiter

    def leave(self, waiter: _Waiter) -> None:
        """Removes a waiter from its queues; stops watching channel sides nobody waits on."""
        if not waiter.queued:
            return
        waiter.queued = False
        for key, handle in waiter.entries:
            queue = self.queues.get(key)
            if queue is None:
                continue
            queue.pop(waiter, None)
            if not queue:
                del self.queues[key]
                self.waker.unwatch(handle)

    def pass_on(self, waiter: _Waiter) -> None:
        """A woken waiter left without taking: give its wake to the next waiters."""
        self.leave(waiter)
        for key, _ in waiter.entries:
            queue = self.queues.get(key)
            if queue:
                self._wake(key, queue)

    def _on_readable(self) -> None:
        for key in self.waker.take():
            queue = self.queues.get(key)
            if queue:
                self._wake(key, queue)

    def _wake(self, key: int, queue: dict[_Waiter, None]) -> None:
        """Resolves as many waiters as can make progress now, oldest first, and every waiter
        whose handle is closed (it will raise ChannelClosed)."""
        handle = _handle_for(next(iter(queue)), key)
        if key & 1:
            capacity = handle.capacity
            budget = len(queue) if capacity is None else capacity - len(handle)
        else:
            budget = len(handle)
        if budget >= len(queue):
            woken = list(queue)
        else:
            woken = []
            for waiter in queue:
                if budget > 0:
                    budget -= 1
                elif not _handle_for(waiter, key).closed:
                    continue
                woken.append(waiter)
        for waiter in woken:
            self.leave(waiter)
            if not waiter.fut.done():
                waiter.woken = True
                waiter.fut.set_result(True)


def _handle_for(waiter: _Waiter, key: int) -> Any:
    for k, handle in waiter.entries:
        if k == key:
            return handle
    raise AssertionError("a waiter is queued only under its own keys")


def _hub(handle: Any) -> _Hub:
    """The running loop's hub. Refuses rendezvous channels, which cannot be awaited."""
    if handle.capacity == 0:
        raise ValueError(
            "a rendezvous channel (capacity=0) cannot be awaited: its hand-over needs a blocked "
            "peer; use capacity=1 or more for async code"
        )
    import asyncio  # already imported: a loop is running

    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None or hub.loop is not loop:
        hub = _hubs[id(loop)] = _Hub(loop)
    return hub


def _expire(fut: Any) -> None:
    if not fut.done():
        fut.set_result(False)


async def _suspend(hub: _Hub, waiter: _Waiter, deadline: float | None) -> bool:
    """Awaits the waiter's future; False once the deadline has passed."""
    if deadline is None:
        return bool(await waiter.fut)
    loop = hub.loop
    if loop.time() >= deadline:
        return False
    timer = loop.call_at(deadline, _expire, waiter.fut)
    try:
        return bool(await waiter.fut)
    finally:
        timer.cancel()


async def _wait_recv(rx: Receiver, timeout: float | None) -> Any:
    hub = _hub(rx)
    deadline = None if timeout is None else hub.loop.time() + timeout
    while True:
        waiter = hub.wait((rx,))
        try:
            try:
                item = rx.recv_nowait()
            except Empty:
                pass
            else:
                return item
            if not await _suspend(hub, waiter, deadline):
                raise TimeoutError("recv_async timed out: no item arrived")
        except BaseException:
            if waiter.woken:
                hub.pass_on(waiter)
            raise
        finally:
            hub.leave(waiter)


async def recv_async(rx: Receiver, timeout: float | None = None) -> Any:
    """`Receiver.recv_async`: the next item, awaiting it without blocking the loop."""
    timeout = _check_timeout(timeout)
    try:
        return rx.recv_nowait()
    except Empty:
        pass
    return await _wait_recv(rx, timeout)


async def anext_item(rx: Receiver) -> Any:
    """`Receiver.__anext__`: as recv_async, but the end of the stream stops the iteration."""
    try:
        return rx.recv_nowait()
    except Empty:
        pass
    except ChannelClosed:
        raise StopAsyncIteration from None
    try:
        return await _wait_recv(rx, None)
    except ChannelClosed:
        raise StopAsyncIteration from None


async def send_async(tx: Sender, obj: object, /, timeout: float | None = None) -> None:
    """`Sender.send_async`: sends `obj`, awaiting room without blocking the loop. Returning means
    enqueued; raising means not (and the caller still owns `obj`)."""
    timeout = _check_timeout(timeout)
    try:
        tx.send_nowait(obj)
        return
    except Full:
        pass
    hub = _hub(tx)
    deadline = None if timeout is None else hub.loop.time() + timeout
    while True:
        waiter = hub.wait((tx,))
        try:
            try:
                tx.send_nowait(obj)
                return
            except Full:
                pass
            if not await _suspend(hub, waiter, deadline):
                raise TimeoutError("send_async timed out: the channel stayed full")
        except BaseException:
            if waiter.woken:
                hub.pass_on(waiter)
            raise
        finally:
            hub.leave(waiter)


def _select_now(receivers: list[Receiver]) -> tuple[Receiver, Any] | None:
    try:
        return select(receivers, timeout=0)
    except TimeoutError:
        return None


async def select_async(
    receivers: Iterable[Receiver], timeout: float | None = None
) -> tuple[Receiver, Any]:
    """Awaits an item from any of `receivers`; returns that receiver and the item.

    Like ``select``: fair (a random pick among ready receivers), closed and drained receivers are
    skipped, ``ChannelClosed`` once all are, ``TimeoutError`` after `timeout` seconds. Cancelled
    or timed out, it has taken no item.
    """
    timeout = _check_timeout(timeout)
    if not isinstance(receivers, list):
        receivers = list(receivers)
    done = _select_now(receivers)
    if done is not None:
        return done
    hub = None
    for rx in receivers:
        hub = _hub(rx)
    assert hub is not None  # select() raised for an empty list
    deadline = None if timeout is None else hub.loop.time() + timeout
    while True:
        waiter = hub.wait(receivers)
        try:
            done = _select_now(receivers)
            if done is not None:
                return done
            if not await _suspend(hub, waiter, deadline):
                raise TimeoutError("select_async timed out: no item arrived")
        except BaseException:
            if waiter.woken:
                hub.pass_on(waiter)
            raise
        finally:
            hub.leave(waiter)


def _install() -> None:
    """Lets the native methods (recv_async, send_async, __anext__) find their implementation."""
    _interpchan._recv_async = recv_async  # type: ignore[attr-defined]
    _interpchan._send_async = send_async  # type: ignore[attr-defined]
    _interpchan._anext = anext_item  # type: ignore[attr-defined]


_install()
