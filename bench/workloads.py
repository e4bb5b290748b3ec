"""The workloads: what is sent, how much of it, and in which unit the tables show it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KIB = 1 << 10
MIB = 1 << 20

STREAM = "stream"  # main sends n items, the far side receives them
BACK = "back"  # the far side sends n byte buffers, main receives them as numpy arrays
CIRCULATE = "circulate"  # a pool of buffers goes to the far side and back
ROUND_TRIP = "round_trip"  # blocking ping-pong of a small int
IDLE = "idle"  # n threads wait on an empty channel; the process's CPU time while they do


@dataclass(frozen=True)
class Workload:
    """One column of the tables."""

    key: str
    title: str  # column heading, with its unit
    kind: str
    unit: str  # "items/s", "GB/s", "moves/s", "µs" or "% of a core"
    nbytes: int = 0
    make: Callable[[], Any] | None = None  # the item sent (main side), for streams
    numpy: bool = False  # needs numpy in the main interpreter
    # items per timed run: [n_min, n_max], chosen from a warm-up run to last about target_s;
    # n_min == n_max: that count always (n_quick with --quick), so peak RSS compares across peers
    n_min: int = 1
    n_max: int = 1
    n_quick: int | None = None


def _numpy_array(nbytes: int) -> Any:
    import numpy as np

    return np.ones(nbytes // 8, dtype=np.float64)


def _bytes(nbytes: int) -> Callable[[], bytes]:
    return lambda: b"\x01" * nbytes


WORKLOADS: list[Workload] = [
    Workload(
        "int", "ints (items/s)", STREAM, "items/s", 0, lambda: 123456, n_min=2000, n_max=2_000_000
    ),
    Workload(
        "b64",
        "64 B bytes (items/s)",
        STREAM,
        "items/s",
        64,
        _bytes(64),
        n_min=2000,
        n_max=2_000_000,
    ),
    Workload(
        "b4k",
        "4 KiB bytes (items/s)",
        STREAM,
        "items/s",
        4 * KIB,
        _bytes(4 * KIB),
        n_min=500,
        n_max=500_000,
    ),
    Workload("b1m", "1 MiB bytes (GB/s)", STREAM, "GB/s", MIB, _bytes(MIB), n_min=8, n_max=4000),
    Workload(
        "b64m",
        "64 MiB bytes (GB/s)",
        STREAM,
        "GB/s",
        64 * MIB,
        _bytes(64 * MIB),
        n_min=6,
        n_max=6,
        n_quick=2,
    ),
    Workload(
        "buf1m", "1 MiB buffer moves (moves/s)", CIRCULATE, "moves/s", MIB, n_min=50, n_max=500_000
    ),
    Workload(
        "buf64m",
        "64 MiB buffer moves (moves/s)",
        CIRCULATE,
        "moves/s",
        64 * MIB,
        n_min=50,
        n_max=500_000,
    ),
    Workload(
        "np64m",
        "numpy 64 MiB, main → far (GB/s)",
        STREAM,
        "GB/s",
        64 * MIB,
        lambda: _numpy_array(64 * MIB),
        numpy=True,
        n_min=6,
        n_max=6,
        n_quick=2,
    ),
    Workload(
        "back64m",
        "64 MiB far → main as numpy (GB/s)",
        BACK,
        "GB/s",
        64 * MIB,
        numpy=True,
        n_min=6,
        n_max=6,
        n_quick=2,
    ),
    Workload("rtt", "round trip p50 / p99 (µs)", ROUND_TRIP, "µs", n_min=100, n_max=20_000),
    Workload(
        "idle", "1,000 idle waiters (% of a core)", IDLE, "% of a core", n_min=1000, n_max=1000
    ),
]

POOL = 4  # buffers circulating (CIRCULATE)

# --only accepts a workload key or one of these groups
GROUPS = {
    "small": ["int", "b64"],
    "bytes": ["int", "b64", "b4k", "b1m", "b64m"],
    "buffers": ["buf1m", "buf64m"],
    "numpy": ["np64m", "back64m"],
    "latency": ["rtt"],
}
EXTRAS = ["memcpy", "rss"]  # --only can name these too (not peer workloads)


def select(only: str | None) -> tuple[list[Workload], set[str]]:
    """The workloads and extras named by ``--only`` (comma-separated keys or groups)."""
    if not only:
        return list(WORKLOADS), set(EXTRAS)
    names: set[str] = set()
    for word in only.split(","):
        word = word.strip()
        if word in GROUPS:
            names.update(GROUPS[word])
        elif word in EXTRAS or any(w.key == word for w in WORKLOADS):
            names.add(word)
        else:
            known = [w.key for w in WORKLOADS] + list(GROUPS) + EXTRAS
            raise SystemExit(f"--only: unknown workload {word!r}; known: {', '.join(known)}")
    return [w for w in WORKLOADS if w.key in names], names & set(EXTRAS)


def rate(workload: Workload, n: int, seconds: float) -> float:
    """The figure shown for n items in ``seconds``, in the workload's unit."""
    if workload.unit == "GB/s":
        return n * workload.nbytes / seconds / 1e9
    if workload.unit == "moves/s":
        return 2 * n / seconds  # n hand-offs each way
    return n / seconds
