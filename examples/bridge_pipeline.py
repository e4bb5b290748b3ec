"""A pipeline across 3 processes over interpchan.bridge, the middle one with own-GIL workers.

    source process --(bridge)--> work process (4 own-GIL workers) --(bridge)--> sink process

Run it all: ``python examples/bridge_pipeline.py [ipc|tcp] [N]``: it starts the three processes
(this script with a role) on ``ipc://`` in a temporary folder or on ``tcp://127.0.0.1`` and
prints what the sink got. The workers cannot import pyzmq (no sub-interpreter can): they only
see ordinary channel handles, and Rust threads carry the items over ZeroMQ.

Each sender binds and each receiver connects: a bound PUSH socket holds items until a receiver
is there, whereas a connecting one queues up to its high-water mark before any connection
exists (see docs/bridge.md on what ZeroMQ guarantees around connections).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import interpchan
import interpchan.bridge

WORKERS = 4


def square(rx: interpchan.Receiver, tx: interpchan.Sender) -> None:
    """A worker, in its own interpreter: squares what it receives until the stream ends."""
    with rx, tx:
        for i in rx:
            tx.send((i, i * i, os.getpid()))


def source(out: str, n: int) -> None:
    # Deliver everything before this process exits, however slow the next stage is to start.
    interpchan.bridge.LINGER = 300.0
    with interpchan.bridge.sender(out, bind=True) as tx:  # closing it ends the stream
        for i in range(n):
            tx.send(i)


def work(inp: str, out: str) -> None:
    interpchan.bridge.LINGER = 300.0  # as in source: the sink may still be reading at exit
    rx = interpchan.bridge.receiver(inp)
    tx = interpchan.bridge.sender(out, bind=True)
    workers = [interpchan.spawn(square, rx, tx) for _ in range(WORKERS)]
    rx.close()  # spawn holds its own handles; the stream to the sink ends with the last worker
    tx.close()
    for w in workers:
        w.join()


def sink(inp: str) -> None:
    rx = interpchan.bridge.receiver(inp)
    results = sorted(rx)
    pids = {pid for _, _, pid in results}
    total = sum(sq for _, sq, _ in results)
    print(f"sink: {len(results)} results, sum of squares {total}, from {len(pids)} process(es)")


def endpoints(transport: str) -> tuple[str, str]:
    if transport == "ipc":
        folder = tempfile.mkdtemp()
        return f"ipc://{folder}/stage1.sock", f"ipc://{folder}/stage2.sock"
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return tuple(f"tcp://127.0.0.1:{p}" for p in ports)  # type: ignore[return-value]


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--role":
        role = args[1]
        if role == "source":
            source(args[2], int(args[3]))
        elif role == "work":
            work(args[2], args[3])
        else:
            sink(args[2])
        return
    transport = args[0] if args else "ipc"
    n = int(args[1]) if len(args) > 1 else 10_000
    first, second = endpoints(transport)
    me = [sys.executable, os.path.abspath(__file__), "--role"]
    procs = [
        subprocess.Popen([*me, "sink", second]),
        subprocess.Popen([*me, "work", first, second]),
        subprocess.Popen([*me, "source", first, str(n)]),
    ]
    codes = [p.wait(timeout=300) for p in procs]
    if any(codes):
        raise SystemExit(f"a stage failed: exit codes {codes}")


if __name__ == "__main__":
    main()
