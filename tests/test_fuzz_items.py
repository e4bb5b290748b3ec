"""Fuzzing the item conversion: random nested objects come back equal, or are refused cleanly.

Objects are built from every row of the README's table of what can be sent (None, bool, int of any
size, float with nan, inf and -0.0, complex, str with lone surrogates, bytes, tuple, list, dict,
set, frozenset, handles, Buffers, other buffer-protocol objects, picklable objects), nested at
random, with unsendable leaves (lambdas, locks, generators, objects whose pickling raises, closed
handles) mixed in. Each object either comes back equal, with exactly the same types all the way
down (a buffer comes back as a memoryview with the same format, shape and bytes), or, if it holds
an unsendable leaf, ``send`` raises ``TypeError`` chained to its cause with nothing enqueued and
every Buffer in it still unmoved. Round trips run in this interpreter, and through an echo worker
in an own-GIL sub-interpreter (one worker for all examples), which rebuilds and re-sends each
object.
"""

from __future__ import annotations

import array
import collections
import datetime
import decimal
import fractions
import math
import struct
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis_profiles import examples, report

import interpchan
import workers

SENTINEL = "sentinel after a refused send"
STATS: collections.Counter[str] = collections.Counter()


# -- unsendable things -------------------------------------------------------------------------


class ReduceRaises:
    """Pickling it raises."""

    def __reduce__(self) -> Any:
        raise RuntimeError("not today")


def _generator() -> Iterator[int]:
    yield 1


def _local_instance() -> Any:
    class Local:  # pickle cannot find a local class
        pass

    return Local()


def _closed_sender() -> interpchan.Sender:
    tx = SIDE_TX.clone()
    tx.close()
    return tx


UNSENDABLE_TYPES = (types.FunctionType, type(threading.Lock()), types.GeneratorType, ReduceRaises)

unsendable = st.sampled_from(
    [
        lambda: lambda: None,
        threading.Lock,
        _generator,
        ReduceRaises,
        _local_instance,
        _closed_sender,
    ]
).map(lambda make: make())


# -- sendable things ---------------------------------------------------------------------------

SIDE_TX, SIDE_RX = interpchan.channel()  # handles on this channel travel inside items

text = st.lists(  # not st.text: it would merge the alphabets, making surrogates rare
    st.one_of(
        st.characters(exclude_categories=()),  # any code point
        st.characters(categories=["Cs"]),  # lone surrogates
        st.characters(max_codepoint=0x7F),
    ),
    max_size=20,
).map("".join)
ints = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, -(2**64), 10**400]),
)
SPECIAL_FLOATS = [
    math.nan,
    -math.nan,
    struct.unpack("<d", bytes.fromhex("0100000000f8ff7f"))[0],  # a nan with a payload
    math.inf,
    -math.inf,
    -0.0,
    5e-324,
    sys.float_info.max,
]
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.sampled_from(SPECIAL_FLOATS),
)
complexes = st.one_of(
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    st.builds(complex, st.sampled_from(SPECIAL_FLOATS), st.sampled_from(SPECIAL_FLOATS)),
)

hashable_leaf = st.one_of(st.none(), st.booleans(), ints, floats, complexes, text, st.binary())
hashable = st.recursive(
    hashable_leaf,
    lambda inner: st.one_of(st.tuples(inner, inner), st.frozensets(inner, max_size=3)),
    max_leaves=6,
)


def _buffer(data: bytes) -> interpchan.Buffer:
    buf = interpchan.Buffer(len(data))
    memoryview(buf)[:] = data
    return buf


TYPECODES = "bBhHiIlLqQfd"


