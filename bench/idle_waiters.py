"""CPU cost of threads idle in a blocking receive: interpchan next to queue.Queue.

    python bench/idle_waiters.py [--waiters 1000] [--seconds 2] [--rounds 3]

Starts N threads that block in a receive that nothing will satisfy, then measures the process
CPU time used while the main thread sleeps, as a percentage of one core (median of the rounds);
the goal for interpchan is under 1% of a core for 1,000 waiters. Also shows how long starting
the N threads took (each one's first receive included).
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time
from collections.abc import Callable

import interpchan

Waiter = tuple[Callable[[], None], Callable[[], None]]  # (what each thread runs, release all)


def _interpchan_waiter(waiters: int) -> Waiter:
    tx, rx = interpchan.channel()

    def wait() -> None:
        for _ in rx:
            pass

    return wait, tx.close


def _queue_waiter(waiters: int) -> Waiter:
    q: queue.Queue[object] = queue.Queue()
    stop = object()

    def wait() -> None:
        while q.get() is not stop:
            pass

    def release() -> None:
        for _ in range(waiters):
            q.put(stop)

    return wait, release


def measure(make: Callable[[int], Waiter], waiters: int, seconds: float) -> tuple[float, float]:
    """(CPU % of one core while idle, seconds to start the threads)."""
    wait, release = make(waiters)
    started = time.perf_counter()
    threads = [threading.Thread(target=wait, daemon=True) for _ in range(waiters)]
    for t in threads:
        t.start()
    startup = time.perf_counter() - started
    time.sleep(0.2)  # let every thread reach its blocking call
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    release()
    for t in threads:
        t.join()
    return 100 * cpu / wall, startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.waiters} idle waiters, {args.seconds:g} s, median of {args.rounds} rounds")
    print(f"{'peer':<16}{'CPU (% of a core)':>20}{'start (s)':>12}")
    for name, make in [("interpchan", _interpchan_waiter), ("queue.Queue", _queue_waiter)]:
        runs = [measure(make, args.waiters, args.seconds) for _ in range(args.rounds)]
        cpu = statistics.median(r[0] for r in runs)
        start = statistics.median(r[1] for r in runs)
        print(f"{name:<16}{cpu:>20.2f}{start:>12.3f}")


if __name__ == "__main__":
    main()
