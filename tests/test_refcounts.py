"""Reference counts and memory blocks return to where they started after each core operation.

On a debug build of CPython (``sys.gettotalrefcount`` exists: CI runs the suite on Debian's
python3.14-dbg), each operation of tests/refcount_ops.py runs in a loop after a warm-up loop,
and the process's reference total and this interpreter's allocated block count must be what
they were before it: a reference leaked or dropped once per call moves them by at least the loop
count. In the main interpreter and in an own-GIL sub-interpreter.
"""

from __future__ import annotations

import sys

import pytest

import interpchan
import refcount_ops

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "gettotalrefcount"), reason="needs a debug build of CPython (Py_DEBUG)"
)

OPERATIONS = list(refcount_ops.operations())


def allowed(name: str) -> int:
    """How far the totals may move after a loop of ``name``: nothing, except for spawn.

    spawn starts a thread and an interpreter per call; CPython keeps a few objects across those
    (the totals after 4 loops of 40 spawns in a row moved by 26, 20, 14, 11: settling, not growing
    with the count). A reference leaked per spawn still moves them by the loop count or more.
    """
    return refcount_ops.operations()[name][1] - 1 if name == "spawn" else 0


@pytest.fixture(scope="module")
def in_subinterpreter() -> dict[str, tuple[int, int]]:
    return interpchan.spawn(refcount_ops.measure_all).join(timeout=600)


@pytest.mark.parametrize("name", OPERATIONS)
def test_refcounts_return_in_main_interpreter(name: str) -> None:
    refs, blocks = refcount_ops.measure_all([name])[name]
    assert abs(refs) <= allowed(name), f"reference total moved by {refs}"
    assert abs(blocks) <= allowed(name), f"allocated blocks moved by {blocks}"


@pytest.mark.parametrize("name", OPERATIONS)
def test_refcounts_return_in_subinterpreter(
    name: str, in_subinterpreter: dict[str, tuple[int, int]]
) -> None:
    refs, blocks = in_subinterpreter[name]
    assert abs(refs) <= allowed(name), f"reference total moved by {refs}"
    assert abs(blocks) <= allowed(name), f"allocated blocks moved by {blocks}"


def test_the_measure_sees_a_leak() -> None:
    """One reference kept per call shows as the loop count."""
    kept: list[object] = []
    refs, blocks = refcount_ops.measure(lambda: kept.append(object()), 100)
    assert refs >= 100 and blocks >= 100
