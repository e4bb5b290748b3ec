"""SharedBuffer: Buffer.share() makes immutable memory that any number of sends share, no copy."""

from __future__ import annotations

import copy
import ctypes
import gc
import os
import pickle
import zlib

import numpy as np
import pytest

import interpchan
import shared_workers
import workers
from conftest import Peer

WRITABLE = shared_workers.WRITABLE


def filled_buffer(nbytes: int = 48, **layout: object) -> interpchan.Buffer:
    buf = interpchan.Buffer(nbytes, **layout)  # type: ignore[arg-type]
    flat = memoryview(buf).cast("B")
    flat[:] = bytes(i % 251 for i in range(nbytes))
    flat.release()
    return buf


def test_share_consumes_the_buffer_and_keeps_contents_and_layout() -> None:
    buf = filled_buffer(48, format="d", shape=(2, 3))
    expected = bytes(buf)
    shared = buf.share()
    assert isinstance(shared, interpchan.SharedBuffer)
    assert buf.moved and len(buf) == 0
    with pytest.raises(ValueError):
        memoryview(buf)
    assert len(shared) == 48 and shared.format == "d" and shared.shape == (2, 3)
    view = memoryview(shared)
    assert view.readonly and view.format == "d" and view.shape == (2, 3)
    assert view.strides == (24, 8) and view.obj is shared
    assert bytes(view) == expected
    assert view[1, 2] == memoryview(expected).cast("d", (2, 3))[1, 2]


def test_share_is_refused_while_a_view_is_alive_and_after_a_move() -> None:
    buf = filled_buffer()
    view = memoryview(buf)
    with pytest.raises(BufferError):
        buf.share()
    assert not buf.moved and bytes(view) == bytes(i for i in range(48))
    view.release()
    buf.share()
    with pytest.raises(ValueError):
        buf.share()
    tx, _rx = interpchan.channel()
    with pytest.raises(ValueError):
        tx.send(buf)
    assert len(tx) == 0
    with pytest.raises(TypeError):
        buf.share(1)  # type: ignore[call-arg]


def test_sent_buffer_cannot_be_shared_and_shared_buffer_is_not_a_buffer() -> None:
    tx, rx = interpchan.channel()
    buf = filled_buffer()
    tx.send(buf)
    with pytest.raises(ValueError):
        buf.share()
    shared = rx.recv().obj.share()
    assert not isinstance(shared, interpchan.Buffer)
    assert not hasattr(shared, "share") and not hasattr(shared, "moved")


def test_repr_says_size_layout_and_read_only() -> None:
    shared = interpchan.Buffer(24, format="i", shape=(2, 3)).share()
    assert repr(shared) == "<interpchan.SharedBuffer 24 bytes format='i' shape=(2, 3) read-only>"
    one_dim = interpchan.Buffer(8).share()
    assert repr(one_dim) == "<interpchan.SharedBuffer 8 bytes format='B' shape=(8,) read-only>"


def test_shared_buffer_cannot_be_made_directly_pickled_or_copied() -> None:
    with pytest.raises(TypeError):
        interpchan.SharedBuffer()  # type: ignore[call-arg]
    shared = interpchan.Buffer(8).share()
    with pytest.raises(TypeError):
        pickle.dumps(shared)
    with pytest.raises(TypeError):
        copy.copy(shared)
    with pytest.raises(TypeError):
        copy.deepcopy(shared)
    with pytest.raises(TypeError):

        class Sub(interpchan.SharedBuffer):  # type: ignore[misc]
            pass


def test_writes_are_refused_in_the_interpreter_that_made_it() -> None:
    shared = filled_buffer().share()
    view = memoryview(shared)
    assert shared_workers.write_refusals(view) == ["TypeError", "TypeError", "BufferError"]
    with pytest.raises(TypeError):
        ctypes.c_char.from_buffer(shared)
    arr = np.frombuffer(shared, dtype=np.uint8)
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1
    with pytest.raises(ValueError):
        arr.flags.writeable = True
    with pytest.raises(TypeError):
        memoryview(shared).cast("B")[:1] = b"x"
    assert bytes(shared) == bytes(range(48))


