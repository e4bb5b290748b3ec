"""spawn() and Worker: run a module-level function in a new own-GIL sub-interpreter on a thread."""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
from collections.abc import Callable

from . import _exit, _worker
from ._interpchan import ChannelClosed, Empty, Receiver, channel

TYPE_CHECKING = False  # typing is not imported at run time: every worker imports this module
if TYPE_CHECKING:
    from typing import Any

# CPython 3.12 can fail ("interpreter creation failed") when two threads create interpreters at
# the same moment: every interpreter interpchan starts is created under this lock.
_CREATE_LOCK = threading.Lock()


class WorkerError(Exception):
    """The function run by ``spawn`` or a ``Pool`` raised, or its interpreter failed.

    The message carries the remote exception's type, message and traceback text;
    ``remote_type`` is the remote exception's qualified type name (or ``None``).
    """

    def __init__(self, message: str, remote_type: str | None = None) -> None:
        super().__init__(message)
        self.remote_type = remote_type


class MainGuardError(WorkerError, RuntimeError):
    """The script run as ``__main__`` starts workers when it is imported (no ``__main__`` guard)."""


def _check_not_loading_main() -> None:
    """Raises the guard error if this interpreter is a worker importing the parent's script."""
    if _worker.loading_main():
        raise _worker.MainGuard(_worker.GUARD_MESSAGE)


def _main_path() -> str | None:
    """The file of the script run as ``__main__`` here, which workers load for unpickling."""
    main = sys.modules.get("__main__")
    if main is None:
        return None
    path = main.__dict__.get("__interpchan_path__") or main.__dict__.get("__file__")
    return path if isinstance(path, str) else None


def _share_main_with_workers() -> str | None:
    """Lets objects of classes from the script, made in workers, unpickle here; returns its path.

    Workers load the script as ``__interpchan_main__``: that name means this ``__main__`` here.
    """
    main = sys.modules.get("__main__")
    if main is not None:
        sys.modules.setdefault(_worker.MAIN_NAME, main)
    return _main_path()


