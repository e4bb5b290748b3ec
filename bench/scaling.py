"""Scaling: N own-GIL sub-interpreters fed by interpchan against N threads, on pure-Python work.

    python bench/scaling.py [--workers N] [--tasks 64] [--iterations 200000] [--rounds 3]

Each task is a CPU-bound pure-Python function (it holds the GIL all along). The same tasks run
on one thread (the baseline), on N threads fed by ``queue.Queue`` (one GIL: no speedup
expected), and on N own-GIL sub-interpreters fed by one interpchan channel, for N = 1 to the
number of cores (or --workers). Timing starts once every worker is ready (interpreter start-up
is reported apart) and ends when the last result is back. Prints a markdown table of medians.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import far_side
import peers

import interpchan


def one_thread(tasks: list[int]) -> tuple[float, int]:
    """(seconds, checksum) for the tasks run one after another here."""
    start = time.perf_counter()
    checksum = 0
    for iterations in tasks:
        checksum ^= far_side.cpu_work(iterations)
    return time.perf_counter() - start, checksum


def threads(workers: int, tasks: list[int], timeout: float) -> tuple[float, int]:
    """(seconds, checksum) on ``workers`` threads fed by queue.Queue."""
    todo: queue.Queue[int | None] = queue.Queue()
    done: queue.Queue[int] = queue.Queue()
    ready_tx, ready_rx = interpchan.channel()
    fars = [
        peers.Far(
            peers.THREAD, far_side.cpu_worker_queue, todo, done, ready_tx, timeout, timeout=timeout
        )
        for _ in range(workers)
    ]
    try:
        for far in fars:
            far.wait_ready(ready_rx)
        start = time.perf_counter()
        for iterations in tasks:
            todo.put(iterations)
        checksum = 0
        for _ in tasks:
            checksum ^= done.get(True, timeout)
        seconds = time.perf_counter() - start
    finally:
        for _ in fars:
            todo.put(None)
        for far in fars:
            far.join()
    return seconds, checksum


def subinterpreters(workers: int, tasks: list[int], timeout: float) -> tuple[float, float, int]:
    """(seconds, start-up seconds, checksum) on ``workers`` own-GIL sub-interpreters."""
    todo_tx, todo_rx = interpchan.channel()
    done_tx, done_rx = interpchan.channel()
    ready_tx, ready_rx = interpchan.channel()
    began = time.perf_counter()
    fars = []
    try:
        for _ in range(workers):
            fars.append(
                peers.Far(
                    peers.SUBINTERPRETER,
                    far_side.cpu_worker,
                    todo_rx,
                    done_tx,
                    ready_tx,
                    timeout=timeout,
                )
            )
        done_tx.close()  # the workers hold their own handles
        for far in fars:
            far.wait_ready(ready_rx)
        start = time.perf_counter()
        for iterations in tasks:
            todo_tx.send(iterations)
        todo_tx.close()  # the workers end once the tasks are drained
        checksum = 0
        for _ in tasks:
            checksum ^= done_rx.recv(timeout)
        seconds = time.perf_counter() - start
    finally:
        todo_tx.close()
        done_rx.close()
        for far in fars:
            far.join()
    return seconds, start - began, checksum


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser.add_argument(
        "--workers", type=int, default=cores or 1, help="largest N (default: cores)"
    )
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=100_000, help="loop turns per task")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    tasks = [args.iterations + i for i in range(args.tasks)]

    base = [one_thread(tasks) for _ in range(args.rounds)]
    base_seconds, expected = statistics.median(b[0] for b in base), base[0][1]
    rows = [("1 thread (baseline)", 1, base_seconds, None)]
    agree = True
    for workers in range(1, args.workers + 1):
        runs = [threads(workers, tasks, args.timeout) for _ in range(args.rounds)]
        agree &= all(r[1] == expected for r in runs)
        rows.append(("threads + queue.Queue", workers, statistics.median(r[0] for r in runs), None))
        sub = [subinterpreters(workers, tasks, args.timeout) for _ in range(args.rounds)]
        agree &= all(r[2] == expected for r in sub)
        rows.append(
            (
                "own-GIL sub-interpreters + interpchan",
                workers,
                statistics.median(r[0] for r in sub),
                statistics.median(r[1] for r in sub),
            )
        )

    print(
        f"Scaling: {args.tasks} tasks of ~{args.iterations:,} pure-Python loop turns; Python "
        f"{sys.version.split()[0]}, {cores} cores; {args.rounds} rounds, medians\n"
    )
    print("| mode | workers | seconds | speedup vs 1 thread | interpreter start-up (s) |")
    print("|---|---:|---:|---:|---:|")
    for mode, workers, seconds, startup in rows:
        start_text = f"{startup:.3f}" if startup is not None else ""
        print(
            f"| {mode} | {workers} | {seconds:.3f} | {base_seconds / seconds:.2f}x | {start_text} |"
        )
    print(f"\nresults agree in every mode: {'yes' if agree else 'NO'}")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
