"""interpchan against its peers, side by side in one run: the one benchmark command.

    python bench/run.py [--rounds 5] [--quick] [--only WORKLOADS] [--peers KEYS] [--json out.json]

Measures interpchan and every peer available on this Python (queue.Queue between threads,
multiprocessing.Queue and Pipe between spawned processes, CPython's _interpqueues and
_interpchannels between own-GIL sub-interpreters, concurrent.interpreters.Queue on 3.14) on the
same workloads, each peer in its own fresh process (peer_process.py), interleaving the peers
round by round; prints markdown tables of medians and ratios on stdout and, where matplotlib is
installed, writes a chart (docs/bench.png).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # far_side, peers, ... (also for the interpreters spawn starts)

import memcpy  # noqa: E402
import peers as peer_module  # noqa: E402
import report  # noqa: E402
import workloads as wl  # noqa: E402
from peer_process import PeerCrashed, PeerProcess  # noqa: E402

import interpchan  # noqa: E402


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
            raise peer_module.Unsupported(answer["unsupported"])
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def measure(self, key: str, workload: wl.Workload, n: int, budget: float) -> dict[str, Any]:
        request = {
            "op": "measure",
            "workload": workload.key,
            "n": n,
            "timeout": self.timeout,
            "budget": budget,
        }
        return self.ask(key, request)

    def close(self) -> None:
        for process in self.running.values():
            process.close()
        self.running.clear()


def _choose_n(workload: wl.Workload, warm: dict[str, Any], target_s: float) -> int:
    per_item = max(warm["seconds"], 1e-6) / warm["count"]
    return max(workload.n_min, min(workload.n_max, int(target_s / per_item)))


def run_workload(
    workload: wl.Workload,
    peers: list[peer_module.Peer],
    processes: Processes,
    args: argparse.Namespace,
    numpy: Any,
) -> dict[str, dict[str, Any]]:
    """Every peer on one workload: a warm-up run each (it sets n), then rounds interleaved."""
    cells: dict[str, dict[str, Any]] = {}
    active: list[tuple[peer_module.Peer, int]] = []
    for peer in peers:
        cell: dict[str, Any] = {"runs": []}
        cells[peer.key] = cell
        reason = peer.missing()
        if reason is None and workload.numpy and numpy is None:
            reason = "numpy is not installed"
        if reason:
            cell["skip"] = reason
            continue
        fixed = workload.n_min == workload.n_max
        n_warm = 1 if fixed else workload.n_min
        try:
            warm = processes.measure(peer.key, workload, n_warm, args.target)
        except peer_module.Unsupported as exc:
            cell["skip"] = str(exc)
            continue
        except Exception as exc:
            cell["error"] = str(exc)
            print(f"  {peer.key} / {workload.key}: {cell['error']}", file=sys.stderr)
            continue
        cell["leaked_refs"] = warm["leaked_refs"]
        if fixed:  # the same count for every peer, so that peak RSS compares
            n = min(2, workload.n_min) if args.quick else workload.n_min
        else:
            n = _choose_n(workload, warm, args.target)
        active.append((peer, n))
    for _ in range(args.rounds):
        for peer, n in active:
            cell = cells[peer.key]
            if "error" in cell:
                continue
            try:
                result = processes.measure(peer.key, workload, n, 2 * args.target)
            except Exception as exc:
                cell["error"] = str(exc)
                print(f"  {peer.key} / {workload.key}: {cell['error']}", file=sys.stderr)
                continue
            cell["n"] = n
            cell["runs"].append(result)
            cell["leaked_refs"] += result["leaked_refs"]
    for cell in cells.values():
        runs = cell["runs"]
        if not runs:
            continue
        if workload.kind == wl.ROUND_TRIP:
            cell["median"] = [
                statistics.median(r["value"][0] for r in runs),
                statistics.median(r["value"][1] for r in runs),
            ]
        else:
            cell["median"] = statistics.median(r["value"] for r in runs)
        cell["peak_mib"] = statistics.median(r["peak_kib"] for r in runs) / 1024
    return cells


def _registered(processes: Processes, peers: list[peer_module.Peer]) -> dict[str, Any]:
    """Each peer's module registry size (channels or queues alive) in its process."""
    counts = {}
    for peer in peers:
        if peer.missing() is None:
            try:
                counts[peer.key] = processes.ask(peer.key, {"op": "registered"})
            except Exception as exc:
                counts[peer.key] = f"? ({exc})"
    return counts


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "platform": sys.platform,
        "cores": os.cpu_count(),
        "interpchan": getattr(interpchan, "__version__", "?"),
        "date": time.strftime("%Y-%m-%d"),
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        info["memory_gib"] = round(mem_kib / 1024 / 1024, 1)
        thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
        info["transparent_hugepages"] = thp
    except (OSError, ValueError, IndexError):
        pass
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, help="timed rounds per cell (default 5; quick 3)")
    parser.add_argument("--quick", action="store_true", help="short runs: about a minute")
    parser.add_argument(
        "--only",
        help="comma-separated workloads or groups: "
        + ", ".join([w.key for w in wl.WORKLOADS] + list(wl.GROUPS) + wl.EXTRAS),
    )
    parser.add_argument(
        "--peers",
        help="comma-separated peer keys: " + ", ".join(p.key for p in peer_module.all_peers()),
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--report", type=Path, help="measure nothing: print the tables (and chart) of a --json file"
    )
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="also put the main tables between the bench markers of README.md",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=HERE.parent / "docs" / "bench.png",
        help="chart file (needs matplotlib; default docs/bench.png); --chart '' for none",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per run at most")
    parser.add_argument("--rss-items", type=int, help="items for the RSS check (default 10M)")
    args = parser.parse_args()
    if args.report:
        results = json.loads(args.report.read_text())
        print(report.markdown(results))
        _publish(results, args)
        return
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.target = 0.08 if args.quick else 0.25  # seconds per timed run
    rss_items = args.rss_items or (1_000_000 if args.quick else 10_000_000)

    try:
        import numpy  # only to know whether the peers' processes have it
    except ImportError:
        numpy = None
    workloads, extras = wl.select(args.only)
    peers = peer_module.all_peers()
    if args.peers:
        wanted = {key.strip() for key in args.peers.split(",")}
        peers = [p for p in peers if p.key in wanted]

    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "rounds": args.rounds,
        "quick": args.quick,
        "peers": [
            {
                "key": p.key,
                "name": p.label,
                "between": p.between,
                "recv": p.recv_mode,
                "missing": p.missing(),
                "carries": p.carries,
                "no_copy": sorted(p.no_copy),
            }
            for p in peers
        ],
        "workloads": [
            {"key": w.key, "title": w.title, "kind": w.kind, "unit": w.unit, "nbytes": w.nbytes}
            for w in workloads
        ],
        "cells": {},
    }
    if "rss" in extras:  # in a process of its own
        print(f"# rss over {rss_items} items ...", file=sys.stderr, flush=True)
        rss = Processes(args.timeout)
        try:
            results["rss"] = rss.ask(
                "interpchan",
                {"op": "rss", "items": rss_items, "timeout": args.timeout},
                timeout=args.timeout + rss_items / 50_000,
            )
        except Exception as exc:
            print(f"  rss: {exc}", file=sys.stderr)
        finally:
            rss.close()
    processes = Processes(args.timeout)
    try:
        results["registered_before"] = _registered(processes, peers)
        for workload in workloads:
            print(f"# {workload.key} ...", end="", file=sys.stderr, flush=True)
            began = time.perf_counter()
            for key, cell in run_workload(workload, peers, processes, args, numpy).items():
                results["cells"].setdefault(key, {})[workload.key] = cell
            print(f" {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
        results["registered_after"] = _registered(processes, peers)
    finally:
        processes.close()
    if "memcpy" in extras:
        print("# memcpy ...", file=sys.stderr, flush=True)
        samples: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for label, gbps in memcpy.copies(64 * wl.MIB).items():
                samples.setdefault(label, []).append(gbps)
        results["memcpy"] = {label: statistics.median(v) for label, v in samples.items()}
    results["seconds"] = time.perf_counter() - started

    print(report.markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    _publish(results, args)


def _publish(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Writes the chart, and the README tables if asked."""
    written = None
    if str(args.chart) not in ("", "."):
        written = report.chart(results, args.chart)
        print(f"\nchart: {written}" if written else "\nchart: not written (no matplotlib)")
    if args.update_readme:
        readme = HERE.parent / "README.md"
        chart = None
        if written:
            try:
                chart = written.resolve().relative_to(readme.parent).as_posix()
            except ValueError:
                chart = None  # a chart outside the project is not linked
        report.update_readme(readme, results, chart)
        print(f"README: tables updated in {readme}")


if __name__ == "__main__":
    main()
