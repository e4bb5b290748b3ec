"""Module-level functions that the asyncio tests run in peers (threads, own-GIL interpreters)."""

from __future__ import annotations

import sys
from typing import Any

import interpchan

TIMEOUT = 30.0


def _import_asyncio() -> Any:
    """asyncio for a sub-interpreter: on 3.12 without its C accelerator, whose import there can
    abort the process at exit (a CPython 3.12 bug); the pure-Python Task and Future are used."""
    if sys.version_info < (3, 13) and "asyncio" not in sys.modules:
        sys.modules.setdefault("_asyncio", None)  # type: ignore[arg-type]
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
