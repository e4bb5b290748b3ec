"""asyncio: recv_async, send_async, async for, select_async; closing, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import async_workers
import pytest

import interpchan
from conftest import Peer
from interpchan import _async, _interpchan

LIMIT = 30.0  # a hang fails the test instead of blocking the suite


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(LIMIT):
            return await coro_fn()

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool]) -> None:
    """Lets the loop run until predicate() holds (each step is one loop iteration)."""
    while not predicate():
        await asyncio.sleep(0)


def queued(rx: Any) -> int:
    """How many waiters of the running loop wait on rx's channel side."""
    hub = _async._hubs.get(id(asyncio.get_running_loop()))
    if hub is None:
        return 0
    return len(hub.queues.get(hub.waker.key(rx), {}))


def test_recv_async_returns_waiting_item_without_suspending() -> None:
    tx, rx = interpchan.channel()
    tx.send({"a": 1})

    async def main() -> Any:
        return await rx.recv_async()

    assert run(main) == {"a": 1}


def test_recv_async_is_woken_by_a_send_from_another_task() -> None:
    tx, rx = interpchan.channel()

    async def main() -> Any:
        task = asyncio.ensure_future(rx.recv_async())
        await until(lambda: queued(rx) == 1)
        assert not task.done()
        tx.send("x")
        return await task

    assert run(main) == "x"


def test_recv_async_is_woken_by_a_concurrent_peer(concurrent_peer: Peer) -> None:
    tx, rx = interpchan.channel()
    back_tx, back_rx = interpchan.channel()

    async def main() -> list[Any]:
        task = concurrent_peer.run(async_workers.consume_blocking, rx, back_tx)
        rx.close()
        back_tx.close()
        got = []
        for i in range(200):
            await tx.send_async(i)
            got.append(await back_rx.recv_async())  # the peer forwards it: we await each
        tx.close()
        assert task.join() == 200
        return got

    assert run(main) == list(range(200))


