"""interpchan against its peers, side by side in one run: the one benchmark command.

    python bench/run.py [--quick] [--rounds N] [--only WORKLOADS] [--peers KEYS] [--json FILE]
    python bench/run.py --json docs/bench.json --update-readme     # what README shows
    python bench/run.py --report FILE [--update-readme]            # print a stored run again

How it is built (read in this order): workloads.py says what is sent; peers.py lists the peers,
one file each (peer_interpchan.py, peer_queue.py, peer_multiprocessing.py, peer_cpython.py, and
peer_floor.py, the one-copy floor the large copies are judged against); harness.py holds what they
share and ``measure``, one timed run; isolated.py runs each peer in a fresh process of its own;
this file drives the rounds (interleaving the peers, so a slow spell of the machine hits them
all) and keeps a run record (commit, date, machine, command, every round); report.py turns a
record into the tables, the targets, the README block and the chart (docs/bench.png).

Scaling on pure-Python work (N own-GIL sub-interpreters fed by channels against N threads and
one thread) is not measured here: ``python -m interpchan.demo`` runs exactly that comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # the bench modules (also for the far sides that spawn starts)

import peers as peer_registry  # noqa: E402
import report  # noqa: E402
import workloads as wl  # noqa: E402
from harness import Peer, Unsupported  # noqa: E402
from isolated import Processes  # noqa: E402
from peer_floor import reference_copies  # noqa: E402

import interpchan  # noqa: E402


def run_workload(
    workload: wl.Workload, peers: list[Peer], processes: Processes, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Every peer on one workload: a warm-up run each (it sets n), then rounds interleaved.

    A cell holds every round's result ("runs"), their median and their spread (min, max; of the
    p50 for round trips), or why it has none ("skip": cannot run, "error": failed)."""
    cells: dict[str, dict[str, Any]] = {}
    active: list[tuple[Peer, int]] = []
    fixed = workload.n_min == workload.n_max
    for peer in peers:
        cell: dict[str, Any] = {"runs": []}
        cells[peer.key] = cell
        reason = peer.missing()
        if reason is None and workload.numpy and not args.numpy:
            reason = "numpy is not installed"
        if reason:
            cell["skip"] = reason
            continue
        try:
            warm = processes.measure(
                peer.key, workload, 1 if fixed else workload.n_min, args.target
            )
        except Unsupported as exc:
            cell["skip"] = str(exc)
            continue
        except Exception as exc:
            cell["error"] = str(exc)
            print(f"  {peer.key} / {workload.key}: {exc}", file=sys.stderr)
            continue
        cell["leaked_refs"] = warm["leaked_refs"]
        if fixed:  # the same count for every peer, so that peak RSS compares
            n = workload.n_quick if args.quick and workload.n_quick else workload.n_min
        else:
            per_item = max(warm["seconds"], 1e-6) / warm["count"]
            n = max(workload.n_min, min(workload.n_max, int(args.target / per_item)))
        active.append((peer, n))
    budget = args.idle_window if workload.kind == wl.IDLE else 2 * args.target
    for _ in range(args.rounds):
        for peer, n in active:
            cell = cells[peer.key]
            if "error" in cell:
                continue
            try:
                result = processes.measure(peer.key, workload, n, budget)
            except Exception as exc:
                cell["error"] = str(exc)
                print(f"  {peer.key} / {workload.key}: {exc}", file=sys.stderr)
                continue
            cell["n"] = n
            cell["runs"].append(result)
            cell["leaked_refs"] += result["leaked_refs"]
    for cell in cells.values():
        if not cell["runs"]:
            continue
        values = [r["value"] for r in cell["runs"]]
        if workload.kind == wl.ROUND_TRIP:
            cell["median"] = [
                statistics.median(v[0] for v in values),
                statistics.median(v[1] for v in values),
            ]
            values = [v[0] for v in values]
        else:
            cell["median"] = statistics.median(values)
        cell["spread"] = [min(values), max(values)]
        cell["peak_mib"] = statistics.median(r["peak_kib"] for r in cell["runs"]) / 1024
    return cells


def _registered(processes: Processes, peers: list[Peer]) -> dict[str, Any]:
    """Each peer's module registry size (channels or queues alive) in its process."""
    counts = {}
    for peer in peers:
        if peer.missing() is None and not peer.reference:
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
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
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


