"""Channels: capacities, send/recv, non-blocking calls, timeouts, ordering, close and iteration."""

from __future__ import annotations

import gc
import queue
import threading
import time

import pytest

import interpchan
import workers


@pytest.mark.parametrize("capacity", [None, 0, 1, 8])
def test_channel_reports_its_capacity(capacity: int | None) -> None:
    tx, rx = interpchan.channel(capacity)
    assert isinstance(tx, interpchan.Sender) and isinstance(rx, interpchan.Receiver)
    assert tx.capacity == capacity and rx.capacity == capacity
    assert interpchan.channel(capacity=capacity)[0].capacity == capacity


def test_default_channel_is_unbounded() -> None:
    tx, rx = interpchan.channel()
    assert tx.capacity is None
    for i in range(10_000):
        tx.send_nowait(i)
    assert len(tx) == len(rx) == 10_000


@pytest.mark.parametrize("bad", [-1, -(2**70)])
def test_negative_capacity_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError):
        interpchan.channel(bad)


@pytest.mark.parametrize("huge", [2**63 - 1, 2**63, 2**100])
def test_too_large_capacity_is_a_value_error_that_says_so(huge: int) -> None:
    with pytest.raises(ValueError, match="at most"):
        interpchan.channel(huge)


@pytest.mark.parametrize("bad", [1.5, "3", b"3", [1]])
def test_non_int_capacity_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        interpchan.channel(bad)  # type: ignore[arg-type]


def test_send_and_recv_in_the_same_thread() -> None:
    tx, rx = interpchan.channel()
    tx.send("hello")
    assert len(rx) == 1
    assert rx.recv() == "hello"
    assert len(rx) == 0


def test_items_arrive_in_order_from_a_peer(peer) -> None:
    tx, rx = interpchan.channel()
    items = list(range(500))
    task = peer.run(workers.produce, tx, items)
    tx.close()
    assert workers.drain(rx) == items
    assert task.join() == 500


def test_bounded_send_nowait_raises_full_and_keeps_items() -> None:
    tx, rx = interpchan.channel(2)
    tx.send_nowait(1)
    tx.send_nowait(2)
    with pytest.raises(interpchan.Full) as info:
        tx.send_nowait(3)
    assert isinstance(info.value, queue.Full)
    assert isinstance(info.value, interpchan.ChannelError)
    assert len(tx) == 2
    assert [rx.recv_nowait(), rx.recv_nowait()] == [1, 2]


def test_recv_nowait_raises_empty() -> None:
    tx, rx = interpchan.channel()
    with pytest.raises(interpchan.Empty) as info:
        rx.recv_nowait()
    assert isinstance(info.value, queue.Empty)
    tx.send(5)
    assert rx.recv_nowait() == 5


def test_recv_timeout_raises_timeout_error() -> None:
    tx, rx = interpchan.channel()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        rx.recv(timeout=0.05)
    assert time.monotonic() - start >= 0.05
    with pytest.raises(TimeoutError):
        rx.recv(timeout=0)
    tx.send(1)
    assert rx.recv(timeout=0) == 1


def test_send_timeout_on_full_channel_enqueues_nothing() -> None:
    tx, rx = interpchan.channel(1)
    tx.send(1)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        tx.send(2, timeout=0.05)
    assert time.monotonic() - start >= 0.05
    assert len(rx) == 1
    assert rx.recv_nowait() == 1
    with pytest.raises(interpchan.Empty):
        rx.recv_nowait()


def test_negative_timeouts_are_value_errors() -> None:
    tx, rx = interpchan.channel()
    with pytest.raises(ValueError):
        rx.recv(timeout=-0.1)
    with pytest.raises(ValueError):
        tx.send(1, timeout=-1)
    with pytest.raises(ValueError):
        rx.recv(timeout=float("nan"))
    assert len(rx) == 0


def test_bounded_send_blocks_until_a_peer_receives(concurrent_peer) -> None:
    tx, rx = interpchan.channel(1)
    task = concurrent_peer.run(workers.consume, rx, 50)
    for i in range(50):
        tx.send(i, timeout=30)  # blocks whenever the peer has not taken the last item yet
    assert task.join() == list(range(50))