def _locate(func: Callable[..., Any]) -> tuple[str, str, str]:
    """Where a new interpreter finds ``func``: ("module" or "main", module name, qualname)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not callable(func) or not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"spawn() needs a module-level function, not {type(func).__name__}")
    if "<" in qualname:
        raise TypeError(
            f"spawn() needs a function importable by name; {qualname!r} is a lambda or a local"
        )
    if module not in ("__main__", _worker.MAIN_NAME):
        return ("module", module, qualname)
    if _main_path() is None:
        raise TypeError("spawn() cannot find functions defined interactively in __main__")
    return ("main", module, qualname)


_BOOTSTRAP = """\
import sys
sys.path[:] = {path!r}
from interpchan import _worker
_worker.install_main({main!r})
_worker.run({reference!r})
"""


def _run_in_new_interpreter(script: str) -> str | None:
    """Runs ``script`` in a new own-GIL interpreter, destroys it; returns error text or None.

    The interpreter is created, run and destroyed on the calling thread (CPython 3.12 can hang
    destroying an interpreter from another thread than the one that ran its code).
    """
    if sys.version_info >= (3, 14):
        from concurrent import interpreters  # type: ignore[import-not-found]

        with _CREATE_LOCK:
            interp = interpreters.create()
        try:
            interp.exec(script)
        except interpreters.ExecutionFailed as exc:
            return str(exc)
        finally:
            interp.close()
        return None
    if sys.version_info >= (3, 13):
        import _interpreters  # type: ignore[import-not-found]

        with _CREATE_LOCK:
            iid = _interpreters.create()  # "isolated": own GIL
        try:
            err = _interpreters.exec(iid, script)
        finally:
            _interpreters.destroy(iid)
        return None if err is None else (getattr(err, "formatted", None) or str(err))
    import _xxsubinterpreters  # type: ignore[import-not-found]

    with _CREATE_LOCK:
        iid = _xxsubinterpreters.create(isolated=True)  # own GIL
    try:
        _xxsubinterpreters.run_string(iid, script)
    except _xxsubinterpreters.RunFailedError as exc:
        return str(exc)
    finally:
        _xxsubinterpreters.destroy(iid)
    return None


# How long a wait in the main thread of the main interpreter lasts at most before signal handlers
# run (the channels' blocking calls do the same).
_SIGNAL_SLICE = 0.02


def _wait_event(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)``; in the main thread of the main interpreter, in slices, so that
    a signal that comes just before the wait blocks still runs its handler (Ctrl-C) at once,
    not when the wait ends."""
    if (
        threading.current_thread() is not threading.main_thread()
        or not _exit._is_main_interpreter()
    ):
        return event.wait(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _SIGNAL_SLICE if deadline is None else deadline - time.monotonic()
        if event.wait(min(_SIGNAL_SLICE, max(left, 0.0))):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


class Worker:
    """A function running in its own sub-interpreter; made by :func:`spawn`.

    A context manager: leaving the ``with`` block joins it. ``ended`` is a :class:`Receiver`
    that yields one item when the worker has ended (``True`` if the function returned,
    ``False`` if it raised or its interpreter failed) and is closed after it, so a program can
    wait for channels and worker ends in one :func:`interpchan.select` call::

        rx_end, ok = interpchan.select([jobs_done_rx, worker.ended])
    """

    def __init__(
        self,
        call_rx: Receiver,
        result_rx: Receiver,
        script: str,
        on_end: Callable[[Worker], None] | None = None,
    ) -> None:
        self._call_rx = call_rx  # keeps the reference in `script` valid until the worker took it
        self._result_rx = result_rx
        self._on_end = on_end
        self._outcome: tuple[str, Any] | None = None
        self._done = threading.Event()  # set once the outcome is known and the interpreter gone
        ended_tx, self.ended = channel(1)
        self._thread = threading.Thread(
            target=self._main, args=(script, ended_tx), name="interpchan-worker"
        )
        self._thread.start()

    def _main(self, script: str, ended_tx: Any) -> None:
        failure: str | None = None
        try:
            failure = _run_in_new_interpreter(script)
        except BaseException as exc:  # reported by join()
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            self._call_rx.close()
            self._outcome = self._read_outcome(failure)
            self._done.set()
            with ended_tx:
                try:
                    ended_tx.send_nowait(self._outcome[0] == "ok")
                except ChannelClosed:
                    pass  # nobody holds `ended` any more, or this interpreter is exiting
            if self._on_end is not None:
                self._on_end(self)

    def _read_outcome(self, failure: str | None) -> tuple[str, Any]:
        try:
            outcome: tuple[str, Any] = self._result_rx.recv_nowait()
        except (Empty, ChannelClosed):
            if failure is not None and _worker.GUARD_MESSAGE in failure:
                return ("guard", (_worker.GUARD_MESSAGE, None))
            detail = failure or "it ended without reporting a result"
            return ("error", (f"the worker interpreter failed: {detail}", None))
        except Exception as exc:
            return ("error", (f"the worker's result could not be rebuilt here: {exc!r}", None))
        finally:
            self._result_rx.close()
        return outcome

    def is_alive(self) -> bool:
        """True while the function runs (or its interpreter is being set up or torn down)."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> Any:
        """Wait for the function; return its value, or raise :class:`WorkerError` if it raised.

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be non-negative")
        if not self._wait(timeout):
            raise TimeoutError("the worker is still running")
        assert self._outcome is not None
        status, payload = self._outcome
        if status == "ok":
            return payload
        message, remote_type = payload
        if status == "guard":
            raise MainGuardError(message, remote_type)
        raise WorkerError(message, remote_type)

    def _wait(self, timeout: float | None = None) -> bool:
        """Waits until the function returned and its interpreter is gone; False on timeout.

        It waits on an Event (see :func:`_wait_event`), not with ``Thread.join``: CPython 3.12's
        ``Thread.join``, interrupted by Ctrl-C, takes the thread for ended, so that the
        interpreter exits without waiting for it and aborts ("remaining subinterpreters").
        Once the interpreter is gone, the thread only finishes its bookkeeping (``ended``, the
        pool's callback): it is joined, unless this is that thread (the callback asks for the
        outcome).
        """
        if not _wait_event(self._done, timeout):
            return False
        if threading.current_thread() is not self._thread:
            self._thread.join()
        return True

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.join()
        else:  # wait, but do not hide the exception already on its way
            self._wait()


def _start(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_end: Callable[[Worker], None] | None = None,
    path: list[str] | None = None,
) -> Worker:
    """Starts ``func(*args, **kwargs)`` in a new interpreter whose ``sys.path`` is ``path``
    (default: this interpreter's ``sys.path`` now)."""
    _check_not_loading_main()
    kind, where, qualname = _locate(func)
    main_path = _share_main_with_workers()
    call_tx, call_rx = channel(1)
    result_tx, result_rx = channel(1)
    with call_tx, result_tx:
        # Converts the arguments now (TypeError here if one cannot be sent).
        call_tx.send_nowait((kind, where, qualname, args, kwargs, result_tx))
    if path is None:
        path = _search_path()
    script = _BOOTSTRAP.format(path=path, main=main_path, reference=pickle.dumps(call_rx))
    return Worker(call_rx, result_rx, script, on_end)


def _search_path() -> list[str]:
    """``sys.path`` as plain strings, for the new interpreter's bootstrap script.

    Entries may be ``pathlib.Path`` or other path-like objects, whose ``repr`` is not valid in
    the script; they become strings. Entries the import system ignores (not str or path-like)
    are left out.
    """
    return [os.fsdecode(p) for p in sys.path if isinstance(p, (str, bytes, os.PathLike))]


def spawn(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Worker:
    """Run ``func(*args, **kwargs)`` in a new own-GIL sub-interpreter on a new thread.

    ``func`` must be a module-level function (its module is imported in the new interpreter,
    which starts with this interpreter's ``sys.path``); functions and classes of the script run
    as ``__main__`` work too (the worker loads the script under another name). Arguments and the
    return value travel like channel items; handles among the arguments are held before this
    returns, so the caller may close its own at once. The interpreter is destroyed when ``func``
    returns or raises.

    >>> import interpchan, operator
    >>> interpchan.spawn(operator.add, 2, 3).join()
    5
    """
    return _start(func, args, kwargs)