def test_timeout_takes_nothing_and_validates() -> None:
    tx, rx = interpchan.channel()

    async def main() -> None:
        with pytest.raises(TimeoutError, match="recv_async timed out"):
            await rx.recv_async(timeout=0.01)
        with pytest.raises(TimeoutError):
            await rx.recv_async(timeout=0)
        assert queued(rx) == 0
        tx.send(1)
        assert await rx.recv_async(timeout=0) == 1
        with pytest.raises(ValueError, match="non-negative"):
            await rx.recv_async(timeout=-1)
        with pytest.raises(ValueError, match="NaN"):
            await rx.recv_async(timeout=float("nan"))
        with pytest.raises(TypeError, match="timeout must be a number"):
            await rx.recv_async(timeout="1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await rx.recv_async(1, 2)  # type: ignore[call-arg]
        with pytest.raises(ValueError):
            await tx.send_async(1, timeout=-1)
        with pytest.raises(TypeError):  # positional-only, as for send()
            await tx.send_async(obj=1)  # type: ignore[call-arg]
        assert len(rx) == 0  # the refused sends enqueued nothing

    run(main)
    assert asyncio.TimeoutError is TimeoutError


def test_send_async_waits_for_room_and_timeout_enqueues_nothing() -> None:
    tx, rx = interpchan.channel(capacity=1)

    async def main() -> None:
        await tx.send_async("first")
        buf = interpchan.Buffer(8)
        with pytest.raises(TimeoutError, match="send_async timed out"):
            await tx.send_async(buf, timeout=0.01)
        assert not buf.moved and len(tx) == 1  # not enqueued; the caller still owns buf
        task = asyncio.ensure_future(tx.send_async(buf))
        await until(lambda: queued(tx) == 1)
        assert not task.done()
        assert rx.recv_nowait() == "first"  # makes room: wakes the sender
        await task
        assert buf.moved
        assert len(rx.recv_nowait()) == 8

    run(main)


def test_cancelled_send_async_did_not_enqueue() -> None:
    tx, rx = interpchan.channel(capacity=1)

    async def main() -> None:
        tx.send(0)
        task = asyncio.ensure_future(tx.send_async(1))
        await until(lambda: queued(tx) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert queued(tx) == 0
        assert rx.recv_nowait() == 0
        with pytest.raises(interpchan.Empty):
            rx.recv_nowait()

    run(main)


def test_cancelled_recv_async_leaves_the_item_in_the_channel() -> None:
    tx, rx = interpchan.channel()

    async def main() -> None:
        task = asyncio.ensure_future(rx.recv_async())
        await until(lambda: queued(rx) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        tx.send("kept")
        assert await rx.recv_async() == "kept"

    run(main)


@pytest.mark.parametrize("how", ["recv_async", "select_async", "anext"])
def test_woken_then_cancelled_waiter_passes_its_wake_on(how: str) -> None:
    """The Task.cancel race: a waiter's future is resolved, then its task is cancelled before it
    runs. It has taken nothing, and the next waiter gets the item."""
    tx, rx = interpchan.channel()

    def wait() -> Awaitable[Any]:
        if how == "recv_async":
            return rx.recv_async()
        if how == "select_async":
            return interpchan.select_async([rx])
        return rx.__anext__()

    async def main() -> None:
        first = asyncio.ensure_future(wait())
        await until(lambda: queued(rx) == 1)
        second = asyncio.ensure_future(wait())
        await until(lambda: queued(rx) == 2)
        tx.send("only")
        hub = _async._hubs[id(asyncio.get_running_loop())]
        hub._on_readable()  # the loop's reader callback, now: resolves the first waiter only
        assert queued(rx) == 1
        first.cancel()  # before the first task runs again
        with pytest.raises(asyncio.CancelledError):
            await first
        got = await second
        assert got == "only" or got == (rx, "only")
        assert len(rx) == 0

    run(main)


def test_close_wakes_awaiting_receivers_and_senders() -> None:
    _tx, rx = interpchan.channel(capacity=1)

    async def main() -> None:
        receivers = [asyncio.ensure_future(rx.recv_async()) for _ in range(3)]
        await until(lambda: queued(rx) == 3)
        rx.close()
        for task in receivers:
            with pytest.raises(interpchan.ChannelClosed):
                await task
        tx2, rx2 = interpchan.channel(capacity=1)
        await tx2.send_async(0)
        senders = [asyncio.ensure_future(tx2.send_async(i)) for i in range(3)]
        await until(lambda: queued(tx2) == 3)
        tx2.close()
        for task in senders:
            with pytest.raises(interpchan.ChannelClosed):
                await task
        assert rx2.recv_nowait() == 0

    run(main)


def test_close_from_another_thread_wakes_the_loop() -> None:
    _tx, rx = interpchan.channel()

    async def main() -> None:
        task = asyncio.ensure_future(rx.recv_async())
        await until(lambda: queued(rx) == 1)
        closer = threading.Thread(target=rx.close)
        closer.start()
        with pytest.raises(interpchan.ChannelClosed):
            await task
        closer.join()

    run(main)


def test_disconnect_wakes_both_sides() -> None:
    async def last_sender_goes() -> None:
        tx, rx = interpchan.channel()
        tx.send(1)
        task = asyncio.ensure_future(rx.recv_async())
        assert await task == 1
        task = asyncio.ensure_future(rx.recv_async())
        await until(lambda: queued(rx) == 1)
        del tx  # the last Sender: items sent before are delivered, then ChannelClosed
        with pytest.raises(interpchan.ChannelClosed):
            await task

    async def last_receiver_goes() -> None:
        tx, rx = interpchan.channel(capacity=1)
        tx.send(0)
        task = asyncio.ensure_future(tx.send_async(1))
        await until(lambda: queued(tx) == 1)
        del rx
        with pytest.raises(interpchan.ChannelClosed):
            await task

    run(last_sender_goes)
    run(last_receiver_goes)


def test_async_for_drains_then_stops() -> None:
    tx, rx = interpchan.channel()

    async def main() -> list[Any]:
        async def produce() -> None:
            for i in range(5):
                await tx.send_async(i)
                await asyncio.sleep(0)
            tx.close()

        producer = asyncio.ensure_future(produce())
        got = [item async for item in rx]
        await producer
        assert aiter(rx) is rx
        with pytest.raises(StopAsyncIteration):
            await anext(rx)
        return got

    assert run(main) == [0, 1, 2, 3, 4]


def test_select_async_returns_the_ready_receiver_fairly() -> None:
    tx_a, rx_a = interpchan.channel()
    tx_b, rx_b = interpchan.channel()

    async def main() -> None:
        task = asyncio.ensure_future(interpchan.select_async([rx_a, rx_b]))
        await until(lambda: queued(rx_a) == 1 and queued(rx_b) == 1)
        tx_b.send("b")
        assert await task == (rx_b, "b")
        assert queued(rx_a) == 0
        for _ in range(200):
            tx_a.send("a")
            tx_b.send("b")
        picks = {"a": 0, "b": 0}
        for _ in range(200):
            _, item = await interpchan.select_async(iter([rx_a, rx_b]))
            picks[item] += 1
        assert picks["a"] > 50 and picks["b"] > 50, picks
        _idle_tx, idle_rx = interpchan.channel()
        with pytest.raises(TimeoutError, match="select_async timed out"):
            await interpchan.select_async([idle_rx], timeout=0.01)
        tx_a.close()
        tx_b.close()
        while True:
            try:
                await interpchan.select_async([rx_a, rx_b])
            except interpchan.ChannelClosed:
                break
        with pytest.raises(TypeError):
            await interpchan.select_async([1])  # type: ignore[list-item]

    run(main)


def test_select_async_in_a_thread_sums_everything() -> None:
    # (asyncio in sub-interpreters: test_async_subinterpreters.py, in a subprocess)
    concurrent_peer = Peer("thread")
    channels = [interpchan.channel() for _ in range(3)]
    out_tx, out_rx = interpchan.channel()
    task = concurrent_peer.run(async_workers.async_select_sum, [rx for _, rx in channels], out_tx)
    out_tx.close()
    for tag, (tx, rx) in enumerate(channels):
        rx.close()
        for i in range(100):
            tx.send(tag * 1000 + i)
        tx.close()
    assert task.join() == 300
    assert out_rx.recv(timeout=LIMIT) == sum(t * 1000 * 100 + sum(range(100)) for t in range(3))


def test_async_echo_in_a_thread() -> None:
    concurrent_peer = Peer("thread")
    to_tx, to_rx = interpchan.channel(capacity=4)
    from_tx, from_rx = interpchan.channel(capacity=4)
    task = concurrent_peer.run(async_workers.async_echo, to_rx, from_tx)
    to_rx.close()
    from_tx.close()

    assert run(lambda: async_workers.feed_and_collect(to_tx, from_rx, 500)) == list(range(500))
    assert task.join() == 500


def test_mixed_sync_and_async_ends_on_one_channel() -> None:
    """Blocking producers in sub-interpreters, async and blocking consumers: every item once,
    in order per sender."""
    tx, rx = interpchan.channel(capacity=16)
    sink_tx, sink_rx = interpchan.channel()
    producers = [interpchan.spawn(async_workers.produce_range, tx, tag, 2000) for tag in range(3)]
    blocking = threading.Thread(target=async_workers.consume_blocking, args=(rx.clone(), sink_tx))
    blocking.start()
    tx.close()

    async def main() -> list[list[Any]]:
        async def consume() -> list[Any]:
            return [item async for item in rx]

        return list(await asyncio.gather(*(consume() for _ in range(4))))

    async_parts = run(main)
    blocking.join(LIMIT)
    assert not blocking.is_alive()
    sync_got = list(sink_rx)
    for p in producers:
        assert p.join(LIMIT) == 2000
    async_got = [item for part in async_parts for item in part]
    everything = sorted(async_got + sync_got)
    assert everything == sorted((tag, i) for tag in range(3) for i in range(2000))
    for got in [*async_parts, sync_got]:  # each receiver sees each sender's items in order
        for tag in range(3):
            seq = [i for t, i in got if t == tag]
            assert seq == sorted(seq)
    assert async_got and sync_got  # both kinds of receiver took part


def test_many_tasks_on_many_channels_use_no_threads() -> None:
    channels = [interpchan.channel() for _ in range(100)]
    gc.collect()  # the wakers of earlier tests' loops
    threads_before = threading.active_count()
    wakers_before = _interpchan._open_wakers()

    async def main() -> None:
        tasks = [asyncio.ensure_future(channels[i % 100][1].recv_async()) for i in range(10_000)]
        await until(lambda: all(queued(rx) == 100 for _, rx in channels))
        assert threading.active_count() == threads_before
        assert _interpchan._open_wakers() == wakers_before + 1  # one for the loop
        for i in range(10_000):
            channels[i % 100][0].send(i)
        got = await asyncio.gather(*tasks)
        assert sorted(got) == list(range(10_000))
        assert all(queued(rx) == 0 for _, rx in channels)

    run(main)
    assert threading.active_count() == threads_before


def test_loop_closed_while_awaiting_leaks_nothing() -> None:
    gc.collect()
    tx, rx = interpchan.channel(capacity=1)
    wakers_before = _interpchan._open_wakers()
    loop = asyncio.new_event_loop()
    tx.send(0)
    _idle_tx, idle_rx = interpchan.channel()
    recv = loop.create_task(idle_rx.recv_async())
    send = loop.create_task(tx.send_async(1))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert not recv.done() and not send.done()
    assert _interpchan._open_wakers() == wakers_before + 1
    loop.close()  # with both tasks still waiting
    assert rx.recv_nowait() == 0
    tx.send(2)  # wakes a waker whose loop is closed: no crash
    del loop, recv, send
    gc.collect()
    assert _interpchan._open_wakers() == wakers_before
    assert rx.recv_nowait() == 2
    assert len(rx) == 0  # the abandoned send never enqueued


def test_loops_in_several_threads() -> None:
    tx, rx = interpchan.channel()
    results: list[Any] = []

    def loop_thread() -> None:
        async def main() -> list[Any]:
            return [await rx.recv_async(timeout=LIMIT) for _ in range(100)]

        results.append(asyncio.run(main()))

    threads = [threading.Thread(target=loop_thread) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(300):
        tx.send(i)
    for t in threads:
        t.join(LIMIT)
    assert sorted(x for r in results for x in r) == list(range(300))
    assert all(r == sorted(r) for r in results)


def test_rendezvous_channels_cannot_be_awaited() -> None:
    tx, rx = interpchan.channel(capacity=0)

    async def main() -> None:
        with pytest.raises(ValueError, match="rendezvous"):
            await rx.recv_async()
        with pytest.raises(ValueError, match="rendezvous"):
            await tx.send_async(1)

    run(main)


def test_loop_without_add_reader_is_refused_clearly() -> None:
    class NoReaders(asyncio.SelectorEventLoop):
        def add_reader(self, *args: Any) -> None:
            raise NotImplementedError

    tx, rx = interpchan.channel()
    loop = NoReaders()
    try:
        with pytest.raises(RuntimeError, match="add_reader"):
            loop.run_until_complete(rx.recv_async())
        tx.send(1)
        assert loop.run_until_complete(rx.recv_async()) == 1  # no wait needed: works
    finally:
        loop.close()


def test_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    tx, rx = interpchan.channel(capacity=2)
    peer_tx, peer_rx = interpchan.channel(capacity=2)
    worker = interpchan.spawn(async_workers.consume_blocking, rx, peer_tx)
    rx.close()
    peer_tx.close()

    async def main() -> list[Any]:
        async def feed() -> None:
            for i in range(300):
                await tx.send_async(i)
            tx.close()

        feeder = asyncio.ensure_future(feed())
        got = [item async for item in peer_rx]
        await feeder
        _, other = interpchan.channel()
        task = asyncio.ensure_future(other.recv_async())
        await asyncio.sleep(0.01)
        other.close()
        with pytest.raises(interpchan.ChannelClosed):
            await task
        return got

    assert uvloop.run(main()) == list(range(300))
    assert worker.join(LIMIT) == 300