def test_rendezvous_send_waits_for_a_receiver(concurrent_peer) -> None:
    tx, rx = interpchan.channel(0)
    with pytest.raises(interpchan.Full):
        tx.send_nowait("nobody is receiving")
    with pytest.raises(TimeoutError):
        tx.send("nobody is receiving", timeout=0.02)
    task = concurrent_peer.run(workers.consume, rx, 3)
    for i in range(3):
        tx.send(i, timeout=30)
        assert len(tx) == 0  # a rendezvous channel never holds an item
    assert task.join() == [0, 1, 2]


def test_close_is_idempotent_and_reported() -> None:
    tx, rx = interpchan.channel()
    assert not tx.closed and not rx.closed
    tx.close()
    tx.close()
    assert tx.closed
    with pytest.raises(interpchan.ChannelClosed):
        tx.send(1)
    with pytest.raises(interpchan.ChannelClosed):
        tx.send_nowait(1)
    assert rx.closed  # no sender left


def test_closed_receiver_refuses_recv() -> None:
    tx, rx = interpchan.channel()
    tx.send(1)
    rx.close()
    rx.close()
    assert rx.closed
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv()
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv_nowait()
    assert tx.closed  # no receiver left
    with pytest.raises(interpchan.ChannelClosed):
        tx.send(2)


def test_items_sent_before_the_last_sender_closed_are_delivered_first() -> None:
    tx, rx = interpchan.channel()
    for i in range(3):
        tx.send(i)
    tx.close()
    assert rx.closed  # no sender left, though three items still wait
    assert len(rx) == 3
    assert [rx.recv(), rx.recv(), rx.recv()] == [0, 1, 2]
    assert rx.closed
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv(timeout=1)
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv_nowait()


def test_dropping_the_last_sender_closes_the_channel() -> None:
    tx, rx = interpchan.channel()
    tx.send("last")
    del tx
    assert rx.recv() == "last"
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv()


def test_dropping_the_last_receiver_closes_the_channel() -> None:
    tx, rx = interpchan.channel()
    del rx
    assert tx.closed
    with pytest.raises(interpchan.ChannelClosed):
        tx.send(1)


def test_clone_keeps_the_channel_open() -> None:
    tx, rx = interpchan.channel()
    tx2 = tx.clone()
    assert isinstance(tx2, interpchan.Sender) and tx2 is not tx
    tx.close()
    assert not rx.closed
    tx2.send("from the clone")
    assert rx.recv() == "from the clone"
    rx2 = rx.clone()
    rx.close()
    tx2.send("still open")
    assert rx2.recv() == "still open"
    tx2.close()
    assert rx2.closed


def test_clone_of_a_closed_handle_raises() -> None:
    tx, rx = interpchan.channel()
    tx.close()
    rx.close()
    with pytest.raises(interpchan.ChannelClosed):
        tx.clone()
    with pytest.raises(interpchan.ChannelClosed):
        rx.clone()


def test_context_managers_close_the_handles() -> None:
    tx, rx = interpchan.channel()
    with tx as entered:
        assert entered is tx
        tx.send(1)
    assert tx.closed
    with rx:
        assert rx.recv() == 1
    assert rx.closed
    tx2, _rx2 = interpchan.channel()
    with pytest.raises(KeyError), tx2:
        raise KeyError("not swallowed")
    assert tx2.closed


def test_iteration_stops_when_all_senders_are_gone() -> None:
    tx, rx = interpchan.channel()
    tx2 = tx.clone()
    tx.send(1)
    tx.close()
    tx2.send(2)
    tx2.close()
    assert list(rx) == [1, 2]
    assert list(rx) == []


def test_iteration_stops_when_the_receiver_is_closed() -> None:
    tx, rx = interpchan.channel()
    tx.send(1)
    seen = []
    for item in rx:
        seen.append(item)
        rx.close()
    assert seen == [1]


