"""Signals at blocking calls: Ctrl-C interrupts them in the main thread of the main interpreter,
handlers that return leave them waiting, and signals elsewhere do not disturb them."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import fault_workers
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


# --- every blocking call, with handlers that return, raise, or use the channel ------------------


class _Stop(Exception):
    """Raised by a signal handler: must reach the caller unchanged."""


def _cases() -> dict[str, Callable[[], tuple[Callable[[], Any], Callable[[], Any], Any]]]:
    """name -> setup() giving (the blocking call, what unblocks it, a check of what it returned
    that also checks, if the call was interrupted instead, that nothing was lost)."""

    def recv(timeout: float | None) -> Any:
        tx, rx = interpchan.channel()

        def check(got: Any) -> None:
            if got is _INTERRUPTED:
                tx.send("after")
                got = rx.recv(timeout=5)
                assert got == "after"
            else:
                assert got == "item" and len(rx) == 0

        return (lambda: rx.recv(timeout=timeout)), (lambda: tx.send("item")), check

    def send(capacity: int) -> Any:
        tx, rx = interpchan.channel(capacity)
        if capacity:
            tx.send("first")
        buf = interpchan.Buffer(8)
        received: list[Any] = []

        def unblock() -> None:
            received.append(rx.recv(timeout=30))

        def check(got: Any) -> None:
            if got is _INTERRUPTED:
                assert not buf.moved and len(rx) == capacity  # nothing enqueued
            else:
                assert got is None and buf.moved
                rest = [rx.recv(timeout=5) for _ in range(capacity)]
                assert len((received + rest)[-1]) == 8  # the Buffer arrived, last

        return (lambda: tx.send(buf)), unblock, check

    def select() -> Any:
        _tx_a, rx_a = interpchan.channel()
        tx_b, rx_b = interpchan.channel()

        def check(got: Any) -> None:
            if got is not _INTERRUPTED:
                assert got == (rx_b, "b")

        return (lambda: interpchan.select([rx_a, rx_b])), (lambda: tx_b.send("b")), check

    def iteration() -> Any:
        tx, rx = interpchan.channel()

        def check(got: Any) -> None:
            if got is not _INTERRUPTED:
                assert got == "i"

        return (lambda: next(iter(rx))), (lambda: tx.send("i")), check

    return {
        "recv": lambda: recv(None),
        "recv-timeout": lambda: recv(60),
        "send-full": lambda: send(1),
        "send-rendezvous": lambda: send(0),
        "select": select,
        "iteration": iteration,
    }


_INTERRUPTED = object()
CASES = _cases()


def _signal_while_blocked(
    call: Callable[[], Any], handler: Callable[..., Any], after: Callable[[], Any] | None
) -> Any:
    """Run call() in the main thread; once it is blocked a helper thread sends SIGUSR1 (handled
    by handler), waits until the handler ran, then runs after() (if given) to unblock the call.
    Returns what call() returned, or _INTERRUPTED if it raised _Stop."""
    handled = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        handled.set()
        handler()

    gate = threading.Lock()
    gate.acquire()
    errors: list[BaseException] = []

    def helper() -> None:
        try:
            with gate:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
            assert handled.wait(30), "the handler did not run"
            if after is not None:
                after()
        except BaseException as exc:
            errors.append(exc)

    old = signal.signal(signal.SIGUSR1, on_signal)
    thread = threading.Thread(target=helper)
    thread.start()
    try:
        gate.release()
        try:
            result = call()
        except _Stop:
            result = _INTERRUPTED
    finally:
        thread.join(30)
        signal.signal(signal.SIGUSR1, old)
    assert not errors, errors
    assert handled.is_set()
    return result


@pytest.mark.parametrize("case", CASES)
def test_a_signal_handler_that_returns_leaves_the_call_waiting(
    case: str, gil_held_until_blocked: None
) -> None:
    call, unblock, check = CASES[case]()
    got = _signal_while_blocked(call, handler=lambda: None, after=unblock)
    assert got is not _INTERRUPTED
    check(got)


@pytest.mark.parametrize("case", CASES)
def test_an_exception_from_a_signal_handler_ends_the_call_unchanged(
    case: str, gil_held_until_blocked: None
) -> None:
    call, _unblock, check = CASES[case]()

    def handler() -> None:
        raise _Stop("from the handler")

    got = _signal_while_blocked(call, handler, after=None)
    assert got is _INTERRUPTED
    check(got)  # nothing lost, nothing enqueued, the channel works


def test_a_signal_handler_can_send_to_the_channel_its_thread_waits_on(
    gil_held_until_blocked: None,
) -> None:
    tx, rx = interpchan.channel()
    got = _signal_while_blocked(rx.recv, handler=lambda: tx.send("from the handler"), after=None)
    assert got == "from the handler"


def test_a_signal_handler_can_close_the_handle_its_thread_waits_on(
    gil_held_until_blocked: None,
) -> None:
    _tx, rx = interpchan.channel()
    with pytest.raises(interpchan.ChannelClosed):
        _signal_while_blocked(rx.recv, handler=rx.close, after=None)


def _thread_state(native_id: int) -> str:
    with open(f"/proc/self/task/{native_id}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_signals_to_a_thread_blocked_in_a_sub_interpreter_do_not_disturb_it() -> None:
    """Signals are handled by the main interpreter only; delivered to the thread of a
    sub-interpreter blocked in recv, they interrupt its wait in the kernel, and recv goes on."""
    to_worker, worker_rx = interpchan.channel()
    report_tx, report = interpchan.channel()
    worker = interpchan.spawn(fault_workers.report_thread_then_recv, worker_rx, report_tx)
    worker_rx.close()
    report_tx.close()
    ident, native_id = report.recv(timeout=30)
    deadline = time.monotonic() + 30
    while _thread_state(native_id) != "S":  # asleep: blocked in recv
        assert time.monotonic() < deadline, "the worker never blocked"
        os.sched_yield()
    handled = []
    old = signal.signal(signal.SIGUSR1, lambda *args: handled.append(args[0]))
    try:
        for i in range(1, 6):
            signal.pthread_kill(ident, signal.SIGUSR1)
            while len(handled) < i:  # delivered (and handled here) before the next one
                assert time.monotonic() < deadline, "the signal was not handled"
                os.sched_yield()
        assert _thread_state(native_id) == "S"  # still blocked, not failed
        to_worker.send("after the signals")
        assert worker.join(30) == "after the signals"
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert len(handled) == 5  # the main interpreter ran the handler for each
