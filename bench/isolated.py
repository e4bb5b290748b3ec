"""Each peer in its own fresh Python process, measuring on request.

``Processes`` keeps one such process per peer for the runner. ``PeerProcess(key)`` starts
``python bench/isolated.py KEY``; ``ask`` sends it one JSON request on stdin and waits (with a
timeout) for one JSON line back on a private copy of its stdout. Requests:
``{"op": "measure", "workload", "n", "timeout", "budget"}``, ``{"op": "registered"}``,
``{"op": "rss", "items", "timeout"}``, ``{"op": "quit"}``. Answers: ``{"ok": result}``,
``{"unsupported": why}`` or ``{"error": message}``. A peer that crashes or hangs loses its
process, not the run.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path
from typing import Any

import harness
import peer_interpchan
import peers
import workloads as wl

HERE = Path(__file__).resolve().parent


class PeerCrashed(Exception):
    """The peer's process died or stopped answering."""


class PeerProcess:
    """The orchestrator's handle on one peer's process."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "isolated.py"), key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Sends one request; returns the answer, or raises PeerCrashed (and ends the process)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError as exc:
            self.close()
            raise PeerCrashed(f"its process is gone ({exc})") from None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.close()
            why = "stopped answering" if ready == [] else "died"
            raise PeerCrashed(f"its process {why} (exit status {self.process.returncode})")
        return json.loads(line)

    def close(self) -> None:
        """Asks the process to end; kills it if it does not."""
        if self.alive():
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None and not stream.closed:
                stream.close()


class Processes:
    """One process per peer, started when first needed and again if it died."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.running: dict[str, PeerProcess] = {}

    def ask(self, key: str, request: dict[str, Any], timeout: float | None = None) -> Any:
        """The peer's answer; raises Unsupported, or RuntimeError for a failure or a crash."""
        process = self.running.get(key)
        if process is None or not process.alive():
            process = self.running[key] = PeerProcess(key)
        try:
            answer = process.ask(request, timeout or 2 * self.timeout + 30)
        except PeerCrashed as exc:
            raise RuntimeError(f"{key}: {exc}") from None
        if "unsupported" in answer:
            raise harness.Unsupported(answer["unsupported"])
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def measure(self, key: str, workload: wl.Workload, n: int, budget: float) -> dict[str, Any]:
        request = {"op": "measure", "workload": workload.key, "n": n, "timeout": self.timeout}
        return self.ask(key, {**request, "budget": budget})

    def close(self) -> None:
        for process in self.running.values():
            process.close()
        self.running.clear()


def serve(key: str) -> None:
    """The peer's side: answers requests from stdin until "quit" or end of input."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the answers
    peer = {p.key: p for p in peers.all_peers()}[key]
    by_key = {w.key: w for w in wl.WORKLOADS}
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "quit":
            break
        try:
            if op == "measure":
                workload = by_key[request["workload"]]
                args = (request["n"], request["timeout"], request["budget"])
                result: Any = harness.measure(peer, workload, *args)
            elif op == "registered":
                result = peer.registered()
            elif op == "rss":
                result = peer_interpchan.rss_over_items(request["items"], request["timeout"])
            else:
                raise ValueError(f"unknown request {op!r}")
            answer: dict[str, Any] = {"ok": result}
        except harness.Unsupported as exc:
            answer = {"unsupported": str(exc)}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(sys.argv[1])
