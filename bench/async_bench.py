"""asyncio benchmark: await round trip, async stream and loop lag, against asyncio's usual bridges.

Run: python bench/async_bench.py [--quick] [--uvloop]

Workloads (each a median over several runs, all in one process run, side by side):
  round trip   an asyncio task sends an int to a worker and awaits the reply; p50 and p99 in µs.
               interpchan: the worker is an own-GIL sub-interpreter (blocking recv/send) and the
               task awaits send_async/recv_async. Peers: loop.run_in_executor(None, rx.recv) on
               the same interpchan channels (a thread pool waiting for the task), and a janus
               queue pair served by a thread (if janus is installed).
  stream       a worker interpreter sends small ints as fast as it can; one task receives them
               with `async for`; items/s.
  loop lag     a ticker task sleeps 1 ms in a loop; lag = how late it wakes, p99 in µs, on an idle
               loop, with 10,000 tasks awaiting recv_async on 100 channels (threads counted), and
               with 10,000 tasks awaiting plain asyncio futures (what that many tasks cost
               anyway: the cyclic GC walks them).
janus is optional (pip install janus); without it, its row says so.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import interpchan


def echo_worker(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """Runs in an own-GIL sub-interpreter: sends back every item until rx ends."""
    n = 0
    with rx, tx:
        for item in rx:
            tx.send(item)
            n += 1
    return n


def stream_worker(tx: interpchan.Sender, n: int) -> int:
    """Runs in an own-GIL sub-interpreter: sends n small ints, then closes."""
    with tx:
        send = tx.send
        for i in range(n):
            send(i)
    return n


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------------- round trip


async def rt_interpchan(n: int) -> list[float]:
    to_tx, to_rx = interpchan.channel()
    from_tx, from_rx = interpchan.channel()
    worker = interpchan.spawn(echo_worker, to_rx, from_tx)
    to_rx.close()
    from_tx.close()
    samples = []
    for i in range(n + n // 10):
        t0 = time.perf_counter()
        await to_tx.send_async(i)
        assert await from_rx.recv_async() == i
        samples.append(time.perf_counter() - t0)
    to_tx.close()
    worker.join()
    return samples[n // 10 :]


async def rt_executor(n: int) -> list[float]:
    to_tx, to_rx = interpchan.channel()
    from_tx, from_rx = interpchan.channel()
    worker = interpchan.spawn(echo_worker, to_rx, from_tx)
    to_rx.close()
    from_tx.close()
    loop = asyncio.get_running_loop()
    samples = []
    for i in range(n + n // 10):
        t0 = time.perf_counter()
        to_tx.send(i)
        assert await loop.run_in_executor(None, from_rx.recv) == i
        samples.append(time.perf_counter() - t0)
    to_tx.close()
    worker.join()
    return samples[n // 10 :]


async def rt_janus(n: int) -> list[float]:
    import janus

    to_q: Any = janus.Queue()
    from_q: Any = janus.Queue()

    def serve() -> None:
        while True:
            item = to_q.sync_q.get()
            if item is None:
                return
            from_q.sync_q.put(item)

    thread = threading.Thread(target=serve)
    thread.start()
    samples = []
    for i in range(1, n + n // 10 + 1):
        t0 = time.perf_counter()
        await to_q.async_q.put(i)
        assert await from_q.async_q.get() == i
        samples.append(time.perf_counter() - t0)
    await to_q.async_q.put(None)
    thread.join()
    to_q.close()
    from_q.close()
    return samples[n // 10 :]


# ---------------------------------------------------------------------------- stream


async def stream_interpchan(n: int) -> float:
    tx, rx = interpchan.channel(capacity=4096)
    worker = interpchan.spawn(stream_worker, tx, n)
    tx.close()
    t0 = time.perf_counter()
    count = 0
    async for _ in rx:
        count += 1
    elapsed = time.perf_counter() - t0
    assert worker.join() == n and count == n
    return n / elapsed


# ---------------------------------------------------------------------------- loop lag


async def lag_p99(ticks: int, waiters: int, plain: bool = False) -> tuple[float, int]:
    """p99 of the ticker's lateness (µs) with `waiters` tasks awaiting recv_async (or plain
    asyncio futures: the cost of that many tasks alone); threads during the run."""
    channels = [interpchan.channel() for _ in range(100)]
    futures = [asyncio.get_running_loop().create_future() for _ in range(waiters if plain else 0)]
    if plain:
        tasks = [asyncio.ensure_future(_await(f)) for f in futures]
    else:
        tasks = [asyncio.ensure_future(channels[i % 100][1].recv_async()) for i in range(waiters)]
    await asyncio.sleep(0.05)  # every waiter registered
    threads = threading.active_count()
    lateness = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        lateness.append(time.perf_counter() - t0 - 0.001)
    for i in range(len(tasks)):
        if plain:
            futures[i].set_result(i)
        else:
            channels[i % 100][0].send(i)
    await asyncio.gather(*tasks)
    return percentile(lateness, 0.99) * 1e6, threads


async def _await(fut: Any) -> Any:
    return await fut


# ---------------------------------------------------------------------------- driver


def measure(run: Callable[[], Any], repeats: int) -> list[Any]:
    results = []
    for _ in range(repeats):
        gc.collect()
        results.append(run())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (a smoke run)")
    parser.add_argument("--uvloop", action="store_true", help="run every loop on uvloop")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    n_rt = 300 if args.quick else 3000
    n_stream = 50_000 if args.quick else 1_000_000
    ticks = 200 if args.quick else 2000

    runner: Callable[[Any], Any] = asyncio.run
    loop_name = "asyncio"
    if args.uvloop:
        import uvloop

        runner = uvloop.run
        loop_name = f"uvloop {uvloop.__version__}"
    try:
        import janus  # noqa: F401

        have_janus = True
    except ImportError:
        have_janus = False

    print(f"interpchan asyncio benchmark: Python {sys.version.split()[0]}, {loop_name}, ")
    print(f"medians of {repeats} runs{' (quick)' if args.quick else ''}\n")

    print(f"{'await round trip (task <-> worker)':44} {'p50 µs':>9} {'p99 µs':>9}")
    rows: list[tuple[str, Callable[[int], Any]]] = [
        ("interpchan send_async/recv_async", rt_interpchan),
        ("loop.run_in_executor(None, rx.recv)", rt_executor),
    ]
    if have_janus:
        rows.append(("janus queues + a thread", rt_janus))
    p50s = {}
    for name, fn in rows:
        runs = measure(functools.partial(lambda f: runner(f(n_rt)), fn), repeats)
        p50 = statistics.median(percentile(r, 0.5) for r in runs) * 1e6
        p99 = statistics.median(percentile(r, 0.99) for r in runs) * 1e6
        p50s[name] = p50
        print(f"{name:44} {p50:9.1f} {p99:9.1f}")
    if not have_janus:
        print(f"{'janus queues + a thread':44} {'(janus not installed)':>19}")
    base = p50s["interpchan send_async/recv_async"]
    for name, p50 in p50s.items():
        if name != "interpchan send_async/recv_async":
            print(f"  interpchan is {p50 / base:.1f}x faster than {name}")

    rates = measure(lambda: runner(stream_interpchan(n_stream)), repeats)
    print(f"\n{'async stream, worker -> task (small ints)':44} {'items/s':>9}")
    print(f"{'interpchan, async for':44} {statistics.median(rates):9.3g}")

    idle = measure(lambda: runner(lag_p99(ticks, 0)), repeats)
    busy = measure(lambda: runner(lag_p99(ticks, 10_000)), repeats)
    plain = measure(lambda: runner(lag_p99(ticks, 10_000, plain=True)), repeats)
    print(f"\n{'loop lag of a 1 ms ticker':44} {'p99 µs':>9} {'threads':>9}")
    print(f"{'idle loop':44} {statistics.median(p for p, _ in idle):9.1f} {idle[0][1]:9d}")
    print(
        f"{'10,000 tasks awaiting on 100 channels':44} "
        f"{statistics.median(p for p, _ in busy):9.1f} {busy[0][1]:9d}"
    )
    print(
        f"{'10,000 tasks awaiting plain asyncio futures':44} "
        f"{statistics.median(p for p, _ in plain):9.1f} {plain[0][1]:9d}"
    )


if __name__ == "__main__":
    main()
