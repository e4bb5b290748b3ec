"""interpchan against its peers, side by side in one run: the one benchmark command.

    python bench/run.py [--rounds 5] [--quick] [--only WORKLOADS] [--peers KEYS] [--json out.json]

Measures interpchan and every peer available on this Python (queue.Queue between threads,
multiprocessing.Queue and Pipe between spawned processes, CPython's _interpqueues and
_interpchannels between own-GIL sub-interpreters, concurrent.interpreters.Queue on 3.14) on the
same workloads, interleaving the peers round by round; prints markdown tables of medians and
ratios on stdout and, where matplotlib is installed, writes a chart (docs/bench.png).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # far_side, peers, ... (also for the interpreters spawn starts)

import far_side  # noqa: E402
import memcpy  # noqa: E402
import peers as peer_module  # noqa: E402
import report  # noqa: E402
import workloads as wl  # noqa: E402

import interpchan  # noqa: E402


def _settle() -> None:
    """Lets released items come home (CPython's queues release them by a pending call)."""
    gc.collect()
    time.sleep(0.002)
    gc.collect()


def _measure(
    peer: peer_module.Peer,
    workload: wl.Workload,
    n: int,
    timeout: float,
    numpy: Any,
    budget: float = 60.0,
) -> dict[str, Any]:
    """One timed run: its figure in the workload's unit, peak RSS over the start, leaked refs."""
    _settle()
    item = workload.make() if workload.make else None
    refs_before = sys.getrefcount(item)
    far_side.reset_peak_rss()
    base_kib = far_side.status_kib("VmRSS")
    run = None
    samples = None
    if workload.kind == wl.STREAM:
        run = peer.stream(item, n, timeout)
    elif workload.kind == wl.BACK:
        run = peer.stream_back(
            workload.nbytes, n, lambda b: numpy.frombuffer(b, numpy.uint8), timeout
        )
    elif workload.kind == wl.CIRCULATE:
        run = peer.circulate(workload.nbytes, workload.pool, n, timeout)
    else:
        samples = peer.round_trips(n, timeout, budget)
    peak_kib = max(0, far_side.status_kib("VmHWM") - base_kib) + (run.far_peak_kib if run else 0)
    _settle()
    leaked = sys.getrefcount(item) - refs_before
    del item
    count = n
    if run is not None:
        value: Any = wl.rate(workload, n, run.seconds)
        seconds = run.seconds
    else:
        assert samples is not None
        value = [peer_module.percentile(samples, 0.50), peer_module.percentile(samples, 0.99)]
        count = len(samples)  # fewer than n if they took longer than the budget
        seconds = value[0] / 1e6 * count  # by the median: stalls do not shrink the next n
    return {
        "value": value,
        "count": count,
        "seconds": seconds,
        "peak_kib": peak_kib,
        "leaked_refs": leaked,
    }


def _choose_n(workload: wl.Workload, warm: dict[str, Any], target_s: float) -> int:
    per_item = max(warm["seconds"], 1e-6) / warm["count"]
    return max(workload.n_min, min(workload.n_max, int(target_s / per_item)))


def run_workload(
    workload: wl.Workload, peers: list[peer_module.Peer], args: argparse.Namespace, numpy: Any
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
            warm = _measure(peer, workload, n_warm, args.timeout, numpy, args.target)
        except peer_module.Unsupported as exc:
            cell["skip"] = str(exc)
            continue
        except Exception as exc:
            cell["error"] = f"{type(exc).__name__}: {exc}"
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
                result = _measure(peer, workload, n, args.timeout, numpy, 2 * args.target)
            except Exception as exc:
                cell["error"] = f"{type(exc).__name__}: {exc}"
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


def rss_over_items(items: int, timeout: float) -> dict[str, Any]:
    """interpchan, main → own-GIL sub-interpreter: process RSS while ``items`` ints go through,
    and the channels alive in the process before and after."""
    _settle()
    live_before = interpchan._interpchan._live_channels()
    result = _rss_run(items, max(1, items // 10), timeout)
    _settle()
    result["live_channels_before"] = live_before
    result["live_channels_after"] = interpchan._interpchan._live_channels()
    return result


def _rss_run(items: int, every: int, timeout: float) -> dict[str, Any]:
    tx, rx = interpchan.channel(capacity=10_000)
    ready_tx, ready_rx = interpchan.channel()
    with peer_module.Far(
        peer_module.SUBINTERPRETER,
        far_side.ic_rss_drain,
        rx,
        ready_tx,
        items,
        every,
        timeout,
        timeout=max(timeout, items / 100_000),
        on_failure=(tx, rx),
    ) as far:
        far.wait_ready(ready_rx)
        send = tx.send
        start = time.perf_counter()
        for i in range(items):
            send(i)
        samples = far.join()
        seconds = time.perf_counter() - start
    return {"items": items, "every": every, "rss_kib": samples, "seconds": seconds}


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
        import numpy
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
        "registered_before": {},
    }
    # first, while the process is fresh (later workloads leave memory to the allocator)
    if "rss" in extras:
        print(f"# rss over {rss_items} items ...", file=sys.stderr, flush=True)
        results["rss"] = rss_over_items(rss_items, args.timeout)
    for peer in peers:
        if peer.missing() is None:
            results["registered_before"][peer.key] = peer.registered()
    for workload in workloads:
        print(f"# {workload.key} ...", end="", file=sys.stderr, flush=True)
        began = time.perf_counter()
        for key, cell in run_workload(workload, peers, args, numpy).items():
            results["cells"].setdefault(key, {})[workload.key] = cell
        print(f" {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    _settle()
    results["registered_after"] = {p.key: p.registered() for p in peers if p.missing() is None}
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
