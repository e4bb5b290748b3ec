"""Buffer layouts: Buffer(nbytes, format=, shape=) is checked, and a layout (format, item size,
shape) survives every move, of Buffers and of copied buffers alike, there and back."""

from __future__ import annotations

import array
import struct
import sys
from typing import Any

import numpy as np
import pytest

import interpchan
import shared_workers
from conftest import Peer

# Every single-character struct format memoryview reads element by element.
NATIVE_FORMATS = "bBhHiIlLqQnNfdeP?c"


def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides = []
    step = itemsize
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


@pytest.mark.parametrize("fmt", NATIVE_FORMATS)
def test_buffer_with_a_format_and_shape_is_indexable_element_wise(fmt: str) -> None:
    size = struct.calcsize(fmt)
    buf = interpchan.Buffer(size * 12, format=fmt, shape=(2, 3, 2))
    view = memoryview(buf)
    assert view.format == fmt and view.itemsize == size
    assert view.shape == (2, 3, 2) and view.strides == c_strides((2, 3, 2), size)
    assert view.ndim == 3 and view.c_contiguous and not view.readonly
    assert bytes(view) == bytes(size * 12)
    value = {"f": 1.5, "d": 2.5, "e": 0.5, "?": True, "c": b"z"}.get(fmt, 7)
    view[1, 2, 1] = value
    assert view[1, 2, 1] == value and view[0, 0, 0] != value
    assert view.tolist()[1][2][1] == value


def test_default_layout_is_one_dimension_of_items() -> None:
    view = memoryview(interpchan.Buffer(32, format="i"))
    assert (view.format, view.itemsize, view.shape) == ("i", 4, (8,))
    view = memoryview(interpchan.Buffer(5))
    assert (view.format, view.itemsize, view.shape) == ("B", 1, (5,))
    view = memoryview(interpchan.Buffer(24, format="<d", shape=None))
    assert (view.format, view.itemsize, view.shape) == ("<d", 8, (3,))


def test_zero_dimensional_and_empty_layouts() -> None:
    scalar = memoryview(interpchan.Buffer(8, format="d", shape=()))
    assert scalar.shape == () and scalar.ndim == 0
    scalar[()] = 4.25
    assert scalar[()] == 4.25
    empty = memoryview(interpchan.Buffer(0, format="q", shape=(3, 0)))
    assert empty.shape == (3, 0) and empty.nbytes == 0


def test_formats_with_standard_sizes_and_repeat_counts() -> None:
    for fmt, itemsize in [("<i", 4), (">d", 8), ("=q", 8), ("!H", 2), ("3i", 12), ("2d", 16)]:
        view = memoryview(interpchan.Buffer(itemsize * 4, format=fmt, shape=(2, 2)))
        assert (view.format, view.itemsize, view.shape) == (fmt, itemsize, (2, 2))


