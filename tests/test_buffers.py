"""Buffers: interpchan.Buffer moves without a copy; other buffer objects are copied once."""

from __future__ import annotations

import array
import mmap
import pickle

import numpy as np
import pytest

import interpchan
import workers


def test_new_buffer_is_zero_filled_and_writable() -> None:
    buf = interpchan.Buffer(64)
    assert len(buf) == 64 and not buf.moved
    view = memoryview(buf)
    assert view.format == "B" and view.shape == (64,) and not view.readonly
    assert bytes(view) == bytes(64)
    view[:5] = b"hello"
    assert bytes(buf)[:5] == b"hello"
    arr = np.frombuffer(buf, dtype=np.uint32)
    arr[1] = 0xDEADBEEF
    assert bytes(buf)[4:8] == (0xDEADBEEF).to_bytes(4, "little")


def test_buffer_size_is_checked() -> None:
    with pytest.raises(ValueError):
        interpchan.Buffer(-1)
    with pytest.raises(TypeError):
        interpchan.Buffer(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        interpchan.Buffer("8")  # type: ignore[arg-type]
    assert len(interpchan.Buffer(0)) == 0


def test_impossible_allocation_raises_memory_error() -> None:
    with pytest.raises(MemoryError):
        interpchan.Buffer(1 << 62)


def test_sending_moves_the_buffer() -> None:
    tx, rx = interpchan.channel()
    buf = interpchan.Buffer(16)
    memoryview(buf)[:] = bytes(range(16))
    tx.send(buf)
    assert buf.moved and len(buf) == 0
    with pytest.raises(ValueError):
        memoryview(buf)
    with pytest.raises(ValueError):
        tx.send(buf)
    view = rx.recv()
    assert isinstance(view, memoryview) and not view.readonly
    assert isinstance(view.obj, interpchan.Buffer)
    assert bytes(view) == bytes(range(16))


def test_sending_with_a_live_view_is_a_buffer_error_and_sends_nothing() -> None:
    tx, rx = interpchan.channel()
    buf = interpchan.Buffer(8)
    view = memoryview(buf)
    with pytest.raises(BufferError):
        tx.send(buf)
    assert not buf.moved and len(rx) == 0
    view[0] = 1  # still ours
    view.release()
    arr = np.frombuffer(buf, dtype=np.uint8)
    with pytest.raises(BufferError):
        tx.send([buf])
    assert len(rx) == 0
    del arr
    tx.send(buf)
    assert rx.recv()[0] == 1


def test_failed_send_leaves_the_buffer_unmoved() -> None:
    tx, rx = interpchan.channel(1)
    tx.send(0)
    buf = interpchan.Buffer(4)
    memoryview(buf)[:] = b"keep"
    with pytest.raises(interpchan.Full):
        tx.send_nowait(("payload", buf))
    assert not buf.moved and bytes(buf) == b"keep"
    with pytest.raises(TimeoutError):
        tx.send([buf], timeout=0.01)
    assert not buf.moved and bytes(buf) == b"keep"
    with pytest.raises(TypeError):
        tx.send([buf, lambda: 0])  # the unsendable part fails the whole item
    assert not buf.moved
    rx.close()
    with pytest.raises(interpchan.ChannelClosed):
        tx.send(buf)
    assert not buf.moved and bytes(buf) == b"keep"


def test_same_buffer_twice_in_one_item_is_refused() -> None:
    tx, rx = interpchan.channel()
    buf = interpchan.Buffer(4)
    with pytest.raises(ValueError):
        tx.send([buf, buf])
    assert not buf.moved and len(rx) == 0


def test_buffers_nested_in_containers_move() -> None:
    tx, rx = interpchan.channel()
    a, b = interpchan.Buffer(3), interpchan.Buffer(5)
    tx.send({"a": a, "rest": [1, (b,)]})
    assert a.moved and b.moved
    got = rx.recv()
    assert len(got["a"]) == 3 and len(got["rest"][1][0]) == 5


def test_many_buffers_each_reach_their_place_or_get_their_own_memory_back() -> None:
    """Each moved Buffer's memory lands where that Buffer was in the item (and comes back to that
    Buffer when the send fails), however the containers nest and whatever their sizes."""
    tx, rx = interpchan.channel(1)
    bufs = [interpchan.Buffer(n + 1) for n in range(6)]
    for i, buf in enumerate(bufs):
        memoryview(buf)[:] = bytes([i + 1]) * len(buf)

    def item() -> object:
        return {
            "x": [bufs[3], (bufs[0], {"y": bufs[5]})],
            "z": (bufs[4], [bufs[2]], bufs[1]),
        }

    tx.send(0)  # full: the next send fails and gives every Buffer its memory back
    with pytest.raises(interpchan.Full):
        tx.send_nowait(item())
    assert [bytes(b) for b in bufs] == [bytes([i + 1]) * (i + 1) for i in range(6)]
    assert rx.recv() == 0
    tx.send(item())
    assert all(b.moved for b in bufs)
    got = rx.recv()
    x, z = got["x"], got["z"]
    flat = [x[0], x[1][0], x[1][1]["y"], z[0], z[1][0], z[2]]
    assert [bytes(v) for v in flat] == [bytes([i + 1]) * (i + 1) for i in (3, 0, 5, 4, 2, 1)]


def test_buffer_moves_to_a_peer_and_is_forwarded_back_without_a_copy(peer) -> None:
    to_peer, peer_rx = interpchan.channel()
    peer_tx, from_peer = interpchan.channel()
    buf = interpchan.Buffer(1 << 16)
    memoryview(buf)[:] = bytes([7]) * (1 << 16)
    to_peer.send(buf)
    task = peer.run(workers.modify_view_and_forward, peer_rx, peer_tx)
    peer_rx.close()
    peer_tx.close()
    view = from_peer.recv(timeout=30)
    assert task.join() == 7
    assert bytes(view) == bytes([8]) * (1 << 16)
    assert isinstance(view.obj, interpchan.Buffer)


def test_buffer_made_in_a_peer(peer) -> None:
    tx, rx = interpchan.channel()
    task = peer.run(workers.fill_buffer_and_send, tx, 1000, 42)
    tx.close()
    view = rx.recv(timeout=30)
    assert task.join() is True
    assert bytes(view) == bytes([42]) * 1000


@pytest.mark.parametrize(
    "make",
    [
        lambda: bytearray(b"abcdef"),
        lambda: memoryview(b"abcdefgh")[2:6],
        lambda: memoryview(bytes(range(20)))[::3],
        lambda: array.array("d", [1.5, 2.5, -3.0]),
        lambda: array.array("i", range(10)),
        lambda: np.arange(12, dtype=np.float64).reshape(3, 4),
        lambda: np.arange(24, dtype=np.int16).reshape(2, 3, 4)[:, ::2, 1:],
        lambda: np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        lambda: np.float32(3.5).reshape(()),
        lambda: np.zeros((0, 4)),
    ],
    ids=[
        "bytearray",
        "memoryview-slice",
        "strided-view",
        "array-d",
        "array-i",
        "numpy-2d",
        "numpy-strided-3d",
        "numpy-fortran",
        "numpy-0d",
        "numpy-empty",
    ],
)
def test_other_buffers_are_copied_with_format_and_shape(make) -> None:
    original = make()
    expected = memoryview(original)
    contents = expected.tobytes()  # C order
    tx, rx = interpchan.channel()
    tx.send(original)
    got = rx.recv()
    assert isinstance(got, memoryview) and not got.readonly
    assert isinstance(got.obj, interpchan.Buffer)
    assert got.format == expected.format
    assert got.itemsize == expected.itemsize
    assert got.shape == expected.shape
    assert got.tobytes() == contents
    if got.nbytes:
        raw = np.frombuffer(got.obj, dtype=np.uint8)  # the received memory as plain bytes
        assert raw.flags.writeable
        raw[0] ^= 0xFF  # the copy is ours: the original is untouched
        assert memoryview(original).tobytes() == contents


def test_numpy_array_round_trip_through_a_peer(peer) -> None:
    array2d = np.arange(12.0).reshape(3, 4)
    tx, rx = interpchan.channel()
    task = peer.run(workers.produce, tx, [array2d])
    tx.close()
    got = np.asarray(rx.recv(timeout=30))
    task.join()
    assert got.dtype == np.float64 and got.shape == (3, 4)
    assert np.array_equal(got, array2d)


def test_mmap_is_copied() -> None:
    with mmap.mmap(-1, 4096) as region:
        region[:4] = b"mmap"
        tx, rx = interpchan.channel()
        tx.send(region)
        got = rx.recv()
        assert got.tobytes()[:4] == b"mmap" and got.nbytes == 4096


def test_numpy_object_arrays_are_pickled() -> None:
    objects = np.array([1, "a", None], dtype=object)
    tx, rx = interpchan.channel()
    tx.send(objects)
    got = rx.recv()
    assert isinstance(got, np.ndarray) and list(got) == [1, "a", None]


def test_buffers_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(interpchan.Buffer(1))


def test_received_view_outlives_the_receiver_handle() -> None:
    tx, rx = interpchan.channel()
    tx.send(bytearray(b"persist"))
    view = rx.recv()
    del tx, rx
    assert view.tobytes() == b"persist"


def test_forwarding_a_received_buffer_needs_its_view_released() -> None:
    tx, rx = interpchan.channel()
    tx2, rx2 = interpchan.channel()
    tx.send(bytearray(b"forward me"))
    view = rx.recv(timeout=5)
    buf = view.obj
    with pytest.raises(BufferError):
        tx2.send(buf)  # the received view is still alive
    assert len(rx2) == 0 and not buf.moved
    view.release()
    tx2.send(buf)
    assert buf.moved and len(buf) == 0
    forwarded = rx2.recv(timeout=5)
    assert forwarded.tobytes() == b"forward me"


def test_writing_into_a_received_copy_leaves_the_original_alone() -> None:
    original = bytearray(b"abc")
    strided = np.arange(10, dtype=np.int32)[::3]
    tx, rx = interpchan.channel()
    tx.send(original)
    tx.send(strided)
    got = rx.recv(timeout=5)
    got[0] = ord("X")
    assert got.tobytes() == b"Xbc" and original == bytearray(b"abc")
    arr = np.asarray(rx.recv(timeout=5))
    assert arr.flags.c_contiguous and arr.tolist() == [0, 3, 6, 9]
    arr[:] = -1
    assert strided.tolist() == [0, 3, 6, 9]


def test_received_view_of_a_buffer_can_be_resent_as_a_copy() -> None:
    tx, rx = interpchan.channel()
    buf = interpchan.Buffer(4)
    memoryview(buf)[:] = b"orig"
    tx.send(buf)
    view = rx.recv(timeout=5)
    tx.send(view)  # a memoryview is an ordinary buffer object: copied, the view stays usable
    copy = rx.recv(timeout=5)
    view[:] = b"new!"
    assert copy.tobytes() == b"orig" and view.tobytes() == b"new!"


def test_copied_buffers_keep_format_and_shape_in_a_peer(peer) -> None:
    originals = [
        bytearray(b"bytes"),
        array.array("d", [1.5, -2.25]),
        memoryview(bytes(range(12)))[1::2],
        np.arange(6, dtype=np.int16).reshape(2, 3).T,  # not C-contiguous: arrives in C order
    ]
    expected = [memoryview(o) for o in originals]
    to_peer, peer_rx = interpchan.channel()
    peer_tx, from_peer = interpchan.channel()
    for original in originals:
        to_peer.send(original)
    to_peer.close()
    task = peer.run(workers.describe_views, peer_rx, peer_tx)
    peer_rx.close()
    peer_tx.close()
    got = workers.drain(from_peer)
    assert task.join() == len(originals)
    for (seen, back), want in zip(got, expected, strict=True):
        contents = want.tobytes()
        assert seen == ("memoryview", True, False, want.format, want.itemsize, want.shape, contents)
        assert back.format == want.format and back.shape == want.shape
        flipped = bytes([contents[0] ^ 0xFF]) + contents[1:]
        assert back.tobytes() == flipped  # the peer's write came back in its copy...
        assert want.tobytes() == contents  # ...and never reached the original
