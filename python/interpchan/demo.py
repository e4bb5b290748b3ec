"""The interpchan demo: pure-Python work on every core, fed by channels (python -m interpchan.demo).

A producer fills 1 MiB ``Buffer``s and moves them (no copy) through a channel to one own-GIL
sub-interpreter per core. Each worker checksums its chunks in pure Python, which holds the GIL,
and sends the results back. The same work then runs through ``interpchan.Pool.map`` (reused
own-GIL workers, Buffers moved as task arguments), on threads with ``queue.Queue`` and on one
thread, and the demo prints the throughput of each.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable

import interpchan

MASK = (1 << 64) - 1


def checksum(view: memoryview) -> int:
    """A Fletcher-style checksum over 64-bit words, in pure Python (GIL-bound on purpose)."""
    low = high = 0
    for word in view.cast("Q"):
        low = (low + word) & MASK
        high = (high + low) & MASK
    return high << 64 | low


def interpreter_worker(tasks: interpchan.Receiver, results: interpchan.Sender) -> int:
    """Runs in an own-GIL sub-interpreter: checksum every chunk until the channel closes."""
    done = 0
    with tasks, results:
        for index, view in tasks:
            results.send((index, checksum(view)))
            done += 1
    return done


def run_pool(chunks: list[bytes], workers: int) -> tuple[list[int], int]:
    """Checksums through ``Pool.map``: each chunk a Buffer moved into a worker as the argument."""
    buffers = []
    for data in chunks:
        buf = interpchan.Buffer(len(data))
        memoryview(buf)[:] = data
        buffers.append(buf)
    with interpchan.Pool(workers) as pool:
        sums = list(pool.map(checksum, buffers))
    return sums, sum(buf.moved for buf in buffers)


def thread_worker(tasks: queue.Queue, results: queue.Queue) -> None:
    """Runs in a thread: the same work, fed by queue.Queue."""
    while (task := tasks.get()) is not None:
        index, data = task
        results.put((index, checksum(memoryview(data))))


def run_interpreters(chunks: list[bytes], workers: int) -> tuple[list[int], int]:
    """Checksums on `workers` sub-interpreters; returns the checksums and Buffers moved."""
    tasks_tx, tasks_rx = interpchan.channel(capacity=2 * workers)
    results_tx, results_rx = interpchan.channel()
    pool = [interpchan.spawn(interpreter_worker, tasks_rx, results_tx) for _ in range(workers)]
    tasks_rx.close()  # spawn holds the workers' own handles: once the workers close theirs,
    results_tx.close()  # iterating over results_rx below ends
    moved = 0
    try:
        with tasks_tx:  # closing it ends the workers' loops once every task is taken
            for index, data in enumerate(chunks):
                buf = interpchan.Buffer(len(data))
                memoryview(buf)[:] = data
                tasks_tx.send((index, buf))  # moves the memory: no copy
                moved += buf.moved
        sums = _collect(results_rx, len(chunks))
    finally:
        done = [w.join() for w in pool]  # a worker's failure is raised here as WorkerError
    if sum(done) != len(chunks):
        raise RuntimeError(f"workers checksummed {sum(done)} chunks of {len(chunks)}")
    return sums, moved


def run_threads(chunks: list[bytes], workers: int) -> list[int]:
    """Checksums on `workers` threads sharing the GIL, fed by queue.Queue."""
    tasks: queue.Queue = queue.Queue(maxsize=2 * workers)
    results: queue.Queue = queue.Queue()
    pool = [threading.Thread(target=thread_worker, args=(tasks, results)) for _ in range(workers)]
    for thread in pool:
        thread.start()
    for index, data in enumerate(chunks):
        tasks.put((index, data))
    for _ in pool:
        tasks.put(None)
    for thread in pool:
        thread.join()
    return _collect(iter(results.get_nowait, None), len(chunks))


def run_single(chunks: list[bytes]) -> list[int]:
    """Checksums on this thread alone."""
    return [checksum(memoryview(data)) for data in chunks]


def _collect(results: Iterable[tuple[int, int]], count: int) -> list[int]:
    sums = [0] * count
    for _, (index, value) in zip(range(count), results, strict=False):
        sums[index] = value
    return sums


def _timed[T](run: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interpchan.demo", description=__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunks", type=int, default=64, help="number of chunks (default 64)")
    parser.add_argument("--chunk-kib", type=int, default=1024, help="chunk size in KiB (1024)")
    args = parser.parse_args(argv)
    if args.chunks < 1 or args.chunk_kib < 1:
        parser.error("--chunks and --chunk-kib must be at least 1")
    workers, size = max(1, args.workers), args.chunk_kib * 1024 // 8 * 8
    rng = random.Random(2026)
    chunks = [rng.randbytes(size) for _ in range(args.chunks)]
    total_mib = args.chunks * size / (1 << 20)

    print(f"interpchan demo: checksum {args.chunks} chunks of {size >> 10} KiB in pure Python")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {workers} workers\n")
    run_single(chunks[:2])  # warm up this interpreter (the workers' interpreters start cold)
    run_threads(chunks[:workers], workers)
    single_time, single_sums = _timed(lambda: run_single(chunks))
    thread_time, thread_sums = _timed(lambda: run_threads(chunks, workers))
    interp_time, (interp_sums, moved) = _timed(lambda: run_interpreters(chunks, workers))
    pool_time, (pool_sums, pool_moved) = _timed(lambda: run_pool(chunks, workers))

    rows = [
        ("1 thread (baseline)", 1, single_time),
        ("threads + queue.Queue (one GIL)", workers, thread_time),
        ("own-GIL sub-interpreters + interpchan", workers, interp_time),
        ("interpchan.Pool.map", workers, pool_time),
    ]
    print(f"{'mode':<39}{'workers':>8}{'MiB':>7}{'seconds':>9}{'MiB/s':>8}{'speedup':>9}")
    for name, count, seconds in rows:
        speedup = single_time / seconds
        print(
            f"{name:<39}{count:>8}{total_mib:>7.0f}{seconds:>9.2f}"
            f"{total_mib / seconds:>8.1f}{speedup:>8.2f}x"
        )
    print("(the sub-interpreter and Pool times include starting and ending the interpreters)")
    agree = single_sums == thread_sums == interp_sums == pool_sums
    print(f"\nchecksums agree in all modes: {'yes' if agree else 'NO'}")
    print(f"Buffers moved to sub-interpreters without a copy: {moved} of {args.chunks}")
    print(f"Buffers moved to Pool workers as task arguments: {pool_moved} of {args.chunks}")
    ok = agree and moved == pool_moved == args.chunks
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
