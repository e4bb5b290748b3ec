"""examples/async_server.py runs and prints what its comment says."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_async_server_example() -> None:
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "async_server.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["[[4, 25], [168, 1229], [9592]]"]
