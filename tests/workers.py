"""Module-level functions that tests run in peers (threads and own-GIL sub-interpreters)."""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import interpchan

TIMEOUT = 30.0


@dataclasses.dataclass
class Point:
    """A user class: sent by pickle."""

    x: int
    y: int


class MyInt(int):
    """An int subclass: keeps its type, so it is pickled."""


class MyStr(str):
    """A str subclass: keeps its type, so it is pickled."""


class MyFloat(float):
    """A float subclass: keeps its type, so it is pickled."""


class MyDict(dict):
    """A dict subclass with an attribute: keeps both, so it is pickled."""


Pair = collections.namedtuple("Pair", "left right")


def bounded_iter(rx: interpchan.Receiver, timeout: float = TIMEOUT) -> Iterator[Any]:
    """Like iter(rx), but each wait is bounded: TimeoutError instead of a hang."""
    while True:
        try:
            item = rx.recv(timeout=timeout)
        except interpchan.ChannelClosed:
            return
        yield item


def drain(rx: interpchan.Receiver, timeout: float = TIMEOUT) -> list[Any]:
    """Like list(rx), but each wait is bounded: TimeoutError instead of a hang."""
    return list(bounded_iter(rx, timeout))


def produce(tx: interpchan.Sender, items: list[Any]) -> int:
    """Send every item, then close."""
    with tx:
        for item in items:
            tx.send(item, timeout=TIMEOUT)
    return len(items)


def produce_tagged(tx: interpchan.Sender, tag: int, n: int) -> int:
    """Send (tag, 0..n-1), then close."""
    with tx:
        for i in range(n):
            tx.send((tag, i), timeout=TIMEOUT)
    return n


def consume_all(rx: interpchan.Receiver) -> list[Any]:
    """Receive until the channel is closed and drained."""
    with rx:
        return drain(rx)


def consume(rx: interpchan.Receiver, n: int) -> list[Any]:
    """Receive n items."""
    with rx:
        return [rx.recv(timeout=TIMEOUT) for _ in range(n)]