def commit() -> str:
    """The commit measured, with a mark if the working tree differs from it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return sha + (" with uncommitted changes" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, help="timed rounds per cell (default 5; quick 3)")
    parser.add_argument("--quick", action="store_true", help="short runs: a minute or two")
    keys = [w.key for w in wl.WORKLOADS] + list(wl.GROUPS) + wl.EXTRAS
    parser.add_argument("--only", help="comma-separated workloads or groups: " + ", ".join(keys))
    peer_keys = ", ".join(p.key for p in peer_registry.all_peers())
    parser.add_argument(
        "--peers", help=f"comma-separated peer keys: {peer_keys} (the copy floor always runs)"
    )
    parser.add_argument("--json", type=Path, help="write the run record to this JSON file")
    parser.add_argument("--report", type=Path, help="measure nothing: report the run record FILE")
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="also put the targets and main tables between README.md's bench markers "
        "(measuring: the record goes to docs/bench.json unless --json says otherwise)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        help="also draw the chart to this file (needs matplotlib); with --update-readme the "
        "default is docs/bench.png, README's chart, so that it comes from the same record",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per run at most")
    parser.add_argument("--rss-items", type=int, help="items for the RSS check (default 10M)")
    args = parser.parse_args()
    if args.report:
        results = json.loads(args.report.read_text())
        print(report.markdown(results))
        _publish(results, args, args.report)
        return
    if args.update_readme and not args.json:
        args.json = ROOT / "docs" / "bench.json"
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.target = 0.08 if args.quick else 0.25  # seconds per timed run
    args.idle_window = 0.5 if args.quick else 1.0  # seconds of CPU time counted per idle run
    rss_items = args.rss_items or (1_000_000 if args.quick else 10_000_000)
    try:
        import numpy  # noqa: F401  (only to know whether the peers' processes have it)

        args.numpy = True
    except ImportError:
        args.numpy = False
    workloads, extras = wl.select(args.only)
    peers = peer_registry.all_peers()
    if args.peers:
        wanted = {key.strip() for key in args.peers.split(",")}
        peers = [p for p in peers if p.key in wanted or p.reference]  # the floor always runs

    started = time.perf_counter()
    results: dict[str, Any] = {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "command": shlex.join(["python", "bench/run.py", *sys.argv[1:]]),
        "rounds": args.rounds,
        "quick": args.quick,
        "peers": [
            {
                "key": p.key,
                "name": p.label,
                "between": p.between,
                "recv": p.recv_mode,
                "missing": p.missing(),
                "reference": p.reference,
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
            request = {"op": "rss", "items": rss_items, "timeout": args.timeout}
            results["rss"] = rss.ask("interpchan", request, args.timeout + rss_items / 50_000)
        except Exception as exc:
            results["rss_error"] = str(exc)
            print(f"  rss: {exc}", file=sys.stderr)
        finally:
            rss.close()
    processes = Processes(args.timeout)
    try:
        results["registered_before"] = _registered(processes, peers)
        for workload in workloads:
            print(f"# {workload.key} ...", end="", file=sys.stderr, flush=True)
            began = time.perf_counter()
            for key, cell in run_workload(workload, peers, processes, args).items():
                results["cells"].setdefault(key, {})[workload.key] = cell
            print(f" {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
        results["registered_after"] = _registered(processes, peers)
    finally:
        processes.close()
    if "memcpy" in extras:
        print("# memcpy ...", file=sys.stderr, flush=True)
        samples: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for label, gbps in reference_copies(64 * wl.MIB).items():
                samples.setdefault(label, []).append(gbps)
        results["memcpy"] = {
            label: [statistics.median(v), min(v), max(v)] for label, v in samples.items()
        }
    results["seconds"] = time.perf_counter() - started

    print(report.markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    _publish(results, args, args.json)


def _publish(results: dict[str, Any], args: argparse.Namespace, record: Path | None) -> None:
    """Writes the chart, and the README block if asked."""
    written = None
    if args.chart is None and args.update_readme:
        args.chart = ROOT / "docs" / "bench.png"
    if args.chart is not None and str(args.chart) not in ("", "."):
        written = report.chart(results, args.chart)
        print(f"\nchart: {written}" if written else "\nchart: not written (no matplotlib)")
    if args.update_readme:
        readme = ROOT / "README.md"
        report.update_readme(readme, results, _relative(written), _relative(record))
        print(f"README: tables updated in {readme}")


def _relative(path: Path | None) -> str | None:
    """``path`` relative to the repository, or None if it is outside (then README omits it)."""
    try:
        return path.resolve().relative_to(ROOT).as_posix() if path else None
    except ValueError:
        return None


if __name__ == "__main__":
    main()
