"""Hostile use of the binding: argument checks that must not consume items, receives interrupted
while rebuilding an item, items that could be sent but never received, handles and Buffers
inside pickled objects, idle waiters, and odd arguments. docs/reliability.md lists each fault
with its test here."""

from __future__ import annotations

import array
import dataclasses
import gc
import pathlib
import pickle
import signal
import sys
import threading
import time
from typing import Any

import pytest

import interpchan
import workers
from conftest import JOIN_TIMEOUT, Blocked, SubInterpreter

_ic = interpchan._interpchan


# --- select() given a Receiver instead of a list ---------------------------------------------


def test_select_given_a_receiver_refuses_it_and_takes_nothing() -> None:
    tx, rx = interpchan.channel()
    for i in range(3):
        tx.send(i)
    tx.close()  # so that a select() that iterated rx would end instead of hang
    with pytest.raises(TypeError, match=r"select\(\[rx\]\)"):
        interpchan.select(rx, timeout=5)  # type: ignore[arg-type]
    assert len(rx) == 3


def test_select_refuses_an_iterable_whose_iterator_is_a_receiver() -> None:
    tx, rx = interpchan.channel()
    tx.send("kept")
    tx.close()

    class Wraps:
        def __iter__(self) -> interpchan.Receiver:
            return rx

    with pytest.raises(TypeError):
        interpchan.select(Wraps(), timeout=5)  # type: ignore[arg-type]
    assert rx.recv_nowait() == "kept"


def test_select_stops_taking_from_an_iterable_at_the_first_non_receiver() -> None:
    _tx, rx = interpchan.channel()
    taken = []

    def receivers() -> Any:
        for obj in (rx, "not a receiver", rx):
            taken.append(obj)
            yield obj

    with pytest.raises(TypeError, match="not str"):
        interpchan.select(receivers(), timeout=5)
    assert taken == [rx, "not a receiver"]


def test_select_still_takes_any_iterable_of_receivers() -> None:
    tx, rx = interpchan.channel()
    tx.send(1)
    assert interpchan.select(iter([rx]), timeout=5) == (rx, 1)
    tx.send(2)
    assert interpchan.select((r for r in [rx]), timeout=5) == (rx, 2)


# --- a receive interrupted while it rebuilds an item -----------------------------------------


class _Alarm(Exception):
    pass


def _rebuild_slowly(i: int) -> Slow:
    total = 0
    for k in range(20):  # some bytecode, so that signal handlers run during the rebuild
        total += k
    return Slow(i)


class Slow:
    """Pickled; its rebuild runs Python code."""

    def __init__(self, i: int) -> None:
        self.i = i

    def __reduce__(self) -> Any:
        return (_rebuild_slowly, (self.i,))


def _receive_all(rx: interpchan.Receiver) -> tuple[list[int], int]:
    got: list[int] = []
    interrupted = 0
    while True:
        try:
            got.append(rx.recv().i)
        except _Alarm:
            interrupted += 1
        except interpchan.ChannelClosed:
            return got, interrupted


def test_a_signal_handler_raising_during_rebuilds_loses_no_item() -> None:
    """SIGALRM every 0.5 ms with a raising handler while 20,000 pickled items are received: every
    item arrives exactly once and in order. The handler raises only when it interrupts the
    rebuild's own code, so the receiving loop itself is never left by the alarm."""
    n = 20_000
    tx, rx = interpchan.channel()
    for i in range(n):
        tx.send(Slow(i))
    tx.close()

    rebuild_code = (_rebuild_slowly.__code__, Slow.__init__.__code__)

    def on_alarm(signum: int, frame: Any) -> None:
        if frame is not None and frame.f_code in rebuild_code:
            raise _Alarm

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
    try:
        got, interrupted = _receive_all(rx)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
    assert interrupted > 0, "no rebuild was interrupted: the test proved nothing"
    assert got == list(range(n))


_interrupt_next_rebuild = threading.Event()


def _rebuild_or_interrupt(value: Any) -> Fragile:
    if _interrupt_next_rebuild.is_set():
        _interrupt_next_rebuild.clear()
        raise KeyboardInterrupt
    return Fragile(value)


@dataclasses.dataclass
class Fragile:
    """Its rebuild raises KeyboardInterrupt once while ``_interrupt_next_rebuild`` is set."""

    value: Any

    def __reduce__(self) -> Any:
        return (_rebuild_or_interrupt, (self.value,))


def _in_thread(call: Any) -> Any:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive()
    return outcome


