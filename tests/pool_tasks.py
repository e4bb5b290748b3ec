"""Module-level functions that the Pool tests run in workers."""

from __future__ import annotations

import os
import sys
from typing import Any

import interpchan
from interpchan import _interpchan

TIMEOUT = 30.0
_state: dict[str, Any] = {}


def square(x: int) -> int:
    return x * x


def add(x: int, y: int, *, scale: int = 1) -> int:
    return (x + y) * scale


def interpreter_marker() -> int:
    """Differs between interpreters: the id of this interpreter's Sender type."""
    return id(interpchan.Sender)


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def raise_system_exit(code: int) -> None:
    raise SystemExit(code)


class Unrebuildable(Exception):
    """An exception whose constructor needs two arguments: it does not unpickle."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}+{b}")


def raise_unrebuildable() -> None:
    raise Unrebuildable(1, 2)


def die() -> None:
    """Kills the worker's interpreter: closing every handle it holds ends its task loop."""
    _interpchan._close_all()


def wait_on(rx: interpchan.Receiver) -> Any:
    """Blocks on rx (returns its next item, or "closed")."""
    try:
        return rx.recv(timeout=TIMEOUT)
    except interpchan.ChannelClosed:
        return "closed"


def send_value(tx: interpchan.Sender, value: Any) -> Any:
    """Sends value on tx (a side effect the test sees without asking the future)."""
    tx.send(value)
    return value


def report_then_wait(started: interpchan.Sender, rx: interpchan.Receiver) -> Any:
    started.send("started")
    started.close()
    return wait_on(rx)


def setup(value: Any) -> None:
    """An initializer: remembers value in this worker."""
    _state["value"] = value
    _state["count"] = 0


def setup_fails() -> None:
    raise RuntimeError("initializer failed on purpose")


def initialized_value() -> Any:
    return _state.get("value")


def count_calls() -> tuple[int, int]:
    """(a number naming this worker's interpreter, tasks this worker has run so far)."""
    _state["count"] = _state.get("count", 0) + 1
    return (id(interpchan.Sender), _state["count"])


def path_and_pid() -> tuple[list[str], int]:
    return (list(sys.path), os.getpid())


def fill_buffer(nbytes: int, value: int) -> interpchan.Buffer:
    buf = interpchan.Buffer(nbytes)
    memoryview(buf)[:] = bytes([value]) * nbytes
    return buf


def sum_buffer(view: memoryview) -> int:
    return sum(view.cast("B"))


def with_a_fraction(n: int) -> list[Any]:
    """A result that is natively sendable but for one part (the worker pickles it whole)."""
    import fractions

    return [n, {"part": fractions.Fraction(1, n)}]


def return_lambda() -> Any:
    return lambda: None


def spin(n: int) -> int:
    """Pure-Python CPU work."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def hammer_task(action: str, value: int) -> int:
    """What the hammer runs: a value, an exception, or the death of the worker."""
    if action == "raise":
        raise KeyError(value)
    if action == "die":
        die()
    return value * 2


def pool_in_worker(n: int) -> list[int]:
    """A Pool made in a sub-interpreter: its workers are interpreters too."""
    with interpchan.Pool(2) as pool:
        return list(pool.map(square, range(n), chunksize=3))


def abandon_pool(blocked_on: interpchan.Receiver) -> int:
    """Leaves a pool running (one task blocked on a channel, more queued) when it returns."""
    pool = interpchan.Pool(1)
    value = pool.submit(square, 4).result(TIMEOUT)
    pool.submit(wait_on, blocked_on)
    pool.submit(square, 5)
    return value


def _make_plus(n: int) -> Any:
    def plus(x: int) -> int:
        return x + n

    plus.__name__ = plus.__qualname__ = f"plus_{n}"
    return plus


# Distinct module-level functions (found by name, as pickle looks for them), more than a worker
# keeps: the Pool's tests send them all, in turn.
PLUS = [_make_plus(n) for n in range(150)]
for _plus in PLUS:
    globals()[_plus.__name__] = _plus
del _plus