def test_numpy_reads_it_with_no_copy() -> None:
    buf = interpchan.Buffer(6 * 8, format="d", shape=(2, 3))
    np.frombuffer(buf, dtype=np.float64)[:] = np.arange(6.0)
    shared = buf.share()
    arr = np.asarray(shared)
    assert arr.shape == (2, 3) and arr.dtype == np.float64 and arr[1, 2] == 5.0
    flat = np.frombuffer(shared, dtype=np.float64)
    assert flat.ctypes.data == arr.ctypes.data  # the same memory, twice
    tx, rx = interpchan.channel()
    tx.send(shared)
    received = np.asarray(rx.recv())
    assert received.ctypes.data == arr.ctypes.data and not received.flags.writeable
    assert received.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_every_send_shares_the_same_memory_and_forwarding_does_not_copy() -> None:
    shared = filled_buffer(1 << 20).share()
    address = np.frombuffer(shared, dtype=np.uint8).ctypes.data
    tx, rx = interpchan.channel()
    for _ in range(5):
        tx.send(shared)
    views = [rx.recv() for _ in range(5)]
    for view in views:
        assert view.readonly and isinstance(view.obj, interpchan.SharedBuffer)
        assert view.obj is not shared
        assert np.frombuffer(view, dtype=np.uint8).ctypes.data == address
    tx.send(views[0].obj)  # forward: the SharedBuffer, not a copy of the view
    forwarded = rx.recv()
    assert np.frombuffer(forwarded, dtype=np.uint8).ctypes.data == address
    tx.send(views[1])  # a view itself is copied, like any memoryview
    copied = rx.recv()
    assert not copied.readonly and isinstance(copied.obj, interpchan.Buffer)
    assert np.frombuffer(copied, dtype=np.uint8).ctypes.data != address
    assert bytes(copied) == bytes(shared)


def test_shared_buffers_travel_inside_containers() -> None:
    shared = filled_buffer(24, format="i", shape=(3, 2)).share()
    tx, rx = interpchan.channel()
    tx.send({"a": [shared, (shared, 1)], "b": shared})
    item = rx.recv()
    views = [item["a"][0], item["a"][1][0], item["b"]]
    assert item["a"][1][1] == 1
    for view in views:
        assert view.readonly and view.shape == (3, 2) and view.format == "i"
        assert bytes(view) == bytes(shared)


def test_a_failed_send_leaves_the_shared_buffer_usable() -> None:
    shared = filled_buffer().share()
    tx, rx = interpchan.channel(capacity=1)
    tx.send(1)
    with pytest.raises(interpchan.Full):
        tx.send_nowait([shared])
    with pytest.raises(TypeError):
        tx.send([shared, lambda: 0], timeout=0)  # not sendable: nothing enqueued
    assert rx.recv() == 1 and len(rx) == 0
    tx.send(shared)
    assert bytes(rx.recv()) == bytes(shared)


def test_inside_an_object_that_is_pickled_it_is_refused_and_nothing_is_sent() -> None:
    shared = filled_buffer().share()
    tx, rx = interpchan.channel()
    with pytest.raises(TypeError):
        tx.send(workers.Pair(shared, 1))
    assert len(rx) == 0
    tx.send(shared)  # still usable
    assert bytes(rx.recv()) == bytes(shared)


def test_empty_and_zero_dimensional_shared_buffers() -> None:
    empty = interpchan.Buffer(0).share()
    assert len(empty) == 0 and bytes(empty) == b"" and empty.shape == (0,)
    scalar = interpchan.Buffer(8, format="q", shape=()).share()
    assert scalar.shape == () and memoryview(scalar)[()] == 0
    tx, rx = interpchan.channel()
    tx.send((empty, scalar))
    got_empty, got_scalar = rx.recv()
    assert got_empty.nbytes == 0 and got_empty.readonly
    assert got_scalar.shape == () and got_scalar[()] == 0 and got_scalar.readonly


