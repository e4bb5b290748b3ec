"""interpchan.bridge: channels over ZeroMQ, within a process and between processes (loopback)."""

from __future__ import annotations

import fractions
import os
import pickle
import socket
import subprocess
import sys

import pytest
from bridge_peer import items

import interpchan
import interpchan.bridge as bridge
from interpchan import _interpchan

# Version-specific builds (--no-default-features: CPython 3.14 in the sid root, free-threaded
# builds) leave out the bridge feature (ZeroMQ); the abi3 extension and the wheel have it.
pytestmark = pytest.mark.skipif(
    not hasattr(_interpchan, "_bridge_sender"), reason="extension built without the bridge feature"
)

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bridge_peer.py")
PEER_TIMEOUT = 120


def free_tcp() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(params=["ipc", "tcp"])
def endpoint(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "ipc":
        return f"ipc://{tmp_path}/bridge.sock"
    return free_tcp()


def peer(*args: object, bind: bool = False) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PEER_BIND="1" if bind else "0")
    return subprocess.Popen(
        [sys.executable, PEER, *map(str, args)], stdout=subprocess.PIPE, env=env
    )


def result(proc: subprocess.Popen[bytes]) -> object:
    out, _ = proc.communicate(timeout=PEER_TIMEOUT)
    assert proc.returncode == 0
    return pickle.loads(out) if out else None


def plain(x: object) -> object:
    return x.tolist() if isinstance(x, memoryview) else x


def test_every_kind_crosses_and_the_stream_ends(endpoint: str) -> None:
    import numpy as np

    rx = bridge.receiver(endpoint, bind=True)
    tx = bridge.sender(endpoint)
    moved = interpchan.Buffer(8)
    memoryview(moved)[:3] = b"abc"
    sent = [
        None,
        True,
        -(2**70),
        3.5,
        1 - 2j,
        "t\udc80x",
        b"\0b",
        (1, [2]),
        {"k": {3}},
        frozenset({4}),
        fractions.Fraction(1, 3),
        bytearray(b"copied"),
    ]
    for item in sent:
        tx.send(item)
    tx.send(np.arange(6, dtype=np.int32).reshape(2, 3))
    tx.send([moved])
    assert moved.moved and len(moved) == 0
    tx.close()
    got = list(rx)
    assert got[: len(sent) - 1] == sent[:-1]
    assert bytes(got[len(sent) - 1]) == b"copied"
    array = got[-2]
    assert (array.format, array.shape, array.tolist()) == ("i", (2, 3), [[0, 1, 2], [3, 4, 5]])
    [view] = got[-1]
    assert isinstance(view.obj, interpchan.Buffer) and bytes(view[:3]) == b"abc"
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv()


def test_big_received_buffers_are_ordinary_buffers(endpoint: str, tmp_path: object) -> None:
    # A buffer frame of 64 KiB or more becomes the received Buffer's storage (ZeroMQ's message,
    # not a copy): it must read, write, move and share like any other.
    data = bytes(range(256)) * 1024
    rx = bridge.receiver(endpoint, bind=True)
    tx = bridge.sender(endpoint)
    moved = interpchan.Buffer(len(data))
    memoryview(moved)[:] = data
    tx.send(moved)
    tx.send(memoryview(data).cast("I", [256, 256]))  # copied on send, a layout of its own
    tx.close()
    view, second = rx.recv(), rx.recv()  # memoryviews of received Buffers
    assert isinstance(view.obj, interpchan.Buffer) and bytes(view) == data
    view[:2] = b"xy"
    assert bytes(view[:3]) == b"xy\x02"
    assert (second.format, second.shape, second[1, 0]) == ("I", (256, 256), 0x03020100)
    # Sent on: through a local channel (moved), then through another bridge (copied out once).
    buf = view.obj
    view.release()
    local_tx, local_rx = interpchan.channel()
    local_tx.send(buf)
    again = local_rx.recv()
    assert bytes(memoryview(again)[:3]) == b"xy\x02"
    onward = f"ipc://{tmp_path}/onward.sock"
    rx2 = bridge.receiver(onward, bind=True)
    tx2 = bridge.sender(onward)
    again_buf = again.obj
    again.release()
    tx2.send(again_buf)
    assert again_buf.moved
    tx2.close()
    [back] = list(rx2)
    assert bytes(back) == b"xy" + data[2:]
    owner = back.obj
    back.release()
    shared = owner.share()
    assert bytes(memoryview(shared)) == b"xy" + data[2:]


