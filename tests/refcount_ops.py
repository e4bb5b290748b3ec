"""Each core operation as a function, and how much a loop of it moves CPython's reference total.

Used by tests/test_refcounts.py, in the main interpreter and in an own-GIL sub-interpreter (so
this module imports nothing but the standard library and interpchan).
"""

from __future__ import annotations

import dataclasses
import gc
import operator
import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

import interpchan


@dataclasses.dataclass
class Pickled:
    """A user class: travels by pickle."""

    value: int


ITEMS: dict[str, Any] = {
    "None": None,
    "bool": True,
    "small int": 7,
    "big int": 1 << 200,
    "negative big int": -(1 << 70),
    "float": 2.5,
    "complex": 1 - 2j,
    "str": "héllo wörld",
    "str with a lone surrogate": "a\udcff",
    "bytes": b"\x00bytes",
    "tuple": (1, "two", 3.0),
    "list": [1, [2, [3]]],
    "dict": {"k": [1, 2], 3: "v"},
    "set": {1, "x"},
    "frozenset": frozenset({2, "y"}),
    "nested": {"a": ({1}, frozenset({2}), [b"c", None])},
    "pickled object": Pickled(5),
}


def _send_recv(item: Any) -> Callable[[], None]:
    tx, rx = interpchan.channel()

    def op() -> None:
        tx.send(item)
        rx.recv()

    op.keep = (tx, rx)  # type: ignore[attr-defined]  # the channel lives as long as the op
    return op


def _nowait(item: Any) -> Callable[[], None]:
    tx, rx = interpchan.channel(1)

    def op() -> None:
        tx.send_nowait(item)
        rx.recv_nowait()

    op.keep = (tx, rx)  # type: ignore[attr-defined]
    return op


def _buffer_move() -> None:
    tx, rx = _CHANNEL
    buf = interpchan.Buffer(256)
    memoryview(buf)[:3] = b"abc"
    tx.send(buf)
    view = rx.recv()
    view.release()


def _copied_bytearray() -> None:
    tx, rx = _CHANNEL
    tx.send(bytearray(b"copied"))
    rx.recv().release()


def _handle_item() -> None:
    tx, rx = _CHANNEL
    tx.send(tx)
    rx.recv().close()


def _clone() -> None:
    tx, rx = _CHANNEL
    tx.clone().close()
    rx.clone()


def _new_channel_and_close() -> None:
    tx, rx = interpchan.channel(4)
    tx.send(1)
    tx.close()
    rx.close()


def _select() -> None:
    tx, rx = _CHANNEL
    _, rx2 = _OTHER
    tx.send(1)
    interpchan.select([rx2, rx])


def _pickled_handle() -> None:
    tx, _ = _CHANNEL
    pickle.loads(pickle.dumps(tx)).close()


def _refused_item() -> None:
    tx, _ = _CHANNEL
    try:
        tx.send([1, lambda: None])  # a lambda cannot be pickled: TypeError, nothing sent
    except TypeError:
        pass


def _native_only_send() -> None:
    """The Pool workers' send: an item with a part that would be pickled is refused (a Buffer
    in it stays put), a native one is sent and received."""
    tx, rx = _CHANNEL
    buf = interpchan.Buffer(64)
    assert tx._send_native_nowait([1, buf, {"x": Pickled(2)}]) is False
    assert tx._send_native_nowait([1, buf, {"x": (2.5, "y")}]) is True
    rx.recv()


def _empty_and_closed() -> None:
    tx, rx = interpchan.channel()
    try:
        rx.recv_nowait()
    except interpchan.Empty:
        pass
    try:
        rx.recv(timeout=0)
    except TimeoutError:
        pass
    tx.close()
    try:
        rx.recv()
    except interpchan.ChannelClosed:
        pass


def _spawn() -> None:
    interpchan.spawn(operator.add, 2, 3).join()


def _spawn_without_interpchan() -> None:
    """What spawn does, with CPython alone: a new thread runs a new interpreter that unpickles
    a module-level function with 33 random bytes beside it (as a handle's reference is), pickled
    here. No channel, and interpchan is never imported in the new interpreter (the helper that
    creates it only picks the interpreter API of this CPython version)."""
    script = f"import pickle\npickle.loads({pickle.dumps((operator.add, os.urandom(33)))!r})\n"
    from interpchan._spawn import _run_in_new_interpreter

    thread = threading.Thread(target=_run_in_new_interpreter, args=(script,))
    thread.start()
    thread.join()


_CHANNEL = interpchan.channel()
_OTHER = interpchan.channel()


def operations() -> dict[str, tuple[Callable[[], None], int]]:
    """Name -> (operation, loop count)."""
    ops: dict[str, tuple[Callable[[], None], int]] = {}
    for name, item in ITEMS.items():
        ops[f"send/recv {name}"] = (_send_recv(item), 200)
    ops["send_nowait/recv_nowait"] = (_nowait(ITEMS["nested"]), 200)
    ops["Buffer move"] = (_buffer_move, 200)
    ops["copied bytearray"] = (_copied_bytearray, 200)
    ops["handle as item"] = (_handle_item, 200)
    ops["clone"] = (_clone, 200)
    ops["new channel, close"] = (_new_channel_and_close, 200)
    ops["select"] = (_select, 200)
    ops["pickled handle"] = (_pickled_handle, 200)
    ops["refused item"] = (_refused_item, 200)
    ops["native-only send"] = (_native_only_send, 200)
    ops["empty, timeout, closed"] = (_empty_and_closed, 200)
    ops["spawn"] = (_spawn, 20)
    ops["spawn's steps without interpchan"] = (_spawn_without_interpchan, 20)
    return ops


def _totals() -> tuple[int, int]:
    gc.collect()
    return sys.gettotalrefcount(), sys.getallocatedblocks()  # type: ignore[attr-defined]


def measure(op: Callable[[], None], n: int) -> tuple[int, int]:
    """(reference total, allocated blocks) after n calls of op minus before: a warm-up loop
    first (caches, free lists, specialised bytecode settle), then the measured one."""
    for _ in range(n):
        op()
    before = _totals()
    for _ in range(n):
        op()
    after = _totals()
    return after[0] - before[0], after[1] - before[1]


def measure_all(names: list[str] | None = None, rounds: int = 3) -> dict[str, tuple[int, int]]:
    """Every operation's (reference total, blocks) change, as measure() gives it, less what an
    empty loop moves (measured next to it): the first of ``rounds`` that moved nothing, else the
    last one. A cache filled once settles within a round or two; a leak moves every round by at
    least the loop count."""
    results = {}
    for name, (op, n) in operations().items():
        if names is None or name in names:
            for _ in range(rounds):
                noop = measure(lambda: None, 10)
                refs, blocks = measure(op, n)
                results[name] = (refs - noop[0], blocks - noop[1])
                if results[name] == (0, 0):
                    break
    return results


def main() -> None:
    """Prints, as JSON, measure_all() here (a main interpreter) and in an own-GIL
    sub-interpreter."""
    import json

    main = measure_all()
    sub = interpchan.spawn(measure_all).join(timeout=600)
    print(json.dumps({"main": main, "sub": sub}))


if __name__ == "__main__":
    main()
