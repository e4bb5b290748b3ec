"""interpchan.Pool against the executors a program would use instead, side by side in one run.

Run: python bench/pool.py [--rounds R] [--workers N] [--quick]. Prints a markdown table of
medians over the rounds, with ratios: the submit().result() round trip (p50), map over 100,000
trivial tasks given as a range and as a list (best chunksize of each; Pool sends slices of
either, a range's as sub-ranges; with the ceiling N workers could reach if each ran as fast as
one thread, no cost for sending), pure-Python CPU-bound tasks on N workers against one
thread, pool start (N workers ready; the workers load this script, as they would any program's),
and the cost of one sub-interpreter (spawn(operator.add, ...).join()). The CPU-bound row needs
idle cores.
Peers: ProcessPoolExecutor and multiprocessing.Pool (the platform's default start method),
ThreadPoolExecutor (one GIL), one thread, and on 3.14 concurrent.futures.InterpreterPoolExecutor.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import operator
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import interpchan


def trivial(x: int) -> int:
    return x + 1


def spin(n: int) -> int:
    """Pure-Python CPU work (holds the GIL)."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


class MpPool:
    """multiprocessing.Pool with the Executor calls the bench uses."""

    def __init__(self, workers: int) -> None:
        self.pool = multiprocessing.Pool(workers)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        result = self.pool.apply_async(fn, args)
        result.result = result.get  # type: ignore[attr-defined]
        return result

    def map(self, fn: Callable[..., Any], xs: Any, chunksize: int = 1) -> Any:
        return self.pool.map(fn, xs, chunksize)

    def shutdown(self) -> None:
        self.pool.close()
        self.pool.join()


def peers(workers: int) -> dict[str, Callable[[], Any]]:
    made: dict[str, Callable[[], Any]] = {
        "interpchan.Pool": lambda: interpchan.Pool(workers),
        "ProcessPoolExecutor": lambda: cf.ProcessPoolExecutor(workers),
        "multiprocessing.Pool": lambda: MpPool(workers),
        "ThreadPoolExecutor": lambda: cf.ThreadPoolExecutor(workers),
    }
    if hasattr(cf, "InterpreterPoolExecutor"):
        made["InterpreterPoolExecutor"] = lambda: cf.InterpreterPoolExecutor(workers)
    return made


# Peers that map 100x slower than the others on a range: not measured on a list too, to keep
# the run short.
SLOW_MAP = frozenset({"ThreadPoolExecutor", "InterpreterPoolExecutor"})


def warm(pool: Any, workers: int) -> None:
    """Every worker started (and its imports done) before anything is timed."""
    list(pool.map(spin, [20_000] * (4 * workers), chunksize=1))


def round_trip_p50(pool: Any, calls: int) -> float:
    """The median of ``calls`` round trips, after 50 ms of untimed ones: on a machine with few
    cores, threads that wake after a pause sometimes share one core for the next few
    milliseconds (each hand-over then costs two context switches), until the scheduler spreads
    them; the median is of the steady state that follows."""
    settle = time.perf_counter() + 0.05
    while time.perf_counter() < settle:
        pool.submit(trivial, 0).result()
    times = []
    for i in range(calls):
        start = time.perf_counter()
        pool.submit(trivial, i).result()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def best_map(pool: Any, xs: Any, chunksizes: list[int]) -> tuple[float, int]:
    n = len(xs)
    best = (float("inf"), 0)
    for chunksize in chunksizes:
        start = time.perf_counter()
        out = list(pool.map(trivial, xs, chunksize=chunksize))
        seconds = time.perf_counter() - start
        assert out[-1] == n
        best = min(best, (seconds, chunksize))
    return best


def cpu(pool: Any, tasks: int, n: int) -> float:
    start = time.perf_counter()
    assert len(list(pool.map(spin, [n] * tasks, chunksize=1))) == tasks
    return time.perf_counter() - start


def start_time(make: Callable[[], Any], workers: int) -> float:
    start = time.perf_counter()
    pool = make()
    list(pool.map(trivial, range(workers), chunksize=1))
    seconds = time.perf_counter() - start
    pool.shutdown()
    return seconds


