"""The sub-interpreter side of Pool: run the tasks of this worker's channel, send outcomes back.

Outcome messages, in the order of the tasks (the pool relies on it):
``(kind, worker id, task id, payload)`` with kind ``"ready"`` (initializer done), ``"init"``
(initializer raised), ``"ok"`` (the value), ``"okp"`` (the value pickled here),
``"err"`` (an error payload, see :func:`error_payload`) or ``"guard"`` (the parent's script
has no ``__main__`` guard).
"""

from __future__ import annotations

import collections.abc
import pickle
from collections.abc import Callable

from ._interpchan import Buffer, ChannelClosed, Receiver, Sender
from ._worker import describe, guard_error_in

TYPE_CHECKING = False  # typing is not imported at run time: every worker imports this module
if TYPE_CHECKING:
    from typing import Any

_ATOMS = frozenset(
    {type(None), bool, int, float, complex, str, bytes, bytearray, memoryview}
    | {Buffer, Sender, Receiver}
)
_CONTAINERS = frozenset({list, tuple, set, frozenset})

_PICKLE_NOTE = """pickle.dumps gets its protocol positionally: on CPython 3.12.1, the first call of
pickle.dumps with a keyword argument made in a sub-interpreter corrupts memory (the process
aborts at exit: "free(): invalid pointer"), as its argument parser's cached keyword names belong
to that interpreter."""


def _native(value: Any, depth: int = 0) -> bool:
    """True if ``value`` converts natively (no pickling), so the pool can always rebuild it."""
    kind = type(value)
    if kind in _ATOMS:
        return True
    if depth > 16:
        return False
    if kind in _CONTAINERS:
        # The types of the items first, at C speed: a list of numbers needs no loop in Python.
        return _ATOMS.issuperset(map(type, value)) or all(_native(v, depth + 1) for v in value)
    if kind is dict:
        return (
            _ATOMS.issuperset(map(type, value)) and _ATOMS.issuperset(map(type, value.values()))
        ) or all(_native(k, depth + 1) and _native(v, depth + 1) for k, v in value.items())
    return isinstance(value, collections.abc.Buffer)


def error_payload(exc: BaseException) -> tuple[bytes | None, str, str]:
    """(the exception pickled, or None if it cannot be; traceback text; qualified type name)."""
    text, type_name = describe(exc)
    try:
        blob: bytes | None = pickle.dumps(exc, 5)  # positional: see _PICKLE_NOTE
    except Exception:
        blob = None
    return (blob, text, type_name)


def run_chunk(fn: Callable[..., Any], chunk: list[tuple[Any, ...]]) -> list[Any]:
    """One task of ``Pool.map`` over several iterables with ``chunksize > 1``."""
    return [fn(*args) for args in chunk]


def run_chunk1(fn: Callable[..., Any], chunk: list[Any]) -> list[Any]:
    """One task of ``Pool.map`` over one iterable, or ``imap_unordered``, with ``chunksize > 1``
    (the items travel as they are, not each in a 1-tuple: that halves the conversion work)."""
    return [fn(item) for item in chunk]


def _outcome(wid: int, tid: int, fn: Any, args: Any, kwargs: Any) -> tuple[Any, ...]:
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:
        return ("err", wid, tid, error_payload(exc))
    if _native(value):
        return ("ok", wid, tid, value)
    try:
        return ("okp", wid, tid, pickle.dumps(value, 5))
    except Exception as exc:
        return ("err", wid, tid, error_payload(TypeError(f"cannot send the result back: {exc}")))


def serve(
    wid: int,
    task_rx: Receiver,
    results_tx: Sender,
    initializer: Callable[..., Any] | None,
    initargs: tuple[Any, ...],
    max_tasks: int | None,
) -> int:
    """A pool worker's life: initializer, then tasks until the channel closes or max_tasks."""
    done = 0
    with task_rx, results_tx:
        if initializer is not None:
            try:
                initializer(*initargs)
            except BaseException as exc:
                kind = "guard" if guard_error_in(exc) else "init"
                results_tx.send((kind, wid, None, error_payload(exc)))
                return done
        results_tx.send(("ready", wid, None, None))
        while max_tasks is None or done < max_tasks:
            try:
                tid, fn, args, kwargs = task_rx.recv()
            except ChannelClosed:
                break
            except Exception as exc:  # the task could not be rebuilt here: it is the next one
                kind = "guard" if guard_error_in(exc) else "err"
                results_tx.send((kind, wid, None, error_payload(exc)))
                done += 1
                continue
            outcome = _outcome(wid, tid, fn, args, kwargs)
            del fn, args, kwargs
            try:
                results_tx.send(outcome)
            except ChannelClosed:
                break
            except Exception as exc:  # a Buffer still viewed, say
                results_tx.send(("err", wid, tid, error_payload(exc)))
            del outcome
            done += 1
    return done