@pytest.mark.parametrize(
    ("nbytes", "kwargs", "error"),
    [
        (8, {"format": 1}, TypeError),
        (8, {"format": b"B"}, TypeError),
        (8, {"shape": 8}, TypeError),
        (8, {"shape": "8"}, TypeError),
        (8, {"shape": (8.0,)}, TypeError),
        (8, {"shape": ("8",)}, TypeError),
        (8, {"format": "zz"}, ValueError),
        (8, {"format": ""}, ValueError),
        (8, {"format": "0i"}, ValueError),
        (8, {"format": "i\0"}, ValueError),
        (8, {"format": "é"}, ValueError),
        (8, {"shape": (3,)}, ValueError),
        (8, {"shape": (2, -4)}, ValueError),
        (8, {"shape": (-2, -4)}, ValueError),
        (8, {"format": "d", "shape": (2,)}, ValueError),
        (8, {"shape": (1,) * 65}, ValueError),
        (7, {"format": "i"}, ValueError),
        (8, {"shape": (2**62, 2**62)}, ValueError),
        (-1, {"format": "i"}, ValueError),
        (8, {"shape": (2**80,)}, OverflowError),
    ],
)
def test_bad_layouts_raise_the_documented_errors(
    nbytes: int, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        interpchan.Buffer(nbytes, **kwargs)


def test_layout_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        interpchan.Buffer(8, "B")  # type: ignore[misc]
    with pytest.raises(TypeError):
        interpchan.Buffer(8, format="B", bogus=1)  # type: ignore[call-arg]


def test_wrong_layout_allocates_nothing() -> None:
    # Checked before allocating: no MemoryError for an impossible size with a wrong shape.
    with pytest.raises(ValueError):
        interpchan.Buffer(1 << 62, format="d", shape=(3,))


def test_numpy_sees_the_layout() -> None:
    buf = interpchan.Buffer(4 * 6, format="<f", shape=(2, 3))
    arr = np.asarray(buf)
    assert arr.shape == (2, 3) and arr.dtype == np.dtype("<f4")
    arr[1, 2] = 2.5
    tx, rx = interpchan.channel()
    del arr
    tx.send(buf)
    got = np.asarray(rx.recv())
    assert got.shape == (2, 3) and got[1, 2] == 2.5 and got.flags.writeable


def copied_sources() -> list[tuple[str, Any]]:
    """Objects the copy path takes, of every kind of format it meets (the source object, and a
    name for messages)."""
    sources: list[tuple[str, Any]] = []
    for fmt in NATIVE_FORMATS:
        size = struct.calcsize(fmt)
        raw = bytearray(i % 100 for i in range(size * 6))
        sources.append((f"memoryview {fmt}", memoryview(raw).cast(fmt, (3, 2))))
    codes = [c for c in array.typecodes if c != "u" or sys.version_info < (3, 13)]
    for code in codes:
        values = "abc" if code in "uw" else [1, 2, 3]
        sources.append((f"array {code}", array.array(code, values)))
    dtypes = ["?", "i1", "u1", "<i2", ">u2", "<i4", "<u8", "e", "<f4", ">f8", "c8", "c16", "S3"]
    for dtype in dtypes:
        arr = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
        sources.append((f"numpy {dtype}", arr))
    record = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")])
    record["a"] = [1, 2, 3]
    sources.append(("numpy record", record))
    fortran = np.asfortranarray(np.arange(12, dtype="<i8").reshape(3, 4))
    sources.append(("numpy fortran order", fortran))
    sources.append(("numpy strided", np.arange(20, dtype="<i4")[::3]))
    sources.append(("bytearray", bytearray(b"layout")))
    return sources


def expected_layout(source: Any) -> dict[str, Any]:
    view = memoryview(source)
    return {
        "format": view.format,
        "itemsize": view.itemsize,
        "shape": view.shape,
        "strides": c_strides(view.shape, view.itemsize),
        "bytes": view.tobytes(),
    }


def buffer_sources() -> list[tuple[str, Any]]:
    """Buffers made with a layout, their bytes counting up."""
    sources = []
    for fmt in [*NATIVE_FORMATS, "<i", ">d", "3h"]:
        size = struct.calcsize(fmt)
        shape = (2, 3, 2)
        sources.append((f"Buffer {fmt}", shared_workers.make_layout_buffer(size * 12, fmt, shape)))
    sources.append(("Buffer 0-d", shared_workers.make_layout_buffer(8, "q", ())))
    return sources


def listed(view: memoryview) -> Any:
    try:
        return view.tolist()
    except NotImplementedError:
        return None


@pytest.mark.parametrize("make", [copied_sources, buffer_sources], ids=["copied", "Buffer"])
def test_layouts_survive_a_move_there_and_back(peer: Peer, make: Any) -> None:
    sources = make()
    expected = [expected_layout(source) for _, source in sources]
    to_peer, peer_rx = interpchan.channel()
    peer_tx, from_peer = interpchan.channel()
    for _, source in sources:
        to_peer.send(source)
    to_peer.close()
    task = peer.run(shared_workers.layout_round_trip, peer_rx, peer_tx)
    peer_rx.close()
    peer_tx.close()
    for (name, _), want in zip(sources, expected, strict=True):
        seen, back = from_peer.recv(timeout=60)
        for key in ("format", "itemsize", "shape", "strides"):
            assert seen[key] == want[key], (name, key)
            assert getattr(back, key) == want[key], (name, key)
        assert not seen["readonly"] and not back.readonly, name
        assert seen["view"] == "memoryview" and seen["obj"] == "Buffer", name
        assert back.tobytes() == want["bytes"], name
        assert seen["list"] == listed(back), name
        assert seen["element"] == shared_workers.element(back), name
        if want["format"] in NATIVE_FORMATS and back.nbytes:
            assert seen["element"] is not None, name  # indexable element-wise in the peer
    assert task.join(60) == len(sources)