def test_close_from_another_thread_wakes_a_blocked_recv() -> None:
    tx, rx = interpchan.channel()
    result: list[BaseException | None] = []

    def blocked() -> None:
        try:
            rx.recv(timeout=30)
            result.append(None)
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=blocked)
    thread.start()
    rx.close()  # whether or not the thread is already blocked, it must end with ChannelClosed
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(result[0], interpchan.ChannelClosed)
    assert tx.closed  # the only receiver is gone


def test_close_from_another_thread_wakes_a_blocked_send() -> None:
    tx, rx = interpchan.channel(0)
    started = threading.Event()
    result: list[BaseException | None] = []

    def blocked() -> None:
        started.set()
        try:
            tx.send("never taken", timeout=30)
            result.append(None)
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=blocked)
    thread.start()
    started.wait(30)
    tx.close()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(result[0], interpchan.ChannelClosed)
    assert len(rx) == 0


def test_closing_the_peer_handles_wakes_a_blocked_recv(concurrent_peer) -> None:
    tx, rx = interpchan.channel()
    started_tx, started_rx = interpchan.channel()
    task = concurrent_peer.run(workers.recv_blocking, rx, started_tx)
    rx.close()
    started_tx.close()
    started_rx.recv(timeout=30)
    tx.close()  # the last sender: the blocked recv sees the channel closed
    assert task.join() == "ChannelClosed"


def test_many_producers_and_consumers_receive_each_item_once() -> None:
    tx, rx = interpchan.channel(16)
    n, producers = 2000, 4
    out: list[list[tuple[int, int]]] = [[], []]
    threads = [
        threading.Thread(target=workers.produce_tagged, args=(tx.clone(), p, n))
        for p in range(producers)
    ]
    for o in out:
        receiver = rx.clone()
        threads.append(
            threading.Thread(target=lambda o=o, r=receiver: o.extend(workers.consume_all(r)))
        )
    tx.close()
    rx.close()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = out[0] + out[1]
    assert sorted(everything) == [(p, i) for p in range(producers) for i in range(n)]
    for got in out:  # per-sender order holds within what each consumer saw
        for p in range(producers):
            seq = [i for tag, i in got if tag == p]
            assert seq == sorted(seq)


def test_repr_names_the_channel() -> None:
    tx, rx = interpchan.channel(3)
    assert "Sender" in repr(tx) and "capacity=3" in repr(tx) and "open" in repr(tx)
    rx.close()
    assert "Receiver" in repr(rx) and "closed" in repr(rx)


def test_exception_classes_form_the_documented_hierarchy() -> None:
    assert issubclass(interpchan.ChannelError, Exception)
    assert issubclass(interpchan.ChannelClosed, interpchan.ChannelError)
    assert issubclass(interpchan.Empty, interpchan.ChannelError)
    assert issubclass(interpchan.Empty, queue.Empty)
    assert issubclass(interpchan.Full, interpchan.ChannelError)
    assert issubclass(interpchan.Full, queue.Full)
    assert issubclass(interpchan.WorkerError, Exception)
    assert not issubclass(interpchan.ChannelClosed, (queue.Empty, queue.Full))


def test_handles_collected_in_a_reference_cycle_close_the_channel() -> None:
    tx, rx = interpchan.channel()
    cycle: list[object] = [rx]
    cycle.append(cycle)
    del rx, cycle
    gc.collect()
    assert tx.closed
    with pytest.raises(interpchan.ChannelClosed):
        tx.send("nobody can receive this")


def test_len_counts_waiting_items_on_every_handle() -> None:
    tx, rx = interpchan.channel(3)
    clone = rx.clone()
    assert len(tx) == len(rx) == len(clone) == 0
    tx.send("a")
    tx.send("b")
    assert len(tx) == len(rx) == len(clone) == 2
    assert clone.recv(timeout=1) == "a"
    assert len(tx) == len(rx) == 1


def test_handles_are_always_true_even_when_the_channel_is_empty() -> None:
    tx, rx = interpchan.channel()
    assert len(tx) == 0 and bool(tx) and bool(rx)
    tx.close()
    assert bool(tx)
