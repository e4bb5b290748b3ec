"""A peer process for the bridge tests: `python bridge_peer.py ROLE ENDPOINT ...` (see main)."""

from __future__ import annotations

import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def items(n: int) -> list:
    """What a sending peer sends: numbered records of several kinds, the last a buffer."""
    out: list = [
        {"i": i, "s": "é" * (i % 3), "t": (i, 2.5, None, True), "b": b"\0" * i} for i in range(n)
    ]
    out.append(memoryview(bytes(range(12))).cast("B").cast("i", [3]))
    return out


def main() -> None:
    role, endpoint = sys.argv[1], sys.argv[2]
    bind = os.environ.get("PEER_BIND") == "1"
    if role in ("send", "send-no-close", "send-gated"):
        import interpchan.bridge

        tx = interpchan.bridge.sender(endpoint, bind=bind)
        for i, item in enumerate(items(int(sys.argv[3]))):
            if i == 1 and role == "send-gated":
                sys.stdin.readline()  # the first item is out: wait for the test's go
            tx.send(item)
        if role != "send-no-close":
            tx.close()
        # send-no-close: interpreter exit must flush and end the stream (bounded linger).
    elif role == "send-many":
        import interpchan.bridge

        # Far more numbers than every buffer on the way holds; the receiver is slower, so its
        # queues are full when this sender ends its stream and closes.
        interpchan.bridge.LINGER = 300.0
        with interpchan.bridge.sender(endpoint, bind=bind) as tx:
            for i in range(int(sys.argv[3])):
                tx.send(i)
    elif role == "recv":
        import interpchan.bridge

        rx = interpchan.bridge.receiver(endpoint, bind=bind)
        got = [x.tolist() if isinstance(x, memoryview) else x for x in rx]
        sys.stdout.buffer.write(pickle.dumps(got))
    elif role == "zmq-read":
        import wire_py
        import zmq

        with zmq.Context() as ctx, ctx.socket(zmq.PULL) as sock:
            sock.connect(endpoint)
            got: list = []
            batches = 0
            while True:
                kind, _stream, seq, batch = wire_py.decode(sock.recv_multipart())
                if kind == "end":
                    got.append(("end", seq))
                    break
                assert seq == len(got)  # in order, none lost
                batches += len(batch) > 1
                got.extend(x.tolist() if isinstance(x, memoryview) else x for x in batch)
        sys.stdout.buffer.write(pickle.dumps((got, batches)))
    elif role == "zmq-write":
        import wire_py
        import zmq

        stream = os.urandom(16)
        with zmq.Context() as ctx, ctx.socket(zmq.PUSH) as sock:
            sock.setsockopt(zmq.LINGER, 10_000)
            sock.connect(endpoint)
            values = [None, True, 7, -2.5, "text", b"raw", (1, [2, {"k": "v"}])]
            values.append(memoryview(bytes(range(16))).cast("B").cast("H", [2, 4]))
            for seq, value in enumerate(values):
                sock.send_multipart(wire_py.encode(stream, seq, value))
            sock.send_multipart([wire_py.header(wire_py.KIND_END, stream, len(values))])
    elif role == "zmq-hostile":
        import wire_py
        import zmq

        stream = os.urandom(16)
        with zmq.Context() as ctx, ctx.socket(zmq.PUSH) as sock:
            sock.setsockopt(zmq.LINGER, 10_000)
            sock.connect(endpoint)
            sock.send_multipart(wire_py.encode(stream, 0, "fine"))
            how = sys.argv[3]
            if how == "garbage":
                sock.send_multipart([b"not an interpchan message"])
            elif how == "truncated":
                sock.send_multipart([*wire_py.encode(stream, 1, "cut")[:1], b"\x07\x05\0"])
            elif how == "gap":
                sock.send_multipart(wire_py.encode(stream, 5, "skipped four"))
            elif how == "batch-gap":
                sock.send_multipart(wire_py.encode_batch(stream, 3, ["a", "b"]))
            elif how == "batch-bad-count":
                head, body = wire_py.encode_batch(stream, 1, ["a", "b"])
                sock.send_multipart([head, (5).to_bytes(8, "little") + body[8:]])
            elif how == "batch-version-1":
                head, body = wire_py.encode_batch(stream, 1, ["a", "b"])
                sock.send_multipart([head[:4] + b"\x01" + head[5:], body])
            elif how == "huge-count":
                sock.send_multipart([wire_py.header(1, stream, 1), b"\x0b" + b"\xff" * 8])
            sock.send_multipart(wire_py.encode(stream, 2, "never delivered"))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()


def produce(tx: object, n: int) -> None:
    """Runs in an own-GIL sub-interpreter (spawn): sends n numbers into a bridge Sender."""
    with tx:  # type: ignore[attr-defined]
        for i in range(n):
            tx.send(("sub", i))  # type: ignore[attr-defined]