def _array(code: str, data: bytes) -> array.array[Any]:
    """An array.array of typecode code over a whole number of items of data."""
    size = struct.calcsize(code)
    return array.array(code, data[: len(data) // size * size])


arrays = st.builds(_array, st.sampled_from(TYPECODES), st.binary(max_size=48))


def _strided(a: np.ndarray, how: int) -> np.ndarray:
    """a, or a non-contiguous view of it (copied into C order when sent)."""
    if a.ndim == 0 or how == 0:
        return a
    return [a.T, a[::2], a[..., ::-1]][how - 1]


def _view(data: bytes, how: int) -> Any:
    """A memoryview of data: plain, strided, writable, or 2-D."""
    if how == 1:
        return memoryview(data)[::3]
    if how == 2:
        return memoryview(bytearray(data))
    if how == 3 and data and len(data) % 2 == 0:
        return memoryview(data).cast("B", shape=[2, len(data) // 2])
    return memoryview(data)


numpy_arrays = st.builds(
    _strided,
    hnp.arrays(
        dtype=st.one_of(
            hnp.integer_dtypes(endianness="?"),
            hnp.unsigned_integer_dtypes(endianness="?"),
            hnp.floating_dtypes(endianness="?"),
            hnp.complex_number_dtypes(endianness="?"),
            hnp.boolean_dtypes(),
            hnp.byte_string_dtypes(max_len=4),
        ),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    ),
    st.integers(0, 3),
)
views = st.builds(_view, st.binary(max_size=24), st.integers(0, 3))
buffers = st.one_of(
    st.binary(max_size=32).map(bytearray),
    st.binary(max_size=32).map(_buffer),
    arrays,
    numpy_arrays,
    views,
)
pickled = st.one_of(
    st.builds(workers.Point, st.integers(), st.integers()),
    st.builds(workers.MyInt, st.integers()),
    st.builds(workers.MyStr, text),
    st.builds(workers.Pair, hashable_leaf, hashable_leaf),
    st.builds(fractions.Fraction, st.integers(), st.integers(min_value=1)),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(),
    st.builds(collections.OrderedDict, st.dictionaries(text, st.integers(), max_size=3)),
)
handles = st.sampled_from([SIDE_TX.clone, SIDE_RX.clone]).map(lambda clone: clone())

sendable_leaf = st.one_of(
    hashable_leaf, buffers, pickled, handles, st.frozensets(hashable, max_size=3)
)


def items(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nested containers of leaves; set members and dict keys are hashable sendable things."""
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5),
            st.lists(inner, max_size=5).map(tuple),
            st.dictionaries(hashable, inner, max_size=4),
            st.sets(hashable, max_size=4),
            st.frozensets(hashable, max_size=4),
        ),
        max_leaves=20,
    )


# One leaf in four is unsendable.
any_leaf = st.integers(0, 3).flatmap(lambda i: unsendable if i == 0 else sendable_leaf)


# -- comparing ---------------------------------------------------------------------------------


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def canon(x: Any) -> Any:
    """A comparable form of x that keeps exact types, float bits (nan, -0.0) and dict order.
    What a received object must equal: buffers as (format, itemsize, shape, bytes) of a view."""
    t = type(x)
    if x is None or t in (bool, int, str, bytes):
        return (t.__name__, x)
    if t is float:
        return ("float", _bits(x))
    if t is complex:
        return ("complex", _bits(x.real), _bits(x.imag))
    if t in (tuple, list):
        return (t.__name__, tuple(canon(v) for v in x))
    if t is dict:
        return ("dict", tuple((canon(k), canon(v)) for k, v in x.items()))
    if t in (set, frozenset):
        return (t.__name__, tuple(sorted(repr(canon(v)) for v in x)))
    if t in (interpchan.Sender, interpchan.Receiver):
        return (t.__name__, repr(x).split()[1])  # "channel=N"
    if t is interpchan.Buffer:
        return ("view", "B", 1, (len(x),), bytes(memoryview(x)))
    try:
        view = memoryview(x)
    except TypeError:
        view = None
    if view is not None and "O" not in view.format:
        return ("view", view.format, view.itemsize, tuple(view.shape), view.tobytes())
    if t is np.ndarray:  # not exportable (no such dtypes are generated): compared as pickled
        return ("ndarray", x.dtype.str, x.shape, x.tobytes())
    return ("pickled", t.__qualname__, repr(x))


def walk(x: Any) -> Iterator[Any]:
    """x and everything inside its containers."""
    yield x
    if type(x) in (tuple, list, set, frozenset):
        for v in x:
            yield from walk(v)
    elif type(x) is dict:
        for k, v in x.items():
            yield from walk(k)
            yield from walk(v)


def refusable(x: Any) -> bool:
    """Whether x holds something that cannot be sent."""
    return any(
        isinstance(v, UNSENDABLE_TYPES)
        or type(v).__qualname__.endswith("<locals>.Local")
        or (type(v) is interpchan.Sender and v.closed)
        for v in walk(x)
    )


def buffers_in(x: Any) -> list[interpchan.Buffer]:
    return [v for v in walk(x) if type(v) is interpchan.Buffer]


def writable_views(x: Any) -> bool:
    """Every memoryview received in x is writable and owned by a Buffer."""
    return all(
        not v.readonly and type(v.obj) is interpchan.Buffer
        for v in walk(x)
        if type(v) is memoryview
    )


def _kind(v: Any) -> str:
    """For the statistics: the type's name, or a notable case of it."""
    t = type(v)
    if t is float and (v != v or (v == 0 and struct.pack("<d", v)[-1])):
        return "float nan or -0.0"
    if t is int and not -(2**63) <= v < 2**63:
        return "int beyond 64 bits"
    if t is str and any(0xD800 <= ord(c) <= 0xDFFF for c in v):
        return "str with lone surrogates"
    return t.__name__


def send_or_refuse(tx: interpchan.Sender, rx: interpchan.Receiver, obj: Any) -> bool:
    """Send obj; if it must be refused, check it was, cleanly. True if it was sent.

    rx receives what tx sends, directly or through an echo worker."""
    expected = canon(obj)
    bufs = buffers_in(obj)
    for name in {_kind(v) for v in walk(obj)}:
        STATS[f"holding {name}"] += 1
    if refusable(obj):
        with pytest.raises(TypeError) as refused:
            tx.send(obj)
        assert refused.value.__cause__ is not None
        assert len(rx) == 0  # nothing enqueued
        assert not any(b.moved for b in bufs)  # Buffers still the sender's
        assert canon(obj) == expected  # the object is as it was
        tx.send(SENTINEL)
        assert rx.recv(timeout=workers.TIMEOUT) == SENTINEL  # the next item is the sentinel
        STATS["refused"] += 1
        return False
    tx.send(obj)
    assert all(b.moved and len(b) == 0 for b in bufs)
    STATS["sent"] += 1
    return True


# -- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    report("fuzz items", STATS)


@settings(max_examples=examples(300))
@given(obj=items(any_leaf))
def test_round_trip_in_this_interpreter(obj: Any) -> None:
    tx, rx = interpchan.channel()
    expected = canon(obj)
    if send_or_refuse(tx, rx, obj):
        got = rx.recv_nowait()
        assert canon(got) == expected
        assert writable_views(got)
        assert len(rx) == 0


@pytest.fixture(scope="module")
def echo_worker() -> Iterator[tuple[interpchan.Sender, interpchan.Receiver]]:
    """A sub-interpreter that sends back everything it receives, for every example."""
    to_worker, worker_rx = interpchan.channel()
    worker_tx, from_worker = interpchan.channel()
    worker = interpchan.spawn(workers.echo, worker_rx, worker_tx)
    worker_rx.close()
    worker_tx.close()
    yield to_worker, from_worker
    to_worker.close()
    assert worker.join(timeout=60) == STATS["echoed"] + STATS["subinterp refused"]
    assert workers.drain(from_worker) == []


@settings(max_examples=examples(200))
@given(obj=items(any_leaf))
def test_round_trip_through_a_subinterpreter(
    echo_worker: tuple[interpchan.Sender, interpchan.Receiver], obj: Any
) -> None:
    to_worker, from_worker = echo_worker
    expected = canon(obj)
    if send_or_refuse(to_worker, from_worker, obj):
        got = from_worker.recv(timeout=workers.TIMEOUT)
        STATS["echoed"] += 1
        assert canon(got) == expected
        assert writable_views(got)
    else:
        STATS["subinterp refused"] += 1  # the worker echoed the sentinel


def test_canon_tells_apart_what_must_differ() -> None:
    """The comparison is strict where round trips must be exact: types, float bits, order, views."""
    nan = float("nan")
    assert canon(nan) == canon(float("nan"))
    pairs = [
        (1, True),
        (0.0, -0.0),
        ((1,), [1]),
        ({1: 2, 3: 4}, {3: 4, 1: 2}),
        ({1}, frozenset({1})),
        (b"ab", bytearray(b"ab")),
        (memoryview(b"abcd"), memoryview(b"abcd").cast("B", shape=[2, 2])),
        (array.array("i", [1]), array.array("I", [1])),
        (decimal.Decimal(1), fractions.Fraction(1)),
        (datetime.date(2000, 1, 1), datetime.datetime(2000, 1, 1)),
    ]
    for a, b in pairs:
        assert canon(a) != canon(b), (a, b)
    assert refusable([1, {2: (lambda: 0,)}]) and not refusable([1, {2: (3,)}])
