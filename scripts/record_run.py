"""Runs a command and stores what it printed with its provenance: the run records in docs/runs/.

    python scripts/record_run.py docs/runs/stress.json -- python -m tests.stress --items 10000000

Every figure the README or docs/ quote outside the benchmark (which keeps its own record in
docs/bench.json) comes from such a record: the command, its output and exit status, the commit
it ran on (marked when the working tree had uncommitted changes), the date, the machine and the
Python. Re-run the command of a record whenever the code it measures changes.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    """The output of a git command in this checkout, or "" when git cannot answer."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def machine() -> dict[str, object]:
    """What the figures depend on: processor, cores, memory, load, OS."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "load_average_at_start": os.getloadavg(),
        "os": platform.platform(),
    }


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    target, command = Path(argv[0]), argv[2:]
    commit = git("rev-parse", "HEAD") or "unknown"
    changed = git("diff", "--name-only", "HEAD").split()
    record: dict[str, object] = {
        "command": shlex.join(command),
        "commit": commit
        + (f" (with uncommitted changes to {', '.join(changed)})" if changed else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
    }
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    record["wall_seconds"] = round(time.monotonic() - started, 1)
    record["exit_status"] = done.returncode
    if "python" in Path(command[0]).name:
        version = subprocess.run([command[0], "-VV"], capture_output=True, text=True)
        record["python"] = version.stdout.strip()
    record["output"] = done.stdout.splitlines()
    record["stderr"] = done.stderr.splitlines()[-40:]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=1) + "\n")
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    print(f"record written to {target} (exit status {done.returncode})")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
