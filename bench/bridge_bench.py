"""Standalone benchmark of interpchan.bridge between two processes, against pyzmq and mp.Queue.

    python bench/bridge_bench.py [--small N] [--big N] [--repeat R]

Small items (a short tuple) per second and 64 MiB buffers per second, over ipc:// and
tcp://127.0.0.1, for: interpchan.bridge (sender in this process, receiver in a child),
pyzmq send_pyobj/recv_pyobj, pyzmq zero-copy frames (send(copy=False) / recv(copy=False)), and
multiprocessing.Queue. Median of R runs; each run times from the sender's first send to the
receiver's last receive (time.perf_counter is one clock for every process on Linux), so that
items still in buffers when the sender finishes count. Prints a table with ratios to the pyzmq
reference of each row.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time

BIG = 64 << 20
SMALL = (1, "two", 3.0)


def endpoint(transport: str) -> str:
    if transport == "ipc":
        return f"ipc://{tempfile.mkdtemp()}/bench.sock"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def receive(kind: str, ep: str, n: int, out: mp.Queue, q: mp.Queue | None) -> None:
    """Child: receive n items; report when the last arrived."""
    if kind == "interpchan":
        import interpchan.bridge

        rx = interpchan.bridge.receiver(ep, bind=True)
        out.put("ready")
        for _ in range(n):
            rx.recv()
    elif kind == "mpqueue":
        assert q is not None
        out.put("ready")
        for _ in range(n):
            q.get()
    else:
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.PULL)
        sock.bind(ep)
        out.put("ready")
        get = sock.recv_pyobj if kind == "pyobj" else (lambda: sock.recv(copy=False))
        for _ in range(n):
            get()
    out.put(time.perf_counter())


def run(kind: str, transport: str, big: bool, n: int) -> float:
    """Items per second of one run."""
    ep = endpoint(transport)
    out: mp.Queue = mp.Queue()
    q: mp.Queue | None = mp.Queue(maxsize=1000) if kind == "mpqueue" else None
    child = mp.Process(target=receive, args=(kind, ep, n, out, q))
    child.start()
    assert out.get(timeout=60) == "ready"
    if big:
        import numpy as np

        payload = np.ones(BIG, dtype=np.uint8)
    if kind == "interpchan":
        import interpchan
        import interpchan.bridge

        tx = interpchan.bridge.sender(ep)
        start = time.perf_counter()
        for _ in range(n):
            if big:
                buf = interpchan.Buffer(BIG)  # moved: no copy on the way out
                tx.send(buf)
            else:
                tx.send(SMALL)
        tx.close()
    elif kind == "mpqueue":
        assert q is not None
        start = time.perf_counter()
        for _ in range(n):
            q.put(payload if big else SMALL)
    else:
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUSH)
        sock.connect(ep)
        start = time.perf_counter()
        for _ in range(n):
            if kind == "pyobj":
                sock.send_pyobj(payload if big else SMALL)
            else:
                sock.send(payload if big else b"x" * 16, copy=False)
    end = out.get(timeout=600)
    child.join()
    return n / (end - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.repeat}")
    print(f"{'workload':<28}{'peer':<22}{'items/s':>14}{'vs pyzmq ref':>14}")
    for transport in ("ipc", "tcp"):
        for big in (False, True):
            n = args.big if big else args.small
            ref_kind = "frames" if big else "pyobj"
            kinds = ["interpchan", "pyobj", "frames", "mpqueue"]
            if not big:
                kinds.remove("frames")  # small: the reference is send_pyobj
            rates = {
                k: statistics.median(run(k, transport, big, n) for _ in range(args.repeat))
                for k in kinds
            }
            name = f"{transport} {'64 MiB buffers' if big else 'small items'}"
            for k in kinds:
                ratio = rates[k] / rates[ref_kind]
                print(f"{name:<28}{k:<22}{rates[k]:>14,.1f}{ratio:>13.2f}x")


if __name__ == "__main__":
    main()
