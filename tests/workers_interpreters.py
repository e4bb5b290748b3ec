"""Module-level functions the concurrent.interpreters tests (3.14+) run in other interpreters."""

from __future__ import annotations

from typing import Any

import interpchan

TIMEOUT = 30.0


def capitalize_view(q_in: Any, q_out: Any) -> int:
    """Take a memoryview from the queue q_in, upper-case its first byte, put it on q_out."""
    view = q_in.get(timeout=TIMEOUT)
    view[0:1] = view[0:1].tobytes().upper()
    q_out.put(view)
    return view.nbytes


def send_from_queue(q: Any, item: Any) -> bool:
    """Take a Sender from the queue q, send item through it, close it; report it was a Sender."""
    tx = q.get(timeout=TIMEOUT)
    with tx:
        tx.send(item, timeout=TIMEOUT)
    return isinstance(tx, interpchan.Sender)


def channel_types_here() -> tuple[int, int]:
    """ids of this interpreter's Sender and Receiver types (each interpreter has its own)."""
    return id(interpchan.Sender), id(interpchan.Receiver)
