"""spawn(): run a module-level function in a new own-GIL sub-interpreter on a new thread."""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._interpchan import ChannelClosed, Empty, Receiver, channel


class WorkerError(Exception):
    """The function run by ``spawn`` raised, or its interpreter failed.

    The message carries the remote exception's type, message and traceback text;
    ``remote_type`` is the remote exception's qualified type name (or ``None``).
    """

    def __init__(self, message: str, remote_type: str | None = None) -> None:
        super().__init__(message)
        self.remote_type = remote_type


def _locate(func: Callable[..., Any]) -> tuple[str, str, str]:
    """Where a new interpreter finds ``func``: ("module" or "path", name or file, qualname)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not callable(func) or not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"spawn() needs a module-level function, not {type(func).__name__}")
    if "<" in qualname:
        raise TypeError(
            f"spawn() needs a function importable by name; {qualname!r} is a lambda or a local"
        )
    if module != "__main__":
        return ("module", module, qualname)
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return ("module", spec.name, qualname)  # run with -m: import it under its real name
    path = getattr(main, "__file__", None)
    if path:
        return ("path", path, qualname)  # a script: loaded again (its __main__ block won't run)
    raise TypeError("spawn() cannot find functions defined interactively in __main__")


_BOOTSTRAP = """\
import sys
sys.path[:] = {path!r}
from interpchan._worker import run
run({reference!r})
"""


def _run_in_new_interpreter(script: str) -> str | None:
    """Runs ``script`` in a new own-GIL interpreter, destroys it; returns error text or None."""
    if sys.version_info >= (3, 14):
        from concurrent import interpreters  # type: ignore[import-not-found]

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

        iid = _interpreters.create()  # "isolated": own GIL
        try:
            err = _interpreters.exec(iid, script)
        finally:
            _interpreters.destroy(iid)
        return None if err is None else (getattr(err, "formatted", None) or str(err))
    import _xxsubinterpreters  # type: ignore[import-not-found]

    iid = _xxsubinterpreters.create(isolated=True)  # own GIL
    try:
        _xxsubinterpreters.run_string(iid, script)
    except _xxsubinterpreters.RunFailedError as exc:
        return str(exc)
    finally:
        _xxsubinterpreters.destroy(iid)
    return None


class Worker:
    """A function running in its own sub-interpreter; made by :func:`spawn`."""

    def __init__(self, call_rx: Receiver, result_rx: Receiver, script: str) -> None:
        self._call_rx = call_rx  # keeps the reference in `script` valid until the worker took it
        self._result_rx = result_rx
        self._failure: str | None = None
        self._outcome: tuple[str, Any] | None = None
        self._thread = threading.Thread(target=self._main, args=(script,), name="interpchan-worker")
        self._thread.start()

    def _main(self, script: str) -> None:
        try:
            self._failure = _run_in_new_interpreter(script)
        except BaseException as exc:  # reported by join()
            self._failure = f"{type(exc).__name__}: {exc}"
        finally:
            self._call_rx.close()

    def is_alive(self) -> bool:
        """True while the function runs (or its interpreter is being set up or torn down)."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> Any:
        """Wait for the function; return its value, or raise :class:`WorkerError` if it raised.

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be non-negative")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the worker is still running")
        if self._outcome is None:
            try:
                self._outcome = self._result_rx.recv_nowait()
            except (Empty, ChannelClosed):
                detail = self._failure or "it ended without reporting a result"
                self._outcome = ("error", (f"the worker interpreter failed: {detail}", None))
        status, payload = self._outcome
        if status == "ok":
            return payload
        message, remote_type = payload
        raise WorkerError(message, remote_type)


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
    which starts with this interpreter's ``sys.path``). Arguments and the return value travel
    like channel items; handles among the arguments are held before this returns, so the caller
    may close its own at once. The interpreter is destroyed when ``func`` returns or raises.

    >>> import interpchan, operator
    >>> interpchan.spawn(operator.add, 2, 3).join()
    5
    """
    kind, where, qualname = _locate(func)
    call_tx, call_rx = channel(1)
    result_tx, result_rx = channel(1)
    with call_tx, result_tx:
        # Converts the arguments now (TypeError here if one cannot be sent).
        call_tx.send_nowait((kind, where, qualname, args, kwargs, result_tx))
    script = _BOOTSTRAP.format(path=_search_path(), reference=pickle.dumps(call_rx))
    return Worker(call_rx, result_rx, script)
