"""Blocking calls wait for their event, and close() or disconnection wakes them (no sleeps)."""

from __future__ import annotations

import pytest

import interpchan
from conftest import Blocked

pytestmark = pytest.mark.usefixtures("gil_held_until_blocked")


def test_rendezvous_send_blocks_until_a_receiver_takes_the_item() -> None:
    tx, rx = interpchan.channel(0)
    sender = Blocked(lambda: tx.send("handed over", timeout=30))
    assert not sender.done  # blocked: nobody has received yet
    assert len(rx) == 0  # and the item is not sitting in the channel
    assert rx.recv(timeout=30) == "handed over"
    assert sender.result() is None


def test_rendezvous_recv_blocks_until_a_sender_comes() -> None:
    tx, rx = interpchan.channel(0)
    receiver = Blocked(lambda: rx.recv(timeout=30))
    assert not receiver.done
    tx.send("met", timeout=30)
    assert receiver.result() == "met"


def test_bounded_send_blocks_while_full_until_an_item_is_taken() -> None:
    tx, rx = interpchan.channel(2)
    tx.send(1)
    tx.send(2)
    sender = Blocked(lambda: tx.send(3, timeout=30))
    assert not sender.done and len(rx) == 2
    assert rx.recv(timeout=30) == 1
    assert sender.result() is None
    assert [rx.recv(timeout=30), rx.recv(timeout=30)] == [2, 3]


def test_recv_blocks_until_an_item_is_sent() -> None:
    tx, rx = interpchan.channel()
    receiver = Blocked(lambda: rx.recv(timeout=30))
    assert not receiver.done
    tx.send({"woken": True})
    assert receiver.result() == {"woken": True}


def test_close_wakes_a_recv_blocked_on_the_same_handle() -> None:
    tx, rx = interpchan.channel()
    receiver = Blocked(lambda: rx.recv(timeout=30))
    assert not receiver.done
    rx.close()
    with pytest.raises(interpchan.ChannelClosed):
        receiver.result()
    assert tx.closed


def test_close_wakes_a_send_blocked_on_the_same_handle() -> None:
    tx, rx = interpchan.channel(1)
    tx.send("fills it")
    buf = interpchan.Buffer(8)
    sender = Blocked(lambda: tx.send(buf, timeout=30))
    assert not sender.done
    tx.close()
    with pytest.raises(interpchan.ChannelClosed):
        sender.result()
    assert not buf.moved and len(buf) == 8  # a failed send keeps the Buffer with the caller
    assert len(rx) == 1 and rx.recv(timeout=30) == "fills it"


def test_close_wakes_a_select_blocked_on_the_same_handle() -> None:
    _tx, rx = interpchan.channel()
    selector = Blocked(lambda: interpchan.select([rx], timeout=30))
    assert not selector.done
    rx.close()
    with pytest.raises(interpchan.ChannelClosed):
        selector.result()


def test_closing_another_handle_does_not_wake_a_blocked_recv() -> None:
    tx, rx = interpchan.channel()
    rx2 = rx.clone()
    receiver = Blocked(lambda: rx2.recv(timeout=30))
    rx.close()  # a different handle: rx2 keeps waiting
    tx.send("for the clone")
    assert receiver.result() == "for the clone"


def test_dropping_the_last_sender_wakes_a_blocked_recv() -> None:
    tx, rx = interpchan.channel()
    receiver = Blocked(lambda: rx.recv(timeout=30))
    assert not receiver.done
    del tx  # garbage: the channel has no sender left
    with pytest.raises(interpchan.ChannelClosed):
        receiver.result()


def test_dropping_the_last_receiver_wakes_a_blocked_send() -> None:
    tx, rx = interpchan.channel(0)
    sender = Blocked(lambda: tx.send("nobody", timeout=30))
    assert not sender.done
    del rx
    with pytest.raises(interpchan.ChannelClosed):
        sender.result()


@pytest.mark.parametrize("capacity", [1, 3])
def test_closing_the_last_receiver_fails_a_send_waiting_for_room(capacity: int) -> None:
    """A send waiting for room on a full channel raises ChannelClosed when the last Receiver
    closes, and keeps its Buffer: the room that discarding the queued items frees never takes
    its item. The close lands at varied points of the wait (polling, then parked)."""
    for round_ in range(100):
        tx, rx = interpchan.channel(capacity)
        for i in range(capacity):
            tx.send(i)
        buf = interpchan.Buffer(8)
        memoryview(buf)[:] = b"intact!!"
        sender = Blocked(lambda: tx.send(buf, timeout=30))  # noqa: B023 (joined below)
        for _ in range(round_ % 10 * 20):
            pass  # later and later in the wait, holding the GIL the sender does not need
        rx.close()
        with pytest.raises(interpchan.ChannelClosed):
            sender.result()
        assert not buf.moved and bytes(memoryview(buf)) == b"intact!!", round_


def test_blocked_select_skips_a_channel_that_closes_and_takes_the_next_item() -> None:
    tx_a, rx_a = interpchan.channel()
    tx_b, rx_b = interpchan.channel()
    selector = Blocked(lambda: interpchan.select([rx_a, rx_b], timeout=30))
    assert not selector.done
    tx_a.close()  # rx_a is now closed and drained: skipped, not an error
    tx_b.send("from b")
    picked, item = selector.result()
    assert picked is rx_b and item == "from b"


def test_blocked_select_raises_once_every_channel_is_closed() -> None:
    tx_a, rx_a = interpchan.channel()
    tx_b, rx_b = interpchan.channel()
    selector = Blocked(lambda: interpchan.select([rx_a, rx_b], timeout=30))
    tx_a.close()
    tx_b.close()
    with pytest.raises(interpchan.ChannelClosed):
        selector.result()


def test_blocked_iteration_ends_when_the_last_sender_closes() -> None:
    tx, rx = interpchan.channel()
    tx.send("before")
    consumer = Blocked(lambda: list(rx))  # iteration has no timeout: closed below in any case
    try:
        assert not consumer.done
        tx.send("during")
        tx.close()
        assert consumer.result() == ["before", "during"]
    finally:
        rx.close()
