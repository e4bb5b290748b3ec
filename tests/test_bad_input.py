"""Bad arguments give the documented exceptions and leave channels and items intact."""

from __future__ import annotations

import pytest

import interpchan


@pytest.fixture
def loaded() -> tuple[interpchan.Sender, interpchan.Receiver]:
    tx, rx = interpchan.channel(4)
    tx.send("first")
    tx.send("second")
    return tx, rx


def _intact(tx: interpchan.Sender, rx: interpchan.Receiver) -> None:
    assert len(rx) == 2
    assert [rx.recv(timeout=1), rx.recv(timeout=1)] == ["first", "second"]
    tx.send("after")
    assert rx.recv(timeout=1) == "after"


BAD_CALLS = [
    (lambda tx, rx: tx.send(), TypeError),
    (lambda tx, rx: tx.send(1, 2, 3), TypeError),
    (lambda tx, rx: tx.send(obj=1), TypeError),
    (lambda tx, rx: tx.send(1, timeout="1"), TypeError),
    (lambda tx, rx: tx.send(1, timeout=[]), TypeError),
    (lambda tx, rx: tx.send(1, timeout=-1), ValueError),
    (lambda tx, rx: tx.send(1, timeout=float("nan")), ValueError),
    (lambda tx, rx: tx.send(1, bogus=1), TypeError),
    (lambda tx, rx: tx.send(1, timeout=1, **{"timeout": 2}), TypeError),
    (lambda tx, rx: tx.send_nowait(), TypeError),
    (lambda tx, rx: tx.send_nowait(1, 2), TypeError),
    (lambda tx, rx: tx.send_nowait(1, timeout=1), TypeError),
    (lambda tx, rx: rx.recv(1, 2), TypeError),
    (lambda tx, rx: rx.recv(timeout=b"x"), TypeError),
    (lambda tx, rx: rx.recv(timeout=-0.5), ValueError),
    (lambda tx, rx: rx.recv(wait=1), TypeError),
    (lambda tx, rx: rx.recv_nowait(1), TypeError),
    (lambda tx, rx: tx.clone(1), TypeError),
    (lambda tx, rx: rx.close(True), TypeError),
    (lambda tx, rx: interpchan.channel(1, 2), TypeError),
    (lambda tx, rx: interpchan.channel(size=3), TypeError),
    (lambda tx, rx: interpchan.channel(capacity=2**100), ValueError),
    (lambda tx, rx: interpchan.Sender(), TypeError),
    (lambda tx, rx: interpchan.Receiver(), TypeError),
    (lambda tx, rx: interpchan.Buffer(), TypeError),
    (lambda tx, rx: interpchan.Buffer(1, 2), TypeError),
    (lambda tx, rx: interpchan.Buffer(nbytes=-5), ValueError),
    (lambda tx, rx: interpchan.select(), TypeError),
    (lambda tx, rx: interpchan.select([rx], 1, 2), TypeError),
    (lambda tx, rx: interpchan._interpchan._restore(12), ValueError),
]


@pytest.mark.parametrize("call, exc", BAD_CALLS, ids=[f"call{i}" for i in range(len(BAD_CALLS))])
def test_bad_call_raises_and_leaves_the_channel_intact(loaded, call, exc) -> None:
    tx, rx = loaded
    with pytest.raises(exc):
        call(tx, rx)
    _intact(tx, rx)


def test_keyword_arguments_that_are_allowed() -> None:
    tx, rx = interpchan.channel(capacity=2)
    tx.send("x", timeout=None)
    tx.send("y", timeout=1)
    assert rx.recv(timeout=None) == "x"
    assert rx.recv(timeout=1.5) == "y"
    tx.send(True, timeout=True)  # bool is an int: one second
    assert interpchan.select(receivers=[rx], timeout=0.5) == (rx, True)


def test_huge_timeouts_mean_no_timeout() -> None:
    tx, rx = interpchan.channel()
    tx.send(1)
    assert rx.recv(timeout=1e300) == 1
    tx.send(2)
    assert rx.recv(timeout=float("inf")) == 2


def test_attributes_are_read_only() -> None:
    tx, rx = interpchan.channel()
    with pytest.raises(AttributeError):
        tx.closed = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        rx.capacity = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        interpchan.Buffer(1).moved = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        interpchan.Sender.send = None  # immutable type
