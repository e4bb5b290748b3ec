"""What can be sent: every row of the item table, natively or by pickle, and what is refused."""

from __future__ import annotations

import decimal
import fractions
import math
import threading
from collections import OrderedDict
from typing import Any

import pytest

import interpchan
import workers

NATIVE_ITEMS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**63,
    10**1000,
    -(2**200),
    1.5,
    -0.0,
    float("inf"),
    float("-inf"),
    float("nan"),
    5e-324,
    complex(1.5, -2),
    complex(float("inf"), -0.0),
    "",
    "ascii",
    "héllo wörld",
    "emoji 🎉",
    "lone surrogate \ud800 here",
    "\udfff\U0010ffff\x00",
    "x" * 100_000,
    b"",
    b"\x00\xffbytes",
    bytes(range(256)) * 1000,
    (),
    (1, "two", (3.0, None)),
    [],
    [1, [2, [3, [4]]]],
    {},
    {"a": 1, 2: [3], (4, 5): {"nested": {6}}},
    set(),
    {1, "x", (2, 3)},
    {True, 2.5, b"b", None},
    {True: "bool key", 2: "int key", 3.5: "float key", None: (), b"k": "bytes key"},
    frozenset(),
    frozenset({1, frozenset({2})}),
]


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same exact types, all the way down (and -0.0 keeps its sign)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, complex):
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        same_keys = sorted(map(repr, a)) == sorted(map(repr, b))  # True and 1 are equal keys
        same_items = same_keys and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
        return same_items and getattr(a, "__dict__", None) == getattr(b, "__dict__", None)
    if isinstance(a, (set, frozenset)):
        # Equal sets whose members also keep their exact types (1 and True are equal).
        return a == b and sorted(map(repr, a)) == sorted(map(repr, b))
    return a == b


@pytest.mark.parametrize("item", NATIVE_ITEMS, ids=repr)
def test_native_item_round_trip_in_this_interpreter(item: Any) -> None:
    tx, rx = interpchan.channel()
    tx.send(item)
    assert _same(rx.recv(), item)


def test_nan_arrives_as_nan() -> None:
    tx, rx = interpchan.channel()
    tx.send(float("nan"))
    assert math.isnan(rx.recv())


def _describe_in(peer, items: list[Any]) -> list[tuple[str, Any]]:
    """Send items to a peer that replies with (type name as seen there, item sent back)."""
    to_peer, peer_rx = interpchan.channel()
    peer_tx, from_peer = interpchan.channel()
    for item in items:
        to_peer.send(item)
    to_peer.close()
    task = peer.run(workers.describe, peer_rx, peer_tx)
    peer_rx.close()
    peer_tx.close()
    got = workers.drain(from_peer)
    assert task.join() == len(items)
    return got


def test_every_native_item_through_a_peer(peer) -> None:
    """Types are checked where the item is received (in the peer), and again on the way back."""
    got = _describe_in(peer, NATIVE_ITEMS)
    assert [name for name, _ in got] == [type(item).__qualname__ for item in NATIVE_ITEMS]
    for (_, back), item in zip(got, NATIVE_ITEMS, strict=True):
        assert _same(back, item)


def _my_dict() -> workers.MyDict:
    d = workers.MyDict(k=[1, 2])
    d.note = "attribute kept"
    return d


PICKLED_ITEMS: list[Any] = [
    workers.Point(1, 2),
    workers.MyInt(7),
    decimal.Decimal("1.25"),
    fractions.Fraction(3, 7),
    OrderedDict(a=1, b=2),
    workers.MyStr("a str subclass"),
    workers.MyFloat(2.5),
    workers.Pair(1, "two"),
    _my_dict(),
    {1, 2.0, frozenset({decimal.Decimal("1.5")})},  # a native set around a pickled item
    range(3, 10, 2),
    [workers.Point(3, 4), {"k": workers.MyInt(5)}],
]


@pytest.mark.parametrize("item", PICKLED_ITEMS, ids=repr)
def test_other_objects_travel_by_pickle_and_keep_their_type(item: Any) -> None:
    tx, rx = interpchan.channel()
    tx.send(item)
    assert _same(rx.recv(), item)


def test_pickled_objects_through_a_peer(peer) -> None:
    got = _describe_in(peer, PICKLED_ITEMS)
    assert [name for name, _ in got] == [type(item).__qualname__ for item in PICKLED_ITEMS]
    assert all(_same(back, item) for (_, back), item in zip(got, PICKLED_ITEMS, strict=True))


@pytest.mark.parametrize(
    "unsendable",
    [lambda: 1, threading.Lock(), (x for x in range(3)), [1, 2, threading.Lock()]],
    ids=["lambda", "lock", "generator", "lock-in-list"],
)
def test_unsendable_objects_raise_type_error_and_enqueue_nothing(unsendable: Any) -> None:
    tx, rx = interpchan.channel()
    with pytest.raises(TypeError) as info:
        tx.send(unsendable)
    assert info.value.__cause__ is not None
    assert len(rx) == 0
    with pytest.raises(TypeError):
        tx.send_nowait(unsendable)
    assert len(rx) == 0
    tx.send("still works")
    assert rx.recv() == "still works"


