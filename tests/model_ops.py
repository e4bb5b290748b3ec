"""Channel operations for the model-based test, run in whichever interpreter holds the handles.

The test (tests/test_model.py) drives these in the main interpreter directly, or in an own-GIL
sub-interpreter through ``reply_op``. Handles stay in the interpreter that made or received them,
named by integer keys that the test chooses; every operation returns plain data (an outcome) that
the test compares with its model.

Outcomes: ``("ok", value)`` or ``("err", exception class name)``; values describe what was
received: ``("int", n)``, ``("view", bytes, owned_by_buffer, readonly)``, ``("handle", kind,
channel id)``, or ``("other", repr)`` for anything unexpected.
"""

from __future__ import annotations

import pickle
import re
import threading
from collections.abc import Callable
from typing import Any

import interpchan

#: The handles this interpreter holds, by key.
HANDLES: dict[int, interpchan.Sender | interpchan.Receiver] = {}
#: Where ``reply_op`` sends outcomes (set by ``set_reply`` in a sub-interpreter).
REPLY: list[interpchan.Sender] = []

Outcome = tuple[Any, ...]


def channel_id(handle: interpchan.Sender | interpchan.Receiver) -> int:
    """The channel's id, as repr() shows it."""
    match = re.search(r"channel=(\d+)", repr(handle))
    assert match is not None, repr(handle)
    return int(match.group(1))


def kind_of(handle: object) -> str:
    """'S' for a Sender, 'R' for a Receiver."""
    return "S" if isinstance(handle, interpchan.Sender) else "R"


def _describe(value: Any, new_key: int) -> tuple[Any, ...]:
    """Plain data for a received value; a received handle is kept under new_key."""
    if type(value) is int:
        return ("int", value)
    if type(value) is memoryview:
        return ("view", value.tobytes(), type(value.obj) is interpchan.Buffer, value.readonly)
    if type(value) in (interpchan.Sender, interpchan.Receiver):
        HANDLES[new_key] = value
        return ("handle", kind_of(value), channel_id(value))
    return ("other", repr(value))


def _outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", call())
    except Exception as exc:
        return ("err", type(exc).__name__)


class _ReduceFails:
    """Not sendable: pickling it raises."""

    def __reduce__(self) -> Any:
        raise RuntimeError("refuses to be pickled")


def _generator() -> Any:
    yield 1


def _unsendable(kind: str) -> Any:
    if kind == "lambda":
        return lambda: None
    if kind == "lock":
        return threading.Lock()
    if kind == "generator":
        return _generator()
    return [1, {"deep": (_ReduceFails(),)}]


def new_channel(tx_key: int, rx_key: int, capacity: int | None) -> Outcome:
    """Make a channel; keep its ends under the two keys; return its id."""
    tx, rx = interpchan.channel(capacity)
    HANDLES[tx_key], HANDLES[rx_key] = tx, rx
    return ("ok", channel_id(tx))


def send(key: int, how: str, spec: tuple[Any, ...]) -> Outcome:
    """Send the value spec names: ("int", n), ("handle", key), ("buffer", bytes) or
    ("unsendable", kind), the latter with a Buffer beside it that must stay unmoved.

    how: "nowait", "timeout0" (timeout=0) or "timeout" (a tiny timeout). For a Buffer the
    outcome has a third member: whether the Buffer was moved."""
    tx = HANDLES[key]
    buf = None
    if spec[0] == "int":
        value: Any = spec[1]
    elif spec[0] == "handle":
        value = HANDLES[spec[1]]
    elif spec[0] == "buffer":
        buf = interpchan.Buffer(len(spec[1]))
        memoryview(buf)[:] = spec[1]
        value = buf
    else:
        buf = interpchan.Buffer(8)
        value = (buf, _unsendable(spec[1]))
    if how == "nowait":
        outcome = _outcome(lambda: tx.send_nowait(value))
    elif how == "timeout0":
        outcome = _outcome(lambda: tx.send(value, timeout=0))
    else:
        outcome = _outcome(lambda: tx.send(value, timeout=0.001))
    if buf is not None:
        return (*outcome, buf.moved)
    return outcome


def recv(key: int, how: str, new_key: int) -> Outcome:
    """Receive with recv_nowait, recv(timeout=0) or recv(tiny timeout)."""
    rx = HANDLES[key]
    if how == "nowait":
        call = rx.recv_nowait
    elif how == "timeout0":
        call = lambda: rx.recv(timeout=0)  # noqa: E731
    else:
        call = lambda: rx.recv(timeout=0.001)  # noqa: E731
    return _outcome(lambda: _describe(call(), new_key))


def select(keys: list[int], new_key: int) -> Outcome:
    """select(timeout=0) over the receivers; the value is (index picked, received value)."""
    receivers = [HANDLES[k] for k in keys]

    def call() -> tuple[Any, ...]:
        picked, value = interpchan.select(receivers, timeout=0)
        index = next(i for i, r in enumerate(receivers) if r is picked)
        return (index, _describe(value, new_key))

    return _outcome(call)


def drain(key: int, first_key: int) -> Outcome:
    """list(iter(rx)); received handles are kept under first_key, first_key + 1, ..."""
    rx = HANDLES[key]
    return _outcome(lambda: [_describe(v, first_key + i) for i, v in enumerate(list(rx))])


def clone(key: int, new_key: int) -> Outcome:
    """Clone the handle under new_key."""

    def call() -> None:
        HANDLES[new_key] = HANDLES[key].clone()

    return _outcome(call)


def close(key: int, how: str) -> Outcome:
    """Close the handle: "close", "twice" (close, close again) or "with" (context manager)."""
    handle = HANDLES[key]
    if how == "with":
        with handle as entered:
            assert entered is handle
    else:
        handle.close()
        if how == "twice":
            handle.close()
    return ("ok", None)


def drop(key: int) -> Outcome:
    """Forget the handle: it is released at once (its refcount reaches zero)."""
    del HANDLES[key]
    return ("ok", None)


def export(key: int) -> Outcome:
    """pickle.dumps of the handle: a reference valid in any interpreter of the process."""
    return _outcome(lambda: pickle.dumps(HANDLES[key]))


def adopt(key: int, reference: bytes) -> Outcome:
    """Unpickle a reference into a handle kept under key."""

    def call() -> str:
        handle = pickle.loads(reference)
        HANDLES[key] = handle
        return kind_of(handle)

    return _outcome(call)


def states(keys: list[int]) -> Outcome:
    """(kind, closed, len, capacity, bool, channel id) of each handle."""
    return (
        "ok",
        [
            (
                kind_of(h),
                h.closed,
                len(h),
                h.capacity,
                bool(h),
                channel_id(h),
            )
            for h in (HANDLES[k] for k in keys)
        ],
    )


def set_reply(reference: bytes) -> None:
    """In a sub-interpreter: where ``reply_op`` sends its outcomes."""
    REPLY.append(pickle.loads(reference))


def reply_op(name: str, *args: Any) -> None:
    """In a sub-interpreter: run an operation and send its outcome back."""
    REPLY[0].send_nowait(globals()[name](*args))
