"""An asyncio program that offloads CPU-bound work to own-GIL workers with run_in_executor.

The event loop keeps serving (here: a ticker) while the workers compute in parallel.

Run: python examples/asyncio_offload.py
"""

import asyncio

import interpchan


def fib(n: int) -> int:
    """Deliberately slow pure-Python work: it would block the event loop if run there."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


async def ticker(stop: asyncio.Event) -> int:
    ticks = 0
    while not stop.is_set():
        await asyncio.sleep(0.001)
        ticks += 1
    return ticks


async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    ticks = asyncio.create_task(ticker(stop))
    with interpchan.Pool(2) as pool:
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, fib, n) for n in (20, 21, 22, 23))
        )
    stop.set()
    print("fib:", results)
    print("the event loop ran meanwhile:", await ticks > 0)


if __name__ == "__main__":
    asyncio.run(main())
