"""Cancellation hammer: thousands of awaits cancelled or timed out at random; every item is
received exactly once and each receiver sees each sender's items in order."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import async_workers
import pytest

import interpchan

ITEMS_PER_PRODUCER = 1500
LIMIT = 120.0


async def _consumer(
    rng: random.Random,
    rx: interpchan.Receiver,
    idle_rx: interpchan.Receiver,
    inflight: set[asyncio.Task[Any]],
    stats: dict[str, int],
) -> list[Any]:
    got: list[Any] = []
    while True:
        roll = rng.random()
        if roll < 0.35:
            wait: Any = rx.recv_async(timeout=rng.choice([None, 0, 0.0002, 0.002]))
        elif roll < 0.6:
            wait = interpchan.select_async([idle_rx, rx], timeout=rng.choice([None, 0.0005]))
        elif roll < 0.8:
            wait = asyncio.wait_for(rx.recv_async(), rng.choice([0.0001, 0.001, 0.01]))
        else:
            wait = rx.__anext__()
        inner = asyncio.ensure_future(wait)
        inflight.add(inner)
        await asyncio.wait([inner])
        inflight.discard(inner)
        stats["awaits"] += 1
        if inner.cancelled():
            stats["cancelled"] += 1
            continue
        exc = inner.exception()
        if isinstance(exc, TimeoutError):
            stats["timeouts"] += 1
            continue
        if isinstance(exc, (interpchan.ChannelClosed, StopAsyncIteration)):
            return got
        if exc is not None:
            raise exc
        result = inner.result()
        got.append(
            result[1]
            if isinstance(result, tuple) and len(result) == 2 and result[0] is rx
            else result
        )


async def _async_producer(
    rng: random.Random, tx: interpchan.Sender, tag: int, stats: dict[str, int]
) -> None:
    """Sends (tag, i) with send_async under random timeouts and cancels; a raise means not
    enqueued, so the same item is sent again (a duplicate would show a broken promise)."""
    i = 0
    while i < ITEMS_PER_PRODUCER:
        send = asyncio.ensure_future(tx.send_async((tag, i), timeout=rng.choice([None, 0, 1e-4])))
        if rng.random() < 0.4:
            await asyncio.sleep(0)
            send.cancel()
        await asyncio.wait([send])
        if send.cancelled():
            stats["send_cancelled"] += 1
            continue
        if isinstance(send.exception(), TimeoutError):
            stats["send_timeouts"] += 1
            continue
        assert send.exception() is None, send.exception()
        i += 1
    tx.close()


async def _canceller(
    rng: random.Random, inflight: set[asyncio.Task[Any]], done: asyncio.Event
) -> int:
    cancels = 0
    while not done.is_set():
        if inflight and rng.random() < 0.3:
            rng.choice(sorted(inflight, key=id)).cancel()
            cancels += 1
        await asyncio.sleep(0)
    return cancels


# A wait_for cancelled before it started never awaits the coroutine it was given: nothing was
# taken, so nothing is lost, but Python warns.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@pytest.mark.parametrize("seed", [1, 2])
def test_cancellation_hammer(seed: int) -> None:
    rng = random.Random(seed)
    tx, rx = interpchan.channel(capacity=8)
    _idle_tx, idle_rx = interpchan.channel()
    producers = [
        interpchan.spawn(async_workers.produce_range, tx, 0, ITEMS_PER_PRODUCER),
        interpchan.spawn(async_workers.produce_range, tx, 1, ITEMS_PER_PRODUCER),
    ]
    thread = threading.Thread(
        target=async_workers.produce_range, args=(tx.clone(), 2, ITEMS_PER_PRODUCER)
    )
    thread.start()
    stats = dict.fromkeys(["awaits", "cancelled", "timeouts", "send_cancelled", "send_timeouts"], 0)

    async def main() -> list[list[Any]]:
        inflight: set[asyncio.Task[Any]] = set()
        done = asyncio.Event()
        canceller = asyncio.ensure_future(_canceller(rng, inflight, done))
        producer = asyncio.ensure_future(_async_producer(rng, tx, 3, stats))
        async with asyncio.timeout(LIMIT):
            parts = await asyncio.gather(
                *(_consumer(rng, rx, idle_rx, inflight, stats) for _ in range(6))
            )
            await producer
        done.set()
        stats["cancels"] = await canceller
        return list(parts)

    parts = asyncio.run(main())
    thread.join(LIMIT)
    for p in producers:
        assert p.join(LIMIT) == ITEMS_PER_PRODUCER
    everything = sorted(item for part in parts for item in part)
    assert everything == sorted((tag, i) for tag in range(4) for i in range(ITEMS_PER_PRODUCER))
    for part in parts:
        for tag in range(4):
            seq = [i for t, i in part if t == tag]
            assert seq == sorted(seq), f"sender {tag} out of order"
    # The hammer really hammered: many awaits, many of them cut short.
    assert stats["awaits"] >= 4 * ITEMS_PER_PRODUCER
    assert stats["cancelled"] + stats["timeouts"] >= 500, stats


def test_send_hammer() -> None:
    """send_async on a one-slot channel, cut short at random (cancelled, timed out) while it
    waits for room: a raise means not enqueued, so the item is sent again, and the consumer gets
    every item exactly once, in order. The consumer takes one item only when the producer opens
    its gate, which it does when a send is waiting, so sends often find the slot taken."""
    rng = random.Random(3)
    tx, rx = interpchan.channel(capacity=1)
    stats = dict.fromkeys(["send_cancelled", "send_timeouts"], 0)

    async def main() -> list[Any]:
        gate = asyncio.Event()
        finished = False

        async def consume() -> list[Any]:
            got = []
            while True:
                if not finished:
                    await gate.wait()
                    gate.clear()
                try:
                    got.append(await rx.recv_async())
                except interpchan.ChannelClosed:
                    return got

        consumer = asyncio.ensure_future(consume())
        i = 0
        while i < ITEMS_PER_PRODUCER:
            send = asyncio.ensure_future(tx.send_async(i, timeout=rng.choice([None, 0, 1e-4])))
            await asyncio.sleep(0)  # the send runs: done at once, or waiting for room
            waiting = not send.done()
            if rng.random() < 0.4:
                send.cancel()
            if waiting:
                gate.set()  # the consumer takes the item in the slot
            await asyncio.wait([send])
            if send.cancelled():
                stats["send_cancelled"] += 1
            elif isinstance(send.exception(), TimeoutError):
                stats["send_timeouts"] += 1
            else:
                assert send.exception() is None
                i += 1
        tx.close()
        finished = True
        gate.set()
        return await consumer

    async def bounded() -> list[Any]:
        async with asyncio.timeout(LIMIT):
            return await main()

    assert asyncio.run(bounded()) == list(range(ITEMS_PER_PRODUCER))
    assert stats["send_cancelled"] >= 100 and stats["send_timeouts"] >= 100, stats
