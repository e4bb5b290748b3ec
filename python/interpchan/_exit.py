"""Clean exits: when the main interpreter exits, its pools stop and every handle it holds closes.

This runs from ``threading``'s exit hooks, before the interpreter waits for its non-daemon
threads (worker threads among them): calls blocked in workers on channels whose other end this
interpreter held are woken with ``ChannelClosed``, so the process ends instead of waiting
forever, on a normal exit, an uncaught exception or one Ctrl-C. Pools still running then are
stopped: tasks not started yet are cancelled (use ``with`` or ``shutdown()`` to drain). A
sub-interpreter that ends stops its own pools the same way, and leaves its other handles to its
threads (its interpreter waits for them, and they may still complete a send).
"""

from __future__ import annotations

import _thread
import os
import threading
import weakref

from . import _interpchan

TYPE_CHECKING = False  # typing is not imported at run time: every worker imports this module
if TYPE_CHECKING:
    from typing import Any

_pools: weakref.WeakSet[Any] = weakref.WeakSet()


def register(pool: Any) -> None:
    """A pool to stop at exit if it is still running then."""
    _pools.add(pool)


def _is_main_interpreter() -> bool:
    check = getattr(_thread, "_is_main_interpreter", None)
    return True if check is None else bool(check())


def _at_exit() -> None:
    # In the main interpreter: wake every call blocked on a channel whose other end it holds.
    # Then stop the pools still running (tasks not started yet are cancelled: use `with` or
    # shutdown() to drain) and close their channels; the interpreter then joins the worker
    # threads, which end. A sub-interpreter's other handles are left to its own threads.
    if _is_main_interpreter():
        _interpchan._close_all()
    for pool in list(_pools):
        pool._close_at_exit()


def install() -> None:
    """Registers the exit hook (once per interpreter, when interpchan is imported).

    A child process made by ``os.fork()`` forgets the parent's pools: their workers and threads
    are not in the child, and their locks may have been held by a thread that is not either.
    """
    os.register_at_fork(after_in_child=_pools.clear)
    register_atexit = getattr(threading, "_register_atexit", None)
    if register_atexit is not None:
        try:
            register_atexit(_at_exit)
        except RuntimeError:
            pass  # the interpreter is already shutting down
