"""asyncio inside own-GIL sub-interpreters, run in a subprocess: CPython 3.12 can abort at exit
after a sub-interpreter imported ``_asyncio``, and 3.13.0 showed a rare double free there."""

from __future__ import annotations

import os
import subprocess
import sys

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def test_asyncio_in_own_gil_subinterpreters() -> None:
    script = (
        f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import async_workers; "
        "print(async_workers.subinterpreter_scenario())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "subinterpreter scenario ok"
