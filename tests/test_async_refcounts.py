"""Reference counts and memory blocks return to where they started after each awaitable call
(the native entries recv_async, send_async, __anext__ and the loop's _Waker), on a debug build of
CPython; see test_refcounts.py for the method."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest

import interpchan
import refcount_ops
from interpchan import _interpchan

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "gettotalrefcount"), reason="needs a debug build of CPython (Py_DEBUG)"
)

N = 200


def settled(op: Callable[[], None]) -> tuple[int, int]:
    """measure() less an empty loop's, the first of three rounds that moved nothing (caches
    settle within a round or two; a leak moves every round by at least N)."""
    moved = (0, 0)
    for _ in range(3):
        noop = refcount_ops.measure(lambda: None, 10)
        refs, blocks = refcount_ops.measure(op, N)
        moved = (refs - noop[0], blocks - noop[1])
        if moved == (0, 0):
            break
    return moved


def drive(coro: object) -> object:
    """Runs a coroutine that completes without suspending; returns its value."""
    try:
        coro.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        return done.value
    raise AssertionError("the coroutine suspended")


def test_immediate_calls_keep_refcounts() -> None:
    tx, rx = interpchan.channel()

    def recv() -> None:
        tx.send(("x", 1))
        assert drive(rx.recv_async(timeout=1.0)) == ("x", 1)

    def send_and_anext() -> None:
        drive(tx.send_async(["y"], timeout=None))
        assert drive(rx.__anext__()) == ["y"]

    def select() -> None:
        tx.send(2)
        assert drive(interpchan.select_async([rx])) == (rx, 2)

    for op in (recv, send_and_anext, select):
        assert settled(op) == (0, 0), op.__name__


def test_suspended_calls_and_the_waker_keep_refcounts() -> None:
    tx, rx = interpchan.channel(capacity=1)
    loop = asyncio.new_event_loop()

    async def round_trip() -> None:
        waiting = asyncio.ensure_future(rx.recv_async())
        await asyncio.sleep(0)  # suspended, registered with the waker
        tx.send("z")
        assert await waiting == "z"
        tx.send(0)
        sending = asyncio.ensure_future(tx.send_async(1))
        await asyncio.sleep(0)
        assert rx.recv_nowait() == 0
        await sending
        assert rx.recv_nowait() == 1

    def waker_methods() -> None:
        waker = _interpchan._Waker()
        key = waker.watch(rx)
        assert waker.key(rx) == key
        waker.unwatch(rx)
        assert waker.take() == []
        assert waker.fileno() >= 0
        waker.close()

    try:
        # A whole event-loop round trip also exercises asyncio's own caches, which under -X dev
        # (asyncio's debug mode: source tracebacks, slow-callback logging on a loaded machine)
        # can keep moving by a few references over a round of N; a leak in interpchan's
        # suspended paths moves the totals by at least N (one per call), and fails here.
        refs, blocks = settled(lambda: loop.run_until_complete(round_trip()))
        assert refs < N and blocks < N, (refs, blocks)
        assert settled(waker_methods) == (0, 0)
    finally:
        loop.close()