@pytest.mark.parametrize("how", ["recv", "recv_nowait", "iteration", "select"])
def test_an_item_whose_rebuild_is_interrupted_goes_back_to_the_front(how: str) -> None:
    """A KeyboardInterrupt (not an Exception) out of a rebuild, in a thread: the call raises it
    unchanged and the item is received next, before the items behind it."""
    tx, rx = interpchan.channel()
    tx.send(Fragile("first"))
    tx.send(Fragile("second"))
    tx.close()
    receive = {
        "recv": lambda: rx.recv(timeout=5),
        "recv_nowait": rx.recv_nowait,
        "iteration": lambda: next(iter(rx)),
        "select": lambda: interpchan.select([rx], timeout=5)[1],
    }[how]
    _interrupt_next_rebuild.set()
    outcome = _in_thread(receive)
    assert isinstance(outcome.get("error"), KeyboardInterrupt), outcome
    assert len(rx) == 2
    assert [_in_thread(receive)["value"] for _ in range(2)] == [Fragile("first"), Fragile("second")]
    assert rx.closed


def test_an_interrupted_item_comes_back_whole() -> None:
    """Everything the interrupted rebuild had taken out of the item (moved Buffer memory, large
    payloads freed early, pickles, Buffers carried by a pickle) is back in it: the next receive
    gets the same item, byte for byte."""
    tx, rx = interpchan.channel()

    def buffer(fill: bytes) -> interpchan.Buffer:
        buf = interpchan.Buffer(len(fill))
        memoryview(buf)[:] = fill
        return buf

    side_tx, side_rx = interpchan.channel()
    big = bytes(range(256)) * 64  # 16 KiB: freed as soon as it is built
    item = (
        buffer(b"moved" * 10),
        big,
        "text " * 2000,
        "\ud800 lone" * 1000,
        [b"small", "small"],
        {"key": Holder(buffer(b"carried"), workers.Point(3, 4))},
        Holder(side_tx),  # a pickle carrying a handle's end
        Fragile("last"),  # interrupted here, after everything above was built
    )
    tx.send(item)
    side_tx.close()
    _interrupt_next_rebuild.set()
    outcome = _in_thread(lambda: rx.recv(timeout=5))
    assert isinstance(outcome.get("error"), KeyboardInterrupt), outcome
    got = rx.recv(timeout=5)
    assert got[0].tobytes() == b"moved" * 10
    assert got[1:5] == (big, "text " * 2000, "\ud800 lone" * 1000, [b"small", "small"])
    holder = got[5]["key"]
    assert holder.value.tobytes() == b"carried" and holder.other == workers.Point(3, 4)
    got[6].value.send("through the carried end")
    assert side_rx.recv(timeout=5) == "through the carried end"
    assert got[7] == Fragile("last")


@pytest.mark.parametrize("how", ["recv", "select"])
def test_an_item_given_back_wakes_a_receiver_already_blocked(
    how: str, gil_held_until_blocked: None
) -> None:
    """Two receivers wait; the one that takes the item is interrupted while rebuilding it, so it
    goes back: the other, blocked all along, is woken and gets it (no new item arrives)."""
    tx, rx = interpchan.channel()
    _other_tx, other_rx = interpchan.channel()

    def receive() -> Any:
        if how == "select":
            return interpchan.select([other_rx, rx], timeout=JOIN_TIMEOUT)[1]
        return rx.recv(timeout=JOIN_TIMEOUT)

    first = Blocked(receive)
    second = Blocked(receive)
    _interrupt_next_rebuild.set()
    tx.send(Fragile("once"))
    outcomes = []
    for blocked in (first, second):
        try:
            outcomes.append(blocked.result())
        except KeyboardInterrupt:
            outcomes.append("interrupted")
    assert sorted(map(str, outcomes)) == sorted(["interrupted", str(Fragile("once"))])
    assert len(rx) == 0


def test_an_ordinary_rebuild_error_still_consumes_the_item() -> None:
    """An Exception from the item itself (not from a signal handler): ChannelError, as documented;
    the item is gone and the next one follows."""
    tx, rx = interpchan.channel()
    tx.send(workers.Point(1, 2))
    tx.send("next")
    real = workers.Point
    try:
        del workers.Point  # its class can no longer be found: unpickling raises AttributeError
        with pytest.raises(interpchan.ChannelError) as info:
            rx.recv(timeout=5)
    finally:
        workers.Point = real  # type: ignore[misc]
    assert isinstance(info.value.__cause__, AttributeError)
    assert rx.recv(timeout=5) == "next"


