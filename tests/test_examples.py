"""The README's example runs and prints what it says, and README shows it verbatim."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "move_arrays.py")


def test_readme_shows_the_example_verbatim() -> None:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(EXAMPLE, encoding="utf-8") as f:
        assert f.read() in readme


def test_example_prints_what_the_readme_says() -> None:
    result = subprocess.run(
        [sys.executable, EXAMPLE], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.splitlines() == [
        "[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]",
        "True 0",
        "[2.0, 4.0, 6.0, 8.0]",
    ]


def test_demo_runs_and_checksums_agree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "interpchan.demo", "--chunks", "6", "--chunk-kib", "64"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checksums agree in all modes: yes" in result.stdout
    assert "Buffers moved to sub-interpreters without a copy: 6 of 6" in result.stdout