def test_channel_ends_are_refused_at_send(endpoint: str) -> None:
    rx = bridge.receiver(endpoint, bind=True)
    tx = bridge.sender(endpoint)
    local_tx, local_rx = interpchan.channel()
    buf = interpchan.Buffer(4)
    with pytest.raises(TypeError, match="another process"):
        tx.send([buf, local_tx])
    assert not buf.moved and len(buf) == 4  # given back
    local_tx.send("still usable")
    assert local_rx.recv() == "still usable"
    tx.send("after")
    tx.close()
    assert list(rx) == ["after"]


def test_bad_endpoints() -> None:
    with pytest.raises(ValueError, match="tcp://"):
        bridge.sender("inproc://x")
    with pytest.raises(TypeError):
        bridge.receiver(b"tcp://127.0.0.1:1")  # type: ignore[arg-type]
    ep = free_tcp()
    rx = bridge.receiver(ep, bind=True)
    with pytest.raises(OSError):
        bridge.receiver(ep, bind=True)  # address in use
    rx.close()


@pytest.mark.parametrize("receiver_binds", [True, False])
def test_between_processes_in_order(endpoint: str, receiver_binds: bool) -> None:
    n = 2000
    if receiver_binds:
        rx = bridge.receiver(endpoint, bind=True)
        proc = peer("send", endpoint, n)
        got = [plain(x) for x in rx]
        assert result(proc) is None
    else:
        proc = peer("recv", endpoint, bind=True)
        tx = bridge.sender(endpoint)
        for item in items(n):
            tx.send(item)
        tx.close()
        got = result(proc)
    assert got == [plain(x) for x in items(n)]


def test_interpreter_exit_flushes_open_senders(endpoint: str) -> None:
    rx = bridge.receiver(endpoint, bind=True)
    proc = peer("send-no-close", endpoint, 500)
    assert [plain(x) for x in rx] == [plain(x) for x in items(500)]
    assert result(proc) is None


@pytest.mark.parametrize("receiver_binds", [True, False])
def test_a_sender_that_ends_under_back_pressure_loses_nothing(
    endpoint: str, receiver_binds: bool
) -> None:
    # 20000 items, far more than the buffers between the two processes hold, read one at a time
    # through a 1-item channel: the receiving side's queues are full when the sender ends its
    # stream. (libzmq 4.3 drops what an ipc connection still holds when its sending side closes
    # then; the sender bridge keeps its connection until the receiver has closed it.)
    n = 20_000
    rx = bridge.receiver(endpoint, bind=receiver_binds, capacity=1)
    proc = peer("send-many", endpoint, n, bind=not receiver_binds)
    got = []
    while True:
        try:
            got.append(rx.recv(timeout=PEER_TIMEOUT))
        except interpchan.ChannelClosed:
            break
    assert got == list(range(n))
    assert result(proc) is None


