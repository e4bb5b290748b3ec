"""Quick figures: small items per second and blocking round trip, interpchan vs queue.Queue.

Run: python bench/quick.py [--items N] [--rounds R]. Prints a markdown table of medians over
the rounds. The full comparison against every peer lives in bench/ (see README).
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time

import interpchan


def drain(rx: interpchan.Receiver, ready: interpchan.Sender, n: int) -> float:
    """Say ready, receive n items, return when the last arrived (perf_counter is process-wide)."""
    ready.send(None)
    for _ in range(n):
        rx.recv()
    return time.perf_counter()


def echo(rx: interpchan.Receiver, tx: interpchan.Sender) -> None:
    """Send back every item until the channel closes."""
    for item in rx:
        tx.send(item)


def _items_per_second_interpchan(n: int, in_subinterpreter: bool) -> float:
    tx, rx = interpchan.channel()
    ready_tx, ready_rx = interpchan.channel()
    if in_subinterpreter:
        worker = interpchan.spawn(drain, rx, ready_tx, n)
        join = worker.join
    else:
        result: list[float] = []
        thread = threading.Thread(target=lambda: result.append(drain(rx, ready_tx, n)))
        thread.start()

        def join() -> float:
            thread.join()
            return result[0]

    ready_rx.recv()
    start = time.perf_counter()
    for i in range(n):
        tx.send(i)
    return n / (join() - start)


def _items_per_second_queue(n: int) -> float:
    q: queue.SimpleQueue[int] = queue.SimpleQueue()
    ready = threading.Event()
    finished: list[float] = []

    def consume() -> None:
        ready.set()
        for _ in range(n):
            q.get()
        finished.append(time.perf_counter())

    thread = threading.Thread(target=consume)
    thread.start()
    ready.wait()
    start = time.perf_counter()
    for i in range(n):
        q.put(i)
    thread.join()
    return n / (finished[0] - start)


def _round_trips_interpchan(n: int, in_subinterpreter: bool) -> list[float]:
    ping_tx, ping_rx = interpchan.channel()
    pong_tx, pong_rx = interpchan.channel()
    if in_subinterpreter:
        worker = interpchan.spawn(echo, ping_rx, pong_tx)
    else:
        thread = threading.Thread(target=echo, args=(ping_rx, pong_tx))
        thread.start()
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        ping_tx.send(i)
        pong_rx.recv()
        samples.append((time.perf_counter_ns() - start) / 1000)
    ping_tx.close()
    if in_subinterpreter:
        worker.join()
    else:
        thread.join()
    return samples


def _round_trips_queue(n: int) -> list[float]:
    ping: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    pong: queue.SimpleQueue[int | None] = queue.SimpleQueue()

    def echo_queue() -> None:
        while (item := ping.get()) is not None:
            pong.put(item)

    thread = threading.Thread(target=echo_queue)
    thread.start()
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        ping.put(i)
        pong.get()
        samples.append((time.perf_counter_ns() - start) / 1000)
    ping.put(None)
    thread.join()
    return samples


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=500_000, help="items per throughput round")
    parser.add_argument("--trips", type=int, default=20_000, help="round trips per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    peers = {
        "interpchan, main -> own-GIL sub-interpreter": (
            lambda: _items_per_second_interpchan(args.items, True),
            lambda: _round_trips_interpchan(args.trips, True),
        ),
        "interpchan, thread -> thread": (
            lambda: _items_per_second_interpchan(args.items, False),
            lambda: _round_trips_interpchan(args.trips, False),
        ),
        "queue.SimpleQueue, thread -> thread": (
            lambda: _items_per_second_queue(args.items),
            lambda: _round_trips_queue(args.trips),
        ),
    }
    rows = []
    for name, (throughput, round_trips) in peers.items():
        rates = [throughput() for _ in range(args.rounds)]
        p50s, p99s = [], []
        for _ in range(args.rounds):
            samples = round_trips()
            p50s.append(_percentile(samples, 0.50))
            p99s.append(_percentile(samples, 0.99))
        rows.append(
            (name, statistics.median(rates), statistics.median(p50s), statistics.median(p99s))
        )

    base = rows[-1]
    print(
        f"{args.rounds} rounds, medians; {args.items} small ints per throughput round, "
        f"{args.trips} blocking round trips per latency round\n"
    )
    print("| peer | small ints/s | vs queue | round trip p50 | p99 |")
    print("|---|---:|---:|---:|---:|")
    for name, rate, p50, p99 in rows:
        print(
            f"| {name} | {rate / 1e6:.2f} M | {rate / base[1]:.2f}x | {p50:.1f} µs | {p99:.1f} µs |"
        )


if __name__ == "__main__":
    main()