# --- items that could be sent but never received ---------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: {interpchan.Buffer(8)},
        lambda: frozenset([interpchan.Buffer(8)]),
        lambda: {memoryview(b"abc")},
        lambda: {memoryview(b"a"): 1},
        lambda: {(1, memoryview(b"a")): 2},
        lambda: [{frozenset([memoryview(b"x")])}],
        lambda: {(interpchan.Buffer(2),): "value"},
        lambda: {FrozenHolder(interpchan.Buffer(2))},
    ],
    ids=[
        "buffer-in-set",
        "buffer-in-frozenset",
        "view-in-set",
        "view-key",
        "view-in-tuple-key",
        "view-in-nested-frozenset",
        "buffer-in-tuple-key",
        "buffer-in-pickled-set-element",
    ],
)
def test_buffers_where_they_could_not_be_hashed_are_refused_at_send(make: Any) -> None:
    item = make()
    buffers: list[interpchan.Buffer] = []

    def find(obj: Any) -> None:
        if isinstance(obj, interpchan.Buffer):
            buffers.append(obj)
        elif isinstance(obj, dict):
            for pair in obj.items():
                find(pair)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for x in obj:
                find(x)

    find(item)
    buffers += [x.value for x in item if isinstance(x, FrozenHolder)]
    tx, rx = interpchan.channel()
    with pytest.raises(TypeError, match="unhashable"):
        tx.send(item)
    assert len(rx) == 0
    assert all(not b.moved for b in buffers)


@dataclasses.dataclass(frozen=True)
class FrozenHolder:
    """Hashable (by its field) and pickled."""

    value: Any


def test_buffers_where_no_hash_is_needed_still_travel() -> None:
    tx, rx = interpchan.channel()
    tx.send({b"key": memoryview(b"value"), (1, b"k"): [interpchan.Buffer(2)]})
    got = rx.recv(timeout=5)
    assert bytes(got[b"key"]) == b"value" and bytes(got[(1, b"k")][0]) == b"\0\0"


# --- handles and Buffers inside pickled objects ----------------------------------------------


@dataclasses.dataclass
class Holder:
    """Pickled: what it holds travels inside the pickle."""

    value: Any
    other: Any = None


def test_a_handle_inside_a_pickled_object_outlives_the_senders_handle() -> None:
    tx, rx = interpchan.channel()
    a_tx, a_rx = interpchan.channel()
    b_tx, b_rx = interpchan.channel()
    tx.send(workers.Pair(a_tx, None))  # a namedtuple: pickled
    tx.send(Holder(b_rx))
    a_tx.close()  # before the items are received: only the items hold these ends now
    b_rx.close()
    pair = rx.recv(timeout=5)
    pair.left.send("through the received Sender")
    assert a_rx.recv(timeout=5) == "through the received Sender"
    holder = rx.recv(timeout=5)
    b_tx.send("to the received Receiver")
    assert holder.value.recv(timeout=5) == "to the received Receiver"


def test_a_handle_inside_a_pickled_object_reaches_a_sub_interpreter() -> None:
    tx, rx = interpchan.channel()
    back_tx, back_rx = interpchan.channel()
    tx.send(workers.Pair(back_tx, "hello"))
    back_tx.close()
    with SubInterpreter() as interp:
        interp.exec(
            f"import pickle\nrx = pickle.loads({pickle.dumps(rx)!r})\n"
            "pair = rx.recv(timeout=30)\n"
            "pair.left.send(pair.right + ' back')\n"
        )
    assert back_rx.recv(timeout=5) == "hello back"


def test_a_buffer_inside_a_pickled_object_moves_as_in_a_tuple() -> None:
    tx, rx = interpchan.channel()
    buf = interpchan.Buffer(16)
    memoryview(buf)[:5] = b"hello"
    tx.send(Holder(buf, buf))
    assert buf.moved and len(buf) == 0
    got = rx.recv(timeout=5)
    assert isinstance(got.value, memoryview) and got.value is got.other
    assert got.value.tobytes()[:5] == b"hello" and isinstance(got.value.obj, interpchan.Buffer)


def test_a_buffer_inside_a_pickled_object_follows_the_buffer_rules() -> None:
    tx, rx = interpchan.channel()
    buf = interpchan.Buffer(4)
    view = memoryview(buf)
    with pytest.raises(BufferError):
        tx.send(Holder(buf))  # as in a tuple
    view.release()
    with pytest.raises(ValueError, match="twice"):
        tx.send((buf, Holder(buf)))
    with pytest.raises(TypeError):
        tx.send([Holder(buf), lambda: None])  # the lambda cannot be pickled: nothing moves
    assert not buf.moved and len(rx) == 0
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(buf)  # outside a send, still refused
    with pytest.raises(ValueError):
        _ic._carried(0)


# --- idle waiters ------------------------------------------------------------------------------