def test_too_deep_and_self_referential_containers_raise_type_error() -> None:
    tx, rx = interpchan.channel()
    loop: list[Any] = []
    loop.append(loop)
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    for bad in (loop, deep, {"k": loop}):
        with pytest.raises(TypeError) as info:
            tx.send(bad)
        assert isinstance(info.value.__cause__, RecursionError)
    assert len(rx) == 0
    fine: list[Any] = []
    for _ in range(500):
        fine = [fine]
    tx.send(fine)
    got = rx.recv()
    depth = 0
    while got:
        got = got[0]
        depth += 1
    assert depth == 500


def test_sender_and_receiver_items_are_new_working_handles(peer) -> None:
    inner_tx, inner_rx = interpchan.channel()
    outer_tx, outer_rx = interpchan.channel()
    outer_tx.send((inner_tx, inner_rx))
    sent_tx, sent_rx = outer_rx.recv()
    assert isinstance(sent_tx, interpchan.Sender) and sent_tx is not inner_tx
    assert isinstance(sent_rx, interpchan.Receiver) and sent_rx is not inner_rx
    inner_tx.close()
    inner_rx.close()
    # The received handles keep the channel alive and work in a peer.
    task = peer.run(workers.produce, sent_tx, ["via a sent Sender"])
    sent_tx.close()
    assert workers.drain(sent_rx) == ["via a sent Sender"]
    task.join()


def test_closed_handles_cannot_be_sent() -> None:
    tx, rx = interpchan.channel()
    other_tx, _other_rx = interpchan.channel()
    other_tx.close()
    with pytest.raises(TypeError) as info:
        tx.send([1, other_tx])
    assert isinstance(info.value.__cause__, interpchan.ChannelClosed)
    assert len(rx) == 0


def test_unpickling_failure_in_the_receiver_raises_channel_error() -> None:
    tx, rx = interpchan.channel()
    tx.send(_FailsToUnpickle())
    tx.send("next")
    with pytest.raises(interpchan.ChannelError) as info:
        rx.recv()
    assert isinstance(info.value.__cause__, RuntimeError)
    assert rx.recv() == "next"  # the channel stays usable


class _CountsPickling:
    pickled = 0

    def __reduce__(self) -> tuple[Any, ...]:
        _CountsPickling.pickled += 1
        return (_CountsPickling, ())


def test_the_pools_native_only_send_sends_nothing_that_would_be_pickled() -> None:
    # Pool workers send results with Sender._send_native_nowait: an item with any part that
    # would be pickled is refused (False) before any pickling code runs, with nothing queued
    # and a Buffer inside it untouched; a native item is sent as send_nowait sends it.
    tx, rx = interpchan.channel()
    buf = interpchan.Buffer(16)
    memoryview(buf)[:] = bytes(range(16))
    refused = [1, {"b": buf}, ("deep", [_CountsPickling()])]
    assert tx._send_native_nowait(refused) is False
    assert (len(rx), _CountsPickling.pickled, buf.moved) == (0, 0, False)
    assert bytes(memoryview(buf)) == bytes(range(16))
    assert tx._send_native_nowait([1, {"b": buf}, ("deep", [2.5, None])]) is True
    assert buf.moved
    got = rx.recv_nowait()
    assert (got[0], bytes(got[1]["b"]), got[2]) == (1, bytes(range(16)), ("deep", [2.5, None]))
    with pytest.raises(TypeError):
        tx._send_native_nowait()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        tx._send_native_nowait([threading.Lock()], 1)  # type: ignore[call-arg]
    full_tx, full_rx = interpchan.channel(1)
    assert full_tx._send_native_nowait("first") is True
    with pytest.raises(interpchan.Full):
        full_tx._send_native_nowait("second")
    assert full_rx.recv_nowait() == "first"
    rx.close()
    with pytest.raises(interpchan.ChannelClosed):
        tx._send_native_nowait(1)


def _explode() -> None:
    raise RuntimeError("cannot rebuild")


class _FailsToUnpickle:
    def __reduce__(self) -> tuple[Any, ...]:
        return (_explode, ())


def test_a_handle_in_flight_keeps_its_channel_end_alive(peer) -> None:
    """The only Sender of a channel travels through another channel and works where received."""
    inner_tx, inner_rx = interpchan.channel()
    outer_tx, outer_rx = interpchan.channel()
    outer_tx.send(inner_tx)
    outer_tx.close()
    inner_tx.close()  # the Sender in flight is now the only one
    assert not inner_rx.closed
    task = peer.run(workers.forward_through_received_sender, outer_rx, "through a sent Sender")
    outer_rx.close()
    assert workers.drain(inner_rx) == ["through a sent Sender"]
    assert task.join() is True
    assert inner_rx.closed
