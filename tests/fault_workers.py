"""Module-level functions that the fault tests run inside sub-interpreters and threads."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import interpchan

TIMEOUT = 30.0


def start_blocked_call(call: Callable[[], Any], report: interpchan.Sender) -> None:
    """Start a thread of this interpreter that reports "blocking", makes the call (which blocks),
    then reports what the call returned, or the name of the exception it raised."""

    def run() -> None:
        with report:
            report.send("blocking")
            try:
                outcome = call()
            except BaseException as exc:
                outcome = type(exc).__name__
            report.send(outcome)

    threading.Thread(target=run).start()


def start_blocked_send(tx: interpchan.Sender, item: Any, report: interpchan.Sender) -> None:
    """A thread of this interpreter blocks in ``tx.send(item)`` (no timeout); reports "sent"."""
    start_blocked_call(lambda: tx.send(item) or "sent", report)


def start_blocked_recv(rx: interpchan.Receiver, report: interpchan.Sender) -> None:
    """A thread of this interpreter blocks in ``rx.recv()`` (no timeout); reports the item."""
    start_blocked_call(rx.recv, report)


def close_wakes_blocked_calls() -> dict[str, str]:
    """In this interpreter: for each blocking call, block it in a thread, close its handle from
    this thread, and report how the call ended (exception name, or the value it returned)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000)  # a thread keeps the GIL until it blocks: no sleeps, no races
    try:
        outcomes = {}
        for name, setup in _CLOSE_CASES.items():
            call, handle = setup()
            outcomes[name] = _close_while_blocked(call, handle)
        return outcomes
    finally:
        sys.setswitchinterval(old)


def _close_while_blocked(call: Callable[[], Any], handle: Any) -> str:
    started = threading.Event()
    outcome: list[str] = []

    def run() -> None:
        started.set()  # this thread keeps the GIL until call() blocks (and releases it)
        try:
            outcome.append(repr(call()))
        except BaseException as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=run)
    thread.start()
    started.wait(TIMEOUT)
    blocked = not outcome  # we only run again once the thread gave the GIL up, blocked in call()
    handle.close()
    thread.join(TIMEOUT)
    return outcome[0] if blocked and outcome else "not blocked"


def _recv_case() -> tuple[Callable[[], Any], Any]:
    tx, rx = interpchan.channel()
    _keep.append(tx)
    return rx.recv, rx


def _send_case() -> tuple[Callable[[], Any], Any]:
    tx, rx = interpchan.channel(1)
    tx.send("fills it")
    _keep.append(rx)
    return (lambda: tx.send("no room")), tx


def _select_case() -> tuple[Callable[[], Any], Any]:
    tx, rx = interpchan.channel()
    _keep.append(tx)
    return (lambda: interpchan.select([rx])), rx


def _iter_case() -> tuple[Callable[[], Any], Any]:
    tx, rx = interpchan.channel()
    _keep.append(tx)
    return (lambda: list(rx)), rx


_keep: list[Any] = []  # the other ends stay open, so only close() can wake the calls
_CLOSE_CASES = {"recv": _recv_case, "send": _send_case, "select": _select_case, "iter": _iter_case}


def rebuild_failures(rx: interpchan.Receiver) -> list[tuple[Any, ...]]:
    """Receive by recv, select and iteration, two items each; report each outcome as
    ("item", value) or ("error", exception type, cause type, whether it is a ChannelError)."""
    out: list[tuple[Any, ...]] = []
    iterator = iter(rx)

    def attempt(call: Callable[[], Any]) -> None:
        try:
            out.append(("item", call()))
        except Exception as exc:
            cause = type(exc.__cause__).__name__
            is_channel_error = isinstance(exc, interpchan.ChannelError)
            out.append(("error", type(exc).__name__, cause, is_channel_error))

    for call in (
        lambda: rx.recv(timeout=TIMEOUT),
        lambda: interpchan.select([rx], timeout=TIMEOUT)[1],
        lambda: next(iterator),
    ):
        attempt(call)
        attempt(call)
    rx.close()
    return out


def nest(depth: int, kind: str = "list") -> Any:
    """Containers nested ``depth`` deep: list, tuple, dict, frozenset, or mixed (list, tuple and
    dict in turn)."""
    item: Any = 0
    for level in range(depth):
        k = ("list", "tuple", "dict")[level % 3] if kind == "mixed" else kind
        if k == "list":
            item = [item]
        elif k == "tuple":
            item = (item,)
        elif k == "dict":
            item = {"k": item}
        else:
            item = frozenset({item})
    return item


def depth_of(item: Any) -> int:
    """How deep ``nest`` nested the containers of item (without recursion)."""
    depth = 0
    while isinstance(item, (list, tuple, dict, set, frozenset)):
        item = next(iter(item.values())) if isinstance(item, dict) else next(iter(item))
        depth += 1
    return depth


def self_referential() -> list[Any]:
    """Containers that contain themselves, directly or through others."""
    loop: list[Any] = []
    loop.append(loop)
    d: dict[str, Any] = {}
    d["me"] = d
    a: list[Any] = []
    b = {"a": (a,)}
    a.append(b)
    return [loop, d, a, {"k": [1, 2, loop]}]


def bad_nesting_here(tx: interpchan.Sender) -> dict[str, Any]:
    """In this interpreter: send 100 000-deep and self-referential containers (each must raise
    TypeError and send nothing), then a 500-deep one that must arrive; report what happened."""
    seen: dict[str, Any] = {}
    with tx:
        for name, bad in [("deep", nest(100_000))] + [
            (f"loop{i}", loop) for i, loop in enumerate(self_referential())
        ]:
            try:
                tx.send(bad)
                seen[name] = "sent"
            except TypeError as exc:
                seen[name] = ("TypeError", type(exc.__cause__).__name__, len(tx))
        tx.send(nest(500, "mixed"))
    return seen


def report_thread_then_recv(rx: interpchan.Receiver, report: interpchan.Sender) -> Any:
    """Report this thread's (ident, native id), then block in recv; return what arrives."""
    with report:
        report.send((threading.get_ident(), threading.get_native_id()))
    with rx:
        return rx.recv(timeout=TIMEOUT)