def echo(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """Send back every item until the channel closes; return how many."""
    count = 0
    with rx, tx:
        for item in bounded_iter(rx):
            tx.send(item, timeout=TIMEOUT)
            count += 1
    return count


def describe(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """For every item, send back (type name, item), so types are checked where received."""
    count = 0
    with rx, tx:
        for item in rx:
            tx.send((type(item).__qualname__, item), timeout=TIMEOUT)
            count += 1
    return count


def module_identity(tx: interpchan.Sender) -> None:
    """Report ids of this interpreter's interpchan types."""
    with tx:
        tx.send((id(interpchan.Sender), id(interpchan.Receiver), id(interpchan.Buffer)))


def fill_buffer_and_send(tx: interpchan.Sender, size: int, value: int) -> bool:
    """Make a Buffer, fill it with value, send it (moved), report that it was moved."""
    buf = interpchan.Buffer(size)
    memoryview(buf)[:] = bytes([value]) * size
    with tx:
        tx.send(buf)
    return buf.moved and len(buf) == 0


def modify_view_and_forward(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """Receive a view, add 1 to every byte, forward its Buffer without a copy."""
    with rx, tx:
        view = rx.recv(timeout=TIMEOUT)
        first = view[0]
        view[:] = bytes((b + 1) % 256 for b in view)
        buf = view.obj
        view.release()
        tx.send(buf)
    return first


def recv_blocking(rx: interpchan.Receiver, started: interpchan.Sender) -> str:
    """Signal, then block in recv until something happens; report what it was."""
    started.send(None)
    try:
        return repr(rx.recv(timeout=TIMEOUT))
    except interpchan.ChannelClosed:
        return "ChannelClosed"


def select_all(receivers: list[interpchan.Receiver], tx: interpchan.Sender) -> int:
    """select() over receivers until all are closed; forward (index, item)."""
    count = 0
    with tx:
        while True:
            try:
                rx, item = interpchan.select(receivers, timeout=TIMEOUT)
            except interpchan.ChannelClosed:
                return count
            tx.send((receivers.index(rx), item))
            count += 1


def raise_value_error(message: str) -> None:
    """Raise, to test WorkerError."""
    raise ValueError(message)


def add(a: int, b: int, *, scale: int = 1) -> int:
    """Return (a + b) * scale."""
    return (a + b) * scale


def return_unsendable() -> Any:
    """Return something that cannot be sent back."""
    return threading.Lock()


def return_handles() -> tuple[interpchan.Sender, interpchan.Receiver]:
    """Make a channel here and return both ends to the caller."""
    tx, rx = interpchan.channel()
    tx.send("made in a sub-interpreter")
    return tx, rx


def _raises(call: Any) -> str:
    """The name of the exception call() raises, or 'nothing'."""
    try:
        call()
    except BaseException as exc:
        return type(exc).__name__
    return "nothing"


def api_tour() -> dict[str, Any]:
    """Exercise the API where this runs (a thread, a sub-interpreter) and report what happened."""
    import pickle
    import queue

    ic = interpchan
    seen: dict[str, Any] = {}
    seen["hierarchy"] = (
        issubclass(ic.ChannelClosed, ic.ChannelError)
        and issubclass(ic.Empty, ic.ChannelError)
        and issubclass(ic.Empty, queue.Empty)
        and issubclass(ic.Full, ic.ChannelError)
        and issubclass(ic.Full, queue.Full)
        and issubclass(ic.ChannelError, Exception)
    )
    seen["bad capacities"] = [_raises(lambda c=c: ic.channel(c)) for c in (-1, 1.5, "3")]
    tx, rx = ic.channel(1)
    seen["capacity"] = (tx.capacity, rx.capacity, ic.channel()[0].capacity)
    tx.send_nowait(10**30)
    seen["len"] = (len(tx), len(rx))
    try:
        tx.send_nowait("no room")
    except ic.Full as exc:
        seen["full"] = isinstance(exc, queue.Full)
    seen["send timeout"] = _raises(lambda: tx.send("no room", timeout=0.01))
    seen["first"] = rx.recv(timeout=TIMEOUT)
    try:
        rx.recv_nowait()
    except ic.Empty as exc:
        seen["empty"] = isinstance(exc, queue.Empty)
    seen["recv timeout"] = _raises(lambda: rx.recv(timeout=0.01))
    seen["negative timeout"] = _raises(lambda: rx.recv(timeout=-1))
    try:
        tx.send(lambda: 0)
    except TypeError as exc:
        seen["unsendable"] = (exc.__cause__ is not None, len(rx))
    buf = ic.Buffer(4)
    seen["bad buffers"] = (_raises(lambda: ic.Buffer(-1)), _raises(lambda: ic.Buffer(1.5)))
    view = memoryview(buf)
    seen["live view"] = (_raises(lambda: tx.send(buf)), buf.moved, len(rx))
    view[:] = b"abcd"
    view.release()
    tx.send(buf, timeout=TIMEOUT)
    seen["moved"] = (buf.moved, len(buf), _raises(lambda: memoryview(buf)))
    got = rx.recv(timeout=TIMEOUT)
    seen["received view"] = (bytes(got), got.readonly, type(got.obj) is ic.Buffer)
    other_tx, other_rx = ic.channel()
    other_tx.send("selected", timeout=TIMEOUT)
    picked, item = ic.select([rx, other_rx], timeout=TIMEOUT)
    seen["select"] = (picked is other_rx, item)
    seen["select timeout"] = _raises(lambda: ic.select([rx, other_rx], timeout=0.01))
    restored = pickle.loads(pickle.dumps(tx))
    clone = tx.clone()
    tx.close()
    restored.send("by a restored handle", timeout=TIMEOUT)
    restored.close()
    seen["restored"] = rx.recv(timeout=TIMEOUT)
    clone.send("by a clone", timeout=TIMEOUT)
    with clone:
        pass
    seen["after close"] = (tx.closed, clone.closed, _raises(lambda: tx.send(1)))
    seen["drained"] = (drain(rx), rx.closed, _raises(rx.recv_nowait))
    other_tx.close()
    seen["select all closed"] = _raises(lambda: ic.select([rx, other_rx], timeout=TIMEOUT))
    tx2, rx2 = ic.channel()
    del rx2
    seen["receiver dropped"] = (tx2.closed, _raises(lambda: tx2.send(1)))
    return seen


def sum_buffer(view: memoryview) -> tuple[int, int, bool]:
    """Report (sum of bytes, length, whether the view is writable) of a received buffer."""
    return sum(bytes(view)), len(view), not view.readonly


def make_buffer(size: int, value: int) -> interpchan.Buffer:
    """Return a Buffer filled with value (it moves to the caller)."""
    buf = interpchan.Buffer(size)
    memoryview(buf)[:] = bytes([value]) * size
    return buf


def produce_many(tx: interpchan.Sender, n: int) -> int:
    """Send n mixed items (containers, big ints, Buffers, copied buffers), then close."""
    with tx:
        for i in range(n):
            kind = i % 3
            if kind == 0:
                tx.send(("text", [i, 2.5, {"k": b"v" * 32}], 2**90), timeout=TIMEOUT)
            elif kind == 1:
                tx.send(interpchan.Buffer(256), timeout=TIMEOUT)
            else:
                tx.send(bytearray(64), timeout=TIMEOUT)
    return n


def forward_through_received_sender(rx: interpchan.Receiver, item: Any) -> bool:
    """Receive a Sender through a channel, send item through it, close it; report it was open."""
    with rx:
        tx = rx.recv(timeout=TIMEOUT)
    with tx:
        was_open = not tx.closed
        tx.send(item, timeout=TIMEOUT)
    return was_open and isinstance(tx, interpchan.Sender)


def describe_views(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """For every received buffer: flip its first byte and send back what it looked like and it."""
    count = 0
    with rx, tx:
        for view in bounded_iter(rx):
            seen = (
                type(view).__name__,
                isinstance(view.obj, interpchan.Buffer),
                view.readonly,
                view.format,
                view.itemsize,
                view.shape,
                view.tobytes(),
            )
            flat = view.cast("B")
            flat[0] ^= 0xFF
            flat.release()
            tx.send((seen, view), timeout=TIMEOUT)
            count += 1
    return count


_interrupts_left = [0]  # per interpreter: each imports its own copy of this module


def _rebuild_interrupting(value: Any) -> InterruptsOnce:
    if _interrupts_left[0] > 0:
        _interrupts_left[0] -= 1
        raise SystemExit("interrupted while rebuilding")
    return InterruptsOnce(value)


@dataclasses.dataclass
class InterruptsOnce:
    """Pickled; its rebuild raises SystemExit while ``_interrupts_left`` says so."""

    value: Any

    def __reduce__(self) -> Any:
        return (_rebuild_interrupting, (self.value,))


def receive_after_an_interrupted_rebuild(rx: interpchan.Receiver) -> tuple[str, int, Any, Any]:
    """The first receive's rebuild is interrupted (SystemExit); what it raised, how many items
    were then waiting, and the next two items."""
    _interrupts_left[0] = 1
    try:
        rx.recv(timeout=TIMEOUT)
        raised = "nothing"
    except SystemExit as exc:
        raised = str(exc)
    waiting = len(rx)
    return raised, waiting, rx.recv(timeout=TIMEOUT), rx.recv(timeout=TIMEOUT)
