"""A fixed, single-threaded send/recv loop whose instruction count callgrind measures.

Run: python bench/abi3_workload.py KIND N, KIND one of int, tuple, buffer. Sends N items through
an unbounded channel and receives each at once (no blocking, no other thread), so the count is
the binding's cost per item: argument parsing, conversion to Rust and back, reference counting.
bench/abi3_callgrind.sh runs it under valgrind for the abi3 and the version-specific build.
"""

from __future__ import annotations

import sys

import interpchan


def run(kind: str, n: int) -> None:
    tx, rx = interpchan.channel()
    send, recv = tx.send, rx.recv
    if kind == "int":
        for i in range(n):
            send(i)
            recv()
    elif kind == "tuple":
        for i in range(n):
            send((i, "item", [1.5, None, True]))
            recv()
    elif kind == "buffer":
        for _ in range(n):
            send(interpchan.Buffer(64))  # moved, no copy
            view = recv()
            view[0] = 1  # through the buffer protocol
            view.release()
    else:
        raise SystemExit(f"unknown kind {kind!r}: use int, tuple or buffer")


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]))
