"""The benchmark commands run end to end (a few peers, tiny runs; no figure is judged here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def test_run_measures_each_peer_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(BENCH, "run.py"),
            "--quick",
            "--rounds=1",
            "--only=int,buf1m,rtt",
            "--peers=interpchan,interpchan-thread,queue,interpchannels",
            "--chart=",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(out.read_text())
    for key in ("interpchan", "interpchan-thread", "queue", "interpchannels"):
        for workload in ("int", "rtt"):
            cell = results["cells"][key][workload]
            assert "error" not in cell, (key, workload, cell)
            assert len(cell["runs"]) == 1 and cell["median"], (key, workload, cell)
    assert results["cells"]["interpchan"]["buf1m"]["median"] > 0
    assert results["registered_before"]["interpchan"] == results["registered_after"]["interpchan"]
    assert "| interpchan, main → own-GIL sub-interpreter | blocks |" in result.stdout
    assert "### Targets" in result.stdout


def test_scaling_runs_and_results_agree() -> None:
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(BENCH, "scaling.py"),
            "--workers=2",
            "--tasks=4",
            "--iterations=2000",
            "--rounds=1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| own-GIL sub-interpreters + interpchan | 2 |" in result.stdout
    assert "results agree in every mode: yes" in result.stdout
