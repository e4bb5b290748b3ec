"""Module-level functions that tests run in peers (threads and own-GIL sub-interpreters)."""

from __future__ import annotations

import dataclasses
import threading
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
        return list(rx)


def consume(rx: interpchan.Receiver, n: int) -> list[Any]:
    """Receive n items."""
    with rx:
        return [rx.recv(timeout=TIMEOUT) for _ in range(n)]


def echo(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """Send back every item until the channel closes; return how many."""
    count = 0
    with rx, tx:
        for item in rx:
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