def _wait_until(condition: Any) -> None:
    deadline = time.monotonic() + JOIN_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.001)


def test_waiters_in_other_threads_do_not_wake_up_for_signals() -> None:
    """Only the main thread of the main interpreter runs signal handlers, so only it slices its
    waits: 50 threads blocked in recv for 0.2 s wake up zero times (slicing: about 500)."""
    tx, rx = interpchan.channel()
    base = _ic._blocked_calls()
    threads = [threading.Thread(target=rx.recv) for _ in range(50)]
    for t in threads:
        t.start()
    _wait_until(lambda: _ic._blocked_calls() >= base + 50)
    before = _ic._signal_slices()
    threading.Event().wait(0.2)  # the main thread idles outside interpchan meanwhile
    after = _ic._signal_slices()
    for _ in threads:
        tx.send(None)
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert after == before


def test_the_main_thread_still_wakes_up_for_signals() -> None:
    _tx, rx = interpchan.channel()
    before = _ic._signal_slices()
    with pytest.raises(TimeoutError):
        rx.recv(timeout=0.1)
    assert _ic._signal_slices() - before >= 2


# --- smaller ones ------------------------------------------------------------------------------


class MyBytes(bytes):
    pass


class MyBytearray(bytearray):
    pass


class MyArray(array.array):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    "obj", [MyBytes(b"ab"), MyBytearray(b"cd"), MyArray("i", [1, 2])], ids=type
)
def test_subclasses_of_buffer_types_keep_their_type(obj: Any) -> None:
    tx, rx = interpchan.channel()
    tx.send(obj)
    got = rx.recv(timeout=5)
    assert type(got) is type(obj) and got == obj


def _timeout_calls() -> dict[str, Any]:
    tx, rx = interpchan.channel(1)
    return {
        "recv": lambda t: rx.recv(timeout=t),
        "send": lambda t: tx.send(1, timeout=t),
        "select": lambda t: interpchan.select([rx], timeout=t),
    }


@pytest.mark.parametrize("call", ["recv", "send", "select"])
def test_a_timeout_too_large_for_a_float_is_an_overflow_error(call: str) -> None:
    with pytest.raises(OverflowError):
        _timeout_calls()[call](10**400)


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError, ZeroDivisionError])
@pytest.mark.parametrize("call", ["recv", "send", "select"])
def test_errors_from_a_timeouts_float_conversion_pass_through(
    call: str, error: type[BaseException]
) -> None:
    class Odd:
        def __float__(self) -> float:
            raise error

    with pytest.raises(error):
        _timeout_calls()[call](Odd())


def test_spawn_works_with_path_objects_in_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [*sys.path, pathlib.Path("/nonexistent-dir")])
    assert interpchan.spawn(workers.Point, 1, 2).join(JOIN_TIMEOUT) == workers.Point(1, 2)


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_errors_from_a_buffer_export_that_must_pass_through_do(error: type[BaseException]) -> None:
    """An object whose ``__buffer__`` raises ValueError is pickled instead (numpy object arrays
    refuse that way); MemoryError and non-Exceptions pass through, nothing enqueued."""
    tx, rx = interpchan.channel()
    with pytest.raises(error):
        tx.send(_Exporter(error))
    assert len(rx) == 0
    tx.send(_Exporter(ValueError))
    assert isinstance(rx.recv(timeout=5), _Exporter)


class _Exporter:
    """Its buffer export raises ``raises``; pickled when that is an ordinary error."""

    def __init__(self, raises: type[BaseException]) -> None:
        self.raises = raises

    def __buffer__(self, flags: int) -> memoryview:
        raise self.raises


def test_an_interrupted_rebuild_in_a_sub_interpreter_keeps_the_item() -> None:
    tx, rx = interpchan.channel()
    tx.send(workers.InterruptsOnce("first"))
    tx.send("second")
    worker = interpchan.spawn(workers.receive_after_an_interrupted_rebuild, rx)
    raised, waiting, first, second = worker.join(JOIN_TIMEOUT)
    assert raised == "interrupted while rebuilding" and waiting == 2
    assert (first, second) == (workers.InterruptsOnce("first"), "second")


def test_a_cycle_through_a_pickled_object_is_collected() -> None:
    """A channel whose only Receiver travels in a pickled object queued in that channel: once
    every handle is dropped, the cycle collector frees it (the carried end counts as a handle in
    a tuple does)."""
    gc.collect()
    before = _ic._live_channels()
    for _ in range(100):
        tx, rx = interpchan.channel()
        tx.send(Holder(rx))
        del tx, rx
    assert _ic._live_channels() == before + 100
    _ic._collect()
    assert _ic._live_channels() == before
