"""Broadcast benchmark: one block of memory to many own-GIL interpreters, shared or copied.

Each round sends one item to every receiver (an own-GIL sub-interpreter of its own) and waits
until all of them have it (each acknowledges with a small item). Three ways, in the same run:

- small item: an int to each receiver (the floor: what any broadcast costs at least);
- SharedBuffer: ``buf.share()`` then the SharedBuffer to each receiver (no copy: every receiver
  reads the same memory);
- copy to each: a bytearray to each receiver (copied once per receiver, at send).

The goal of sharing: about the cost of the small item, whatever the size and the number of
receivers. Run: ``python bench/share_bench.py [--sizes 1,64] [--receivers 1,8] [--rounds 15]``
(sizes in MiB). Prints a table of medians; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import interpchan

MIB = 1 << 20


def receiver(rx: interpchan.Receiver, ack: interpchan.Sender) -> int:
    """Runs in each own-GIL interpreter: acknowledge every item received (with its length), once
    it is dropped again (so that freeing a copy counts in the round that made it)."""
    count = 0
    with rx, ack:
        for item in rx:
            size = item if isinstance(item, int) else len(item)
            del item
            ack.send(size)
            count += 1
    return count


class Receivers:
    """``n`` own-GIL interpreters, each with its own channel in, one acknowledgement channel out."""

    def __init__(self, n: int) -> None:
        ack_tx, self.acks = interpchan.channel()
        self.senders: list[interpchan.Sender] = []
        self.workers = []
        for _ in range(n):
            tx, rx = interpchan.channel()
            self.senders.append(tx)
            self.workers.append(interpchan.spawn(receiver, rx, ack_tx))
            rx.close()
        ack_tx.close()
        self.round(lambda: 0)  # every interpreter is up and has imported interpchan

    def round(self, item: Callable[[], Any]) -> float:
        """Seconds to make the item (``item()``), send it to every receiver and hear back."""
        start = time.perf_counter()
        obj = item()
        for tx in self.senders:
            tx.send(obj)
        for _ in self.senders:
            self.acks.recv(timeout=120)
        return time.perf_counter() - start

    def close(self) -> None:
        for tx in self.senders:
            tx.close()
        for worker in self.workers:
            worker.join(120)


def filled_buffer(nbytes: int) -> interpchan.Buffer:
    """A Buffer with every page written (resident, as real data would be)."""
    buf = interpchan.Buffer(nbytes)
    view = memoryview(buf)
    view[:] = b"\x5a" * nbytes
    view.release()
    return buf


def measure(receivers: Receivers, nbytes: int, rounds: int) -> dict[str, list[float]]:
    """Round times (seconds) of each way, interleaved round by round so that load on the machine
    falls on all of them alike. Every round starts just after ``nbytes`` were written (as when
    the data was just produced): the SharedBuffer round shares that Buffer, the others drop it,
    so that all three start with the CPU caches in the same state."""
    source = bytearray(b"\x5a" * nbytes)
    times: dict[str, list[float]] = {"small item": [], "SharedBuffer": [], "copy to each": []}
    for _ in range(rounds):
        filled_buffer(nbytes)
        times["small item"].append(receivers.round(lambda: 1))
        buf = filled_buffer(nbytes)  # made outside the timing: share() consumes it
        times["SharedBuffer"].append(receivers.round(buf.share))
        filled_buffer(nbytes)
        times["copy to each"].append(receivers.round(lambda: source))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,64", help="MiB, comma-separated (default 1,64)")
    parser.add_argument("--receivers", default="1,8", help="counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per cell (median)")
    args = parser.parse_args(argv)
    sizes = [int(float(s) * MIB) for s in args.sizes.split(",")]
    counts = [int(n) for n in args.receivers.split(",")]

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load average {load};")
    print(f"median of {args.rounds} rounds; one own-GIL interpreter per receiver; a round ends")
    print("when every receiver acknowledged.\n")
    header = f"{'receivers':>9} {'size':>8}  {'way':<14} {'median ms':>10} {'x small item':>13}"
    print(header)
    print("-" * len(header))
    for n in counts:
        receivers = Receivers(n)
        try:
            for nbytes in sizes:
                times = measure(receivers, nbytes, args.rounds)
                floor = statistics.median(times["small item"])
                for way, samples in times.items():
                    median = statistics.median(samples)
                    print(
                        f"{n:>9} {nbytes / MIB:>5g} MiB  {way:<14} {median * 1e3:>10.3f} "
                        f"{median / floor:>12.1f}x"
                    )
        finally:
            receivers.close()


if __name__ == "__main__":
    main()