def test_the_memory_outlives_the_shared_buffer_that_made_it() -> None:
    shared = filled_buffer(1 << 16).share()
    expected = zlib.crc32(shared)
    tx, rx = interpchan.channel()
    tx.send(shared)
    tx.send(shared)
    del shared
    first = rx.recv()
    del first
    second = rx.recv()
    assert zlib.crc32(second) == expected


@pytest.mark.parametrize(
    "layout", [{}, {"format": "d", "shape": (4, 6)}, {"format": "<H", "shape": (2, 6, 8)}]
)
def test_peers_get_read_only_views_with_the_layout_and_forward_them(
    peer: Peer, layout: dict[str, object]
) -> None:
    shared = filled_buffer(192, **layout).share()
    address = np.frombuffer(shared, dtype=np.uint8).ctypes.data
    expected = memoryview(shared)
    to_peer, peer_rx = interpchan.channel()
    peer_tx, from_peer = interpchan.channel()
    for _ in range(3):
        to_peer.send(shared)
    to_peer.close()
    task = peer.run(shared_workers.inspect_shared, peer_rx, peer_tx)
    peer_rx.close()
    peer_tx.close()
    for _ in range(3):
        seen, forwarded = from_peer.recv(timeout=60)
        assert seen["view"] == "memoryview" and seen["obj"] == "SharedBuffer"
        assert seen["readonly"] and seen["len"] == 192
        assert (seen["format"], seen["shape"]) == (expected.format, expected.shape)
        assert (seen["obj_format"], seen["obj_shape"]) == (expected.format, expected.shape)
        assert seen["strides"] == expected.strides and seen["itemsize"] == expected.itemsize
        assert seen["crc"] == zlib.crc32(shared) and seen["first"] == 0
        assert seen["refusals"] == ["TypeError", "TypeError", "BufferError"]
        assert np.frombuffer(forwarded, dtype=np.uint8).ctypes.data == address
        assert forwarded.readonly and forwarded.shape == expected.shape
    assert task.join(60) == 3
    assert bytes(shared) == bytes(i % 251 for i in range(192))  # nobody wrote


def test_the_readme_example_of_copy_move_and_share_does_what_it_says() -> None:
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    with open(readme) as f:
        text = f.read()
    section = text[text.index("### Copy, move or share") :]
    code = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    names: dict[str, object] = {}
    exec(code, names)
    copied, moved, views = names["copied"], names["moved"], names["views"]
    assert isinstance(copied, memoryview) and isinstance(moved, memoryview)
    assert copied.format == "d" and copied.shape == (2, 3) and not copied.readonly
    assert isinstance(copied.obj, interpchan.Buffer)
    assert names["buf"].moved and moved[1, 2] == 5.0 and not moved.readonly  # type: ignore[attr-defined]
    assert names["weights"].moved  # type: ignore[attr-defined]
    assert isinstance(views, list) and len(views) == 3
    assert all(v.readonly and v[1, 2] == 5.0 for v in views)
    assert len({np.asarray(v).ctypes.data for v in views}) == 1


def test_the_memory_counts_once_and_is_released_with_its_last_holder(peer: Peer) -> None:
    live = interpchan._interpchan._live_buffers
    gc.collect()
    before = live()
    buf = filled_buffer(4096)
    assert live() == before + 1
    shared = buf.share()
    assert live() == before + 1  # the same memory, now shared
    to_peer, peer_rx = interpchan.channel()
    peer_tx, from_peer = interpchan.channel()
    for _ in range(4):
        to_peer.send(shared)
    to_peer.close()
    task = peer.run(shared_workers.inspect_shared, peer_rx, peer_tx)
    peer_rx.close()
    peer_tx.close()
    back = [from_peer.recv(timeout=60)[1] for _ in range(4)]
    assert task.join(60) == 4
    assert live() == before + 1  # eight holders here and there: still one memory
    del shared
    assert live() == before + 1  # the maker's handle went first
    views = [memoryview(obj) for obj in back]
    del back
    assert live() == before + 1 and all(bytes(v) == bytes(views[0]) for v in views)
    del views
    assert live() == before