def interpreter_cost(times: int) -> float:
    samples = []
    for i in range(times):
        start = time.perf_counter()
        interpchan.spawn(operator.add, i, 1).join()  # a stdlib function: no script to load
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="fewer calls and tasks")
    parser.add_argument("--tiny", action="store_true", help="a smoke run (the test suite's)")
    args = parser.parse_args()
    workers, rounds = args.workers, args.rounds
    calls, map_n = (200, 20_000) if args.quick else (1000, 100_000)
    cpu_tasks, cpu_n = 4 * workers, 1_000_000  # a second or so of work per round
    if args.tiny:
        calls, map_n, cpu_n = 20, 2_000, 10_000
    chunksizes = [100, 1000, 10_000]

    results: dict[tuple[str, str], list[float]] = {}
    chunks: dict[str, list[int]] = {}

    def add(row: str, peer: str, value: float) -> None:
        results.setdefault((row, peer), []).append(value)

    for _ in range(rounds):
        for name, make in peers(workers).items():
            add("start", name, start_time(make, workers))
            pool = make()
            try:
                warm(pool, workers)
                add("round trip", name, round_trip_p50(pool, calls))
                for row, xs in (("map", range(map_n)), ("map list", list(range(map_n)))):
                    if row == "map list" and name in SLOW_MAP:
                        continue  # 100x slower than the others already on a range
                    seconds, chunksize = best_map(pool, xs, chunksizes)
                    add(row, name, seconds)
                    chunks.setdefault((row, name), []).append(chunksize)
                add("cpu", name, cpu(pool, cpu_tasks, cpu_n))
            finally:
                pool.shutdown()
        start = time.perf_counter()
        assert len(list(map(trivial, range(map_n)))) == map_n
        add("map", "one thread", time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(cpu_tasks):
            spin(cpu_n)
        add("cpu", "one thread", time.perf_counter() - start)
        add("interpreter", "interpchan.spawn", interpreter_cost(3 if args.tiny else 20))

    med = {key: statistics.median(values) for key, values in results.items()}
    ours = "interpchan.Pool"
    print(f"# interpchan.Pool vs peers: Python {sys.version.split()[0]}, {os.cpu_count()} cores,")
    print(f"{workers} workers, medians of {rounds} rounds\n")
    print("| workload | peer | figure | interpchan.Pool is |")
    print("|---|---|---|---|")
    for name in [ours, *[p for p in peers(workers) if p != ours], "one thread"]:
        if ("round trip", name) in med:
            value = med[("round trip", name)]
            ratio = value / med[("round trip", ours)]
            print(
                f"| submit().result() p50 | {name} | {value * 1e6:.1f} µs | {ratio:.1f}x faster |"
            )
    for row, what in (("map", "a range"), ("map list", "a list")):
        for name in [ours, *[p for p in peers(workers) if p != ours], "one thread"]:
            if (row, name) in med:
                value = med[(row, name)]
                chunk = statistics.median(chunks[(row, name)]) if (row, name) in chunks else "-"
                rate = map_n / value
                ratio = value / med[(row, ours)]
                print(
                    f"| map over {what} of {map_n:,} trivial tasks (best chunksize) | {name} "
                    f"(chunksize {chunk}) | {rate / 1e3:.0f} k tasks/s | {ratio:.1f}x faster |"
                )
    value = med[("map", "one thread")] / workers
    print(
        f"| map over a range of {map_n:,} trivial tasks | ceiling: {workers} x one thread "
        f"(the function runs in Python once per task) | {map_n / value / 1e3:.0f} k tasks/s "
        f"| {value / med[('map', ours)]:.2f}x faster |"
    )
    single = med[("cpu", "one thread")]
    for name in [ours, *[p for p in peers(workers) if p != ours], "one thread"]:
        if ("cpu", name) in med:
            value = med[("cpu", name)]
            print(
                f"| CPU-bound: {cpu_tasks} tasks of spin({cpu_n:,}) | {name} | {value:.2f} s, "
                f"{single / value:.2f}x one thread | {value / med[('cpu', ours)]:.2f}x faster |"
            )
    for name in [ours, *[p for p in peers(workers) if p != ours]]:
        value = med[("start", name)]
        print(
            f"| pool start, {workers} workers ready | {name} | {value * 1e3:.1f} ms "
            f"| {value / med[('start', ours)]:.1f}x faster |"
        )
    value = med[("interpreter", "interpchan.spawn")]
    print(f"| one interpreter: spawn(f).join() | interpchan.spawn | {value * 1e3:.1f} ms | - |")


if __name__ == "__main__":
    main()