def test_fan_in_ends_after_every_sender_that_began(endpoint: str) -> None:
    rx = bridge.receiver(endpoint, bind=True)
    env = dict(os.environ, PEER_BIND="0")
    procs = [
        subprocess.Popen(
            [sys.executable, PEER, "send-gated", endpoint, "300"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    # Each sends its first item, then waits: both streams have begun.
    got = [plain(rx.recv(timeout=PEER_TIMEOUT)) for _ in range(2)]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.flush()
    got += [plain(x) for x in rx]  # ends only once both streams ended
    for p in procs:
        assert result(p) is None
    expected = [plain(x) for x in items(300)]
    assert len(got) == 2 * len(expected)
    records = [g["i"] for g in got if isinstance(g, dict)]
    assert sorted(records) == sorted(list(range(300)) * 2)
    # Per-sender order: with two interleaved in-order streams, the k-th occurrence of i comes
    # after the k-th occurrence of every j < i.
    seen: dict[int, int] = {}
    for i in records:
        seen[i] = seen.get(i, 0) + 1
        assert all(seen.get(j, 0) >= seen[i] for j in range(max(0, i - 3), i))


def test_pyzmq_program_reads_the_wire_format(endpoint: str) -> None:
    tx = bridge.sender(endpoint, bind=True)
    proc = peer("zmq-read", endpoint)
    sent = [None, False, 12, 0.5, "\u00e9t\u00e9", b"\xff", (1, (2,)), [3, {"k": [4]}]]
    for item in sent:
        tx.send(item)
    tx.send(memoryview(bytes(range(8))).cast("B").cast("h", [2, 2]))
    tx.close()
    got, _ = result(proc)
    assert got == [*sent, [[256, 770], [1284, 1798]], ("end", len(sent) + 1)]


def test_pyzmq_program_reads_batches(endpoint: str) -> None:
    # Items that wait in the sender bridge's channel go out as batches (wire version 2): here
    # the reader connects only after 900 items (and a buffer, which is never batched) are in.
    tx = bridge.sender(endpoint, bind=True)
    sent: list = [(i, str(i)) for i in range(600)]
    sent += [memoryview(b"buffer")]
    sent += [{"i": i} for i in range(300)]
    for item in sent:
        tx.send(item)
    proc = peer("zmq-read", endpoint)
    tx.close()
    got, batches = result(proc)
    assert got == [*[plain(x) for x in sent], ("end", len(sent))]
    assert batches >= 2


def test_pyzmq_program_writes_the_wire_format(endpoint: str) -> None:
    rx = bridge.receiver(endpoint, bind=True)
    proc = peer("zmq-write", endpoint)
    got = list(rx)
    assert result(proc) is None
    assert got[:-1] == [None, True, 7, -2.5, "text", b"raw", (1, [2, {"k": "v"}])]
    assert (got[-1].format, got[-1].shape) == ("H", (2, 4))
    assert bytes(got[-1]) == bytes(range(16))


@pytest.mark.parametrize(
    "how",
    [
        "garbage",
        "truncated",
        "gap",
        "huge-count",
        "batch-gap",
        "batch-bad-count",
        "batch-version-1",
    ],
)
def test_hostile_input_is_reported_not_delivered(tmp_path: object, how: str) -> None:
    endpoint = f"ipc://{tmp_path}/hostile.sock"
    rx = bridge.receiver(endpoint, bind=True)
    proc = peer("zmq-hostile", endpoint, how)
    assert rx.recv(timeout=PEER_TIMEOUT) == "fine"
    with pytest.raises(interpchan.ChannelError) as err:
        rx.recv(timeout=PEER_TIMEOUT)
    assert not isinstance(err.value, interpchan.ChannelClosed)
    assert ("lost" if how.endswith("gap") else "refused") in str(err.value)
    with pytest.raises(interpchan.ChannelError):  # and on every later call
        rx.recv_nowait()
    assert result(proc) is None


def test_back_pressure_blocks_instead_of_dropping(tmp_path: object) -> None:
    endpoint = f"ipc://{tmp_path}/slow.sock"
    tx = bridge.sender(endpoint, capacity=2)  # nobody listens yet: nothing can leave
    sent = 0
    with pytest.raises(interpchan.Full):
        for sent in range(10):
            tx.send_nowait(sent)
    assert sent <= 3  # the channel's 2, and at most 1 held by the bridge thread
    rx = bridge.receiver(endpoint, bind=True)
    for i in range(sent, sent + 50):
        tx.send(i, timeout=PEER_TIMEOUT)
    tx.close()
    assert list(rx) == list(range(sent + 50))


def test_subinterpreter_sends_through_a_bridge(endpoint: str) -> None:
    from bridge_peer import produce

    rx = bridge.receiver(endpoint, bind=True)
    tx = bridge.sender(endpoint)
    worker = interpchan.spawn(produce, tx, 100)
    tx.close()
    assert list(rx) == [("sub", i) for i in range(100)]
    worker.join()


def test_shared_buffers_are_refused_at_send(tmp_path: object) -> None:
    endpoint = f"ipc://{tmp_path}/shared.sock"
    rx = bridge.receiver(endpoint, bind=True)
    tx = bridge.sender(endpoint)
    with pytest.raises(TypeError, match="SharedBuffer"):
        tx.send({"k": interpchan.SharedBuffer(8)})
    tx.send("next")
    tx.close()
    assert list(rx) == ["next"]
