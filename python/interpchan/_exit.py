"""Clean exits: when an interpreter exits, its pools stop and every handle it holds is closed.

This runs from ``threading``'s exit hooks, before the interpreter waits for its non-daemon
threads (worker threads among them): calls blocked in workers on channels whose other end this
interpreter held are woken with ``ChannelClosed``, so the process ends instead of waiting
forever, on a normal exit, an uncaught exception or one Ctrl-C.
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import Any

from . import _interpchan

_pools: weakref.WeakSet[Any] = weakref.WeakSet()


def register(pool: Any) -> None:
    """A pool to stop at exit if it is still running then."""
    _pools.add(pool)


def _failing() -> bool:
    """True if the interpreter is exiting on an uncaught exception (Ctrl-C included)."""
    return getattr(sys, "last_value", None) is not None or getattr(sys, "last_exc", None) is not None


def _at_exit() -> None:
    failing = _failing()
    if failing:  # wake whatever the workers wait for first, then stop the pools
        _interpchan._close_all()
    for pool in list(_pools):
        pool._close_at_exit(failing)
    _interpchan._close_all()


def install() -> None:
    """Registers the exit hook (once per interpreter, when interpchan is imported)."""
    register_atexit = getattr(threading, "_register_atexit", None)
    if register_atexit is not None:
        try:
            register_atexit(_at_exit)
        except RuntimeError:
            pass  # the interpreter is already shutting down
