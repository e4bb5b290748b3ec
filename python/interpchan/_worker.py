"""The sub-interpreter side of spawn(): the parent's script as __main__, the call, its outcome."""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import sys
import types

TYPE_CHECKING = False  # typing is not imported at run time: every worker imports this module
if TYPE_CHECKING:
    from typing import Any

MAIN_NAME = "__interpchan_main__"
"""The name under which a worker loads the script that is ``__main__`` in its parent."""

GUARD_MESSAGE = (
    "the script run as __main__ starts interpchan workers (spawn or Pool) when it is imported. "
    "Each worker imports that script to find the functions and classes defined in it, so the "
    'code that starts workers must be under an `if __name__ == "__main__":` guard.'
)

_loading = False


class MainGuard(RuntimeError):
    """Raised in a worker when the parent's script, being loaded there, starts workers."""


def loading_main() -> bool:
    """True while this interpreter is loading its parent's script (workers must not start)."""
    return _loading


def _load_main(path: str) -> types.ModuleType:
    """Loads the parent's script as MAIN_NAME, makes it this interpreter's __main__."""
    global _loading
    spec = importlib.util.spec_from_file_location(MAIN_NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the parent's script {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_NAME] = module
    _loading = True
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MAIN_NAME]
        raise
    finally:
        _loading = False
    sys.modules["__main__"] = module
    return module


def install_main(path: str | None) -> None:
    """Makes ``__main__`` here stand for the parent's script, loaded on first use.

    Unpickling ``__main__.Job`` (a class defined in the parent's script) then loads the script
    once under MAIN_NAME (its ``__main__`` block does not run) and finds ``Job`` there. Loading
    waits for first use so that workers of a program whose ``__main__`` is never named by a task
    do not import it at all.
    """
    if path is None:
        return
    stub = types.ModuleType("__main__")
    stub.__interpchan_path__ = path  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        module = sys.modules.get(MAIN_NAME)
        if module is None:
            module = _load_main(path)
        return getattr(module, name)

    stub.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules["__main__"] = stub


def guard_error_in(exc: BaseException) -> bool:
    """True if ``exc`` (or an exception it was raised from) is the missing-guard error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MainGuard):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _resolve(kind: str, where: str, qualname: str) -> Any:
    if kind == "module":
        obj: Any = importlib.import_module(where)
    else:  # defined in the parent's script: its stand-in here
        obj = sys.modules["__main__"]
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def describe(exc: BaseException) -> tuple[str, str]:
    """(message with type, message and traceback text; qualified type name)."""
    import traceback  # only on errors: it is slow to import, and every worker imports this

    text = "".join(traceback.format_exception(exc)).rstrip()
    exc_type = type(exc)
    return (text, f"{exc_type.__module__}.{exc_type.__qualname__}")


def run(reference: bytes) -> None:
    """Entry point of spawn(), called by the bootstrap script in the new interpreter."""
    call_rx = pickle.loads(reference)
    try:
        call = call_rx.recv_nowait()
    except Exception as exc:
        # The arguments could not be rebuilt here; without a result channel the parent sees the
        # failure text, or the guard message alone.
        if guard_error_in(exc):
            raise MainGuard(GUARD_MESSAGE) from None
        raise
    finally:
        call_rx.close()
    kind, where, qualname, args, kwargs, result_tx = call
    with result_tx:
        try:
            result = _resolve(kind, where, qualname)(*args, **kwargs)
        except BaseException as exc:
            if guard_error_in(exc):
                result_tx.send(("guard", (GUARD_MESSAGE, None)))
            else:
                result_tx.send(("error", describe(exc)))
            return
        try:
            result_tx.send(("ok", result))
        except Exception as exc:
            text, remote_type = describe(exc)
            result_tx.send(
                ("error", (f"the return value could not be sent back: {text}", remote_type))
            )
