"""Ctrl-C: a signal interrupts blocking calls in the main thread of the main interpreter."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import interpchan


def _interrupt_when_blocked(call: Callable[[], Any]) -> float:
    """Run call() in the main thread; a helper thread sends SIGINT once it can run, which (the
    GIL being held until call() blocks) is only once the main thread is blocked inside call().
    Returns how long call() took to raise KeyboardInterrupt."""
    gate = threading.Lock()
    gate.acquire()

    def interrupt() -> None:
        with gate:  # released just before the blocking call
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    helper = threading.Thread(target=interrupt)
    helper.start()
    start = time.monotonic()
    gate.release()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        helper.join(30)
    return time.monotonic() - start


def test_ctrl_c_interrupts_a_blocking_recv(gil_held_until_blocked: None) -> None:
    tx, rx = interpchan.channel()
    elapsed = _interrupt_when_blocked(lambda: rx.recv(timeout=20))
    assert elapsed < 10  # interrupted, not timed out
    tx.send("still usable")
    assert rx.recv(timeout=5) == "still usable"


def test_ctrl_c_interrupts_a_blocking_send(gil_held_until_blocked: None) -> None:
    tx, rx = interpchan.channel(0)
    buf = interpchan.Buffer(8)
    elapsed = _interrupt_when_blocked(lambda: tx.send(buf, timeout=20))
    assert elapsed < 10
    assert not buf.moved and len(rx) == 0  # nothing was sent, the Buffer is still ours


def test_ctrl_c_interrupts_a_blocking_select(gil_held_until_blocked: None) -> None:
    _tx, rx = interpchan.channel()
    elapsed = _interrupt_when_blocked(lambda: interpchan.select([rx], timeout=20))
    assert elapsed < 10


def test_ctrl_c_interrupts_iteration(gil_held_until_blocked: None) -> None:
    _tx, rx = interpchan.channel()
    elapsed = _interrupt_when_blocked(lambda: next(iter(rx)))
    assert elapsed < 10
