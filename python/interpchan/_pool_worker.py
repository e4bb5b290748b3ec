"""The sub-interpreter side of Pool: run the tasks of this worker's channel, send outcomes back.

Tasks arrive as ``(key, function, args, kwargs)``. ``key`` is None for a function sent as it is;
otherwise the function is kept here under that key: it comes once as its pickle (bytes), later
tasks send None in its place. Key 0 starts the cache afresh (the pool's side of it filled up).

Outcome messages, in the order of the tasks (the pool relies on it):
``(kind, worker id, payload)`` with kind ``"ready"`` (initializer done), ``"init"``
(initializer raised), ``"ok"`` (the value), ``"okp"`` (the value pickled here),
``"err"`` (an error payload, see :func:`error_payload`) or ``"guard"`` (the parent's script
has no ``__main__`` guard).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

from ._interpchan import ChannelClosed, ChannelError, Receiver, Sender
from ._worker import describe, guard_error_in

TYPE_CHECKING = False  # typing is not imported at run time: every worker imports this module
if TYPE_CHECKING:
    from typing import Any

_NOT_REBUILT = (
    "a received item could not be rebuilt in this interpreter (it was taken off the channel); "
    "see the cause"
)
_PICKLE_NOTE = """pickle.dumps gets its protocol positionally: on CPython 3.12.1, the first call of
pickle.dumps with a keyword argument made in a sub-interpreter corrupts memory (the process
aborts at exit: "free(): invalid pointer"), as its argument parser's cached keyword names belong
to that interpreter."""


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


class _Unloadable:
    """A cached function whose pickle did not load here: each task calling it fails so."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _function(cache: dict[int, Any], key: int | None, fn: Any) -> Any:
    """The task's function: as sent, loaded from its pickle (and kept), or the one kept."""
    if key is None:
        return fn
    if fn is None:
        return cache[key]
    if key == 0:
        cache.clear()
    try:
        fn = pickle.loads(fn)
    except Exception as exc:
        # As if the task itself could not be received (its function travels apart).
        error = ChannelError(_NOT_REBUILT)
        error.__cause__ = exc
        fn = _Unloadable(error)
    cache[key] = fn
    return fn


def _failure(wid: int, exc: BaseException) -> tuple[Any, ...]:
    return ("guard" if guard_error_in(exc) else "err", wid, error_payload(exc))


def _outcome(wid: int, fn: Any, args: Any, kwargs: Any) -> tuple[Any, ...]:
    if type(fn) is _Unloadable:
        return _failure(wid, fn.exc)
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:
        return ("err", wid, error_payload(exc))
    return ("ok", wid, value)


def _pickled(outcome: tuple[Any, ...]) -> tuple[Any, ...]:
    """An ``"ok"`` outcome whose value is not natively sendable, pickled here (``"okp"``): so the
    pool can tell a result it cannot rebuild (that task fails) from a broken results channel."""
    _, wid, value = outcome
    try:
        return ("okp", wid, pickle.dumps(value, 5))
    except Exception as exc:
        return ("err", wid, error_payload(TypeError(f"cannot send the result back: {exc}")))


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
    cache: dict[int, Any] = {}
    with task_rx, results_tx:
        if initializer is not None:
            try:
                initializer(*initargs)
            except BaseException as exc:
                kind = "guard" if guard_error_in(exc) else "init"
                results_tx.send((kind, wid, error_payload(exc)))
                return done
        results_tx.send(("ready", wid, None))
        while max_tasks is None or done < max_tasks:
            try:
                key, fn, args, kwargs = task_rx.recv()
            except ChannelClosed:
                break
            except Exception as exc:  # the task could not be rebuilt here: it is the next one
                results_tx.send(_failure(wid, exc))
                done += 1
                continue
            if fn is None and key is not None:
                fn = cache[key]  # the common case, inline: a function this worker keeps
            else:
                fn = _function(cache, key, fn)
            outcome = _outcome(wid, fn, args, kwargs)
            del fn, args, kwargs
            try:  # the results channel is unbounded: never full
                if not results_tx._send_native_nowait(outcome):
                    results_tx.send_nowait(_pickled(outcome))
            except ChannelClosed:
                break
            except Exception as exc:  # a Buffer still viewed, say
                results_tx.send(("err", wid, error_payload(exc)))
            del outcome
            done += 1
    return done
