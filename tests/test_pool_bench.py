"""bench/pool.py runs end to end at a tiny size and prints every row for every peer (no figure is
judged here: timings are the benchmark's business)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "pool.py"


def test_pool_bench_prints_every_row_for_every_peer() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--tiny", "--rounds", "1", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    peers = ["interpchan.Pool", "ProcessPoolExecutor", "multiprocessing.Pool", "ThreadPoolExecutor"]
    if sys.version_info >= (3, 14):
        peers.append("InterpreterPoolExecutor")
    workloads = ("submit().result() p50", "map over a range of 2,000", "CPU-bound", "pool start")
    for workload in workloads:
        for peer in peers:
            assert any(workload in row and f"| {peer}" in row for row in rows), (workload, peer)
    for peer in peers[:3]:  # the others map 100x slower: on a range only
        assert any("map over a list of 2,000" in row and f"| {peer}" in row for row in rows), peer
    assert any("one thread" in row and "map" in row for row in rows)
    assert any("ceiling: 2 x one thread" in row for row in rows)
    assert any("spawn(f).join()" in row for row in rows)
