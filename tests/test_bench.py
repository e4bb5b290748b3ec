"""The benchmark runs end to end at a tiny size, keeps a run record, and reports a missing figure
as "not measured" (no figure is judged here: timings are the benchmark's business)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS = ["interpchan", "interpchan-thread", "queue", "interpchannels"]  # and the floor, always
WORKLOADS = ["int", "b64m", "rtt", "idle"]


def _load_report() -> Any:
    spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _load_report()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """One tiny run (2 rounds, a few peers and workloads): its record and what it printed."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    command = [
        sys.executable,
        str(BENCH / "run.py"),
        "--quick",
        "--rounds=2",
        "--only=" + ",".join(WORKLOADS),
        "--peers=" + ",".join(PEERS),
        "--chart=",
        f"--json={out}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text()), result.stdout


def test_each_peer_runs_each_workload_it_can(tiny_run: tuple[dict[str, Any], str]) -> None:
    results, _ = tiny_run
    cells = results["cells"]
    expected = {  # the workloads each peer has a figure for; the others say why not
        "interpchan": {"int", "b64m", "rtt"},
        "interpchan-thread": {"int", "b64m", "rtt", "idle"},
        "queue": {"int", "b64m", "rtt", "idle"},
        "interpchannels": {"int", "b64m", "rtt"},
        "floor": {"b64m"},
    }
    for peer, measured in expected.items():
        for workload in WORKLOADS:
            cell = cells[peer][workload]
            assert "error" not in cell, (peer, workload, cell)
            if workload in measured:
                assert len(cell["runs"]) == 2, (peer, workload, cell)
                low, high = cell["spread"]
                median = cell["median"][0] if workload == "rtt" else cell["median"]
                assert low <= median <= high, (peer, workload, cell)
            else:
                assert cell["skip"] and not cell["runs"], (peer, workload, cell)
    assert results["registered_before"]["interpchan"] == results["registered_after"]["interpchan"]


def test_the_record_says_where_it_comes_from(tiny_run: tuple[dict[str, Any], str]) -> None:
    results, printed = tiny_run
    for key in ("commit", "date", "machine", "command"):
        assert results[key], key
    assert results["command"].startswith("python bench/run.py --quick --rounds=2")
    assert results["machine"]["python"] == sys.version.split()[0]
    assert results["commit"] in printed and results["command"] in printed
    # each figure in the tables comes with its spread over the rounds
    row = next(
        line for line in printed.splitlines() if line.startswith("| interpchan, main → thread")
    )
    figures = row.strip("|").split("|")[2:]
    assert figures and all("[" in figure and "-" in figure for figure in figures), row


def test_every_target_has_a_row_measured_or_not(tiny_run: tuple[dict[str, Any], str]) -> None:
    printed = tiny_run[1]
    for label, _ in report.TARGETS:
        rows = [line for line in printed.splitlines() if line.startswith(f"| {label} |")]
        assert len(rows) == 1, label
    b64 = "| small items (64 B bytes): >= 2x _interpqueues busy-polling |"
    assert f"{b64} **not measured** (b64 not in this run) | — |" in printed
    floor_row = next(line for line in printed.splitlines() if line.startswith("| 64 MiB bytes >="))
    assert "the floor" in floor_row and "not measured" not in floor_row


def test_a_failed_or_missing_measurement_shows_as_not_measured(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    results = copy.deepcopy(tiny_run[0])
    results["cells"]["interpchan"]["rtt"] = {"runs": [], "error": "RuntimeError: far side died"}
    results["cells"]["interpchan"]["int"]["error"] = "RuntimeError: died in round 2"  # 1 ran
    del results["cells"]["floor"]["b64m"]
    del results["cells"]["interpchan-thread"]["idle"]["median"]
    text = report.markdown(results)
    lines = text.splitlines()

    def target(prefix: str) -> str:
        return next(line for line in lines if line.startswith(f"| {prefix}"))

    rtt = target("blocking round trip")
    assert "**not measured** (interpchan, rtt failed: RuntimeError: far side died)" in rtt
    assert rtt.endswith("| — |")
    assert "**not measured** (floor, b64m: no figure)" in target("64 MiB bytes >=")
    small = target("small items (ints)")
    assert "**not measured** (interpchan, int failed: RuntimeError: died in round 2)" in small
    assert "**not measured**" in target("1,000 threads idle")
    round_trips = text.split("### Blocking round trip")[1].split("###")[0]
    assert "| interpchan, main → own-GIL sub-interpreter | blocks | failed |" in round_trips
    assert (
        "- failed: interpchan, main → own-GIL sub-interpreter, rtt: RuntimeError: far side died"
        in text
    )


def test_readme_block_carries_the_record(
    tiny_run: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_BEGIN}\nold figures\n{report.README_END}\nafter\n")
    report.update_readme(readme, tiny_run[0], None, "docs/bench.json")
    text = readme.read_text()
    assert "old figures" not in text and text.startswith("intro\n") and text.endswith("\nafter\n")
    assert tiny_run[0]["commit"] in text and tiny_run[0]["command"] in text
    assert "[docs/bench.json](docs/bench.json)" in text
    assert "#### Targets" in text and "**not measured**" in text


def test_report_replays_a_stored_record(
    tiny_run: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    record = tmp_path / "run.json"
    record.write_text(json.dumps(tiny_run[0]))
    command = [sys.executable, str(BENCH / "run.py"), f"--report={record}", "--chart="]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=os.fspath(ROOT)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == report.markdown(tiny_run[0]).strip()
