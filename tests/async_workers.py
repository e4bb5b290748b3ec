"""Module-level functions that the asyncio tests run in peers (threads, own-GIL interpreters)."""

from __future__ import annotations

import sys
from typing import Any

import interpchan

TIMEOUT = 30.0


def _import_asyncio() -> Any:
    """asyncio for a sub-interpreter: on 3.12 without its C accelerator and without ssl, whose
    imports there can abort the process (CPython 3.12 bugs); the pure-Python Task and Future
    are used, and asyncio works without ssl."""
    if sys.version_info < (3, 13) and "asyncio" not in sys.modules:
        for name in ("_asyncio", "ssl", "_ssl"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    import asyncio

    return asyncio


def async_echo(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """Runs an event loop that echoes items with recv_async/send_async until rx ends."""
    asyncio = _import_asyncio()

    async def main() -> int:
        n = 0
        async for item in rx:
            await tx.send_async(item, timeout=TIMEOUT)
            n += 1
        tx.close()
        return n

    return int(asyncio.run(main()))


def async_select_sum(receivers: list[interpchan.Receiver], tx: interpchan.Sender) -> int:
    """select_async over `receivers` until all end; sends the sum of the items, returns count."""
    asyncio = _import_asyncio()

    async def main() -> int:
        total = n = 0
        while True:
            try:
                _, item = await interpchan.select_async(receivers, timeout=TIMEOUT)
            except interpchan.ChannelClosed:
                break
            total += item
            n += 1
        await tx.send_async(total)
        return n

    return int(asyncio.run(main()))


def produce_range(tx: interpchan.Sender, tag: int, n: int) -> int:
    """Blocking producer: sends (tag, 0..n-1), then closes."""
    with tx:
        for i in range(n):
            tx.send((tag, i), timeout=TIMEOUT)
    return n


def consume_blocking(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """Blocking consumer: forwards every item it receives to tx, until rx ends."""
    n = 0
    with tx:
        while True:
            try:
                item = rx.recv(timeout=TIMEOUT)
            except interpchan.ChannelClosed:
                return n
            tx.send(item)
            n += 1


def async_cancel_then_receive(rx: interpchan.Receiver, ready: interpchan.Sender) -> Any:
    """In its own loop: a recv_async cancelled while waiting takes nothing; tells `ready` it is
    waiting again, then returns the next item."""
    asyncio = _import_asyncio()

    async def main() -> Any:
        waiting = asyncio.ensure_future(rx.recv_async())
        await asyncio.sleep(0.01)
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            pass
        again = asyncio.ensure_future(rx.recv_async(timeout=TIMEOUT))
        await asyncio.sleep(0)
        ready.send("waiting")
        return await again

    return asyncio.run(main())


async def feed_and_collect(
    to_tx: interpchan.Sender, from_rx: interpchan.Receiver, n: int
) -> list[Any]:
    """Sends 0..n-1 on `to_tx` (then closes it) while collecting what `from_rx` yields, both
    awaiting on the running loop: the driver of an echo worker."""
    import asyncio

    async def feed() -> None:
        for i in range(n):
            await to_tx.send_async(i)
        to_tx.close()

    feeder = asyncio.ensure_future(feed())
    got = [item async for item in from_rx]
    await feeder
    return got


def subinterpreter_scenario() -> str:
    """Run in a subprocess by the tests: asyncio loops in own-GIL sub-interpreters (and, on
    3.13+, in the main interpreter at the same time) exchange items through recv_async,
    send_async, async for and select_async.

    CPython 3.12.1 crashes ("free(): invalid pointer") when event loops run at the same time in
    two interpreters, with or without interpchan (a bare _xxsubinterpreters script shows it), so
    there the workers run one at a time and the main interpreter uses blocking calls.
    """
    concurrent = sys.version_info >= (3, 13)

    to_tx, to_rx = interpchan.channel(capacity=4)
    from_tx, from_rx = interpchan.channel(capacity=4)
    echo = interpchan.spawn(async_echo, to_rx, from_tx)
    to_rx.close()
    from_tx.close()
    if concurrent:
        import asyncio

        got = asyncio.run(feed_and_collect(to_tx, from_rx, 300))
    else:
        got = []
        for i in range(300):
            to_tx.send(i, timeout=TIMEOUT)
            got.append(from_rx.recv(timeout=TIMEOUT))
        to_tx.close()
    assert got == list(range(300)), got
    assert echo.join(TIMEOUT) == 300

    ins = [interpchan.channel() for _ in range(3)]
    sum_tx, sum_rx = interpchan.channel()
    summer = interpchan.spawn(async_select_sum, [rx for _, rx in ins], sum_tx)
    sum_tx.close()
    for tag, (tx, rx) in enumerate(ins):
        rx.close()
        for i in range(50):
            tx.send(tag + i)
        tx.close()
    assert summer.join(TIMEOUT) == 150
    assert sum_rx.recv(timeout=TIMEOUT) == sum(tag + i for tag in range(3) for i in range(50))

    c_tx, c_rx = interpchan.channel()
    ready_tx, ready_rx = interpchan.channel()
    canceller = interpchan.spawn(async_cancel_then_receive, c_rx, ready_tx)
    c_rx.close()
    ready_tx.close()
    assert ready_rx.recv(timeout=TIMEOUT) == "waiting"
    c_tx.send("the one item")
    assert canceller.join(TIMEOUT) == "the one item"
    return "subinterpreter scenario ok"
