"""The sub-interpreter side of spawn(): receive the call, run it, send back the outcome."""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import sys
import traceback
from typing import Any


def _resolve(kind: str, where: str, qualname: str) -> Any:
    if kind == "module":
        obj: Any = importlib.import_module(where)
    else:  # a script run as __main__ in the parent: load it under another name
        name = "__interpchan_main__"
        spec = importlib.util.spec_from_file_location(name, where)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {where!r}")
        obj = importlib.util.module_from_spec(spec)
        sys.modules[name] = obj
        spec.loader.exec_module(obj)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _describe(exc: BaseException) -> tuple[str, str]:
    """(message with type, message and traceback text; qualified type name)."""
    text = "".join(traceback.format_exception(exc)).rstrip()
    exc_type = type(exc)
    return (text, f"{exc_type.__module__}.{exc_type.__qualname__}")


def run(reference: bytes) -> None:
    """Entry point, called by the bootstrap script in the new interpreter."""
    call_rx = pickle.loads(reference)
    kind, where, qualname, args, kwargs, result_tx = call_rx.recv_nowait()
    call_rx.close()
    with result_tx:
        try:
            result = _resolve(kind, where, qualname)(*args, **kwargs)
        except BaseException as exc:
            result_tx.send(("error", _describe(exc)))
            return
        try:
            result_tx.send(("ok", result))
        except Exception as exc:
            text, remote_type = _describe(exc)
            result_tx.send(
                ("error", (f"the return value could not be sent back: {text}", remote_type))
            )
