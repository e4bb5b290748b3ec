"""The benchmark's output: markdown tables (medians and ratios) and a matplotlib chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memcpy import FRESH_NUMPY as FRESH_MEMCPY  # what the one-copy targets compare with

# The ratio columns compare with these peers (the first one that ran).
THROUGHPUT_BASELINES = ["interpqueues", "pep734-queue", "queue"]
LATENCY_BASELINES = ["queue", "interpqueues"]

TABLES = [
    (
        "Streams: main sends, the far side receives",
        ["int", "b64", "b4k", "b1m", "b64m"],
        THROUGHPUT_BASELINES,
    ),
    ("Buffers and arrays", ["buf1m", "buf64m", "np64m", "back64m"], THROUGHPUT_BASELINES),
    ("Blocking round trip", ["rtt"], LATENCY_BASELINES),
]


def _si(value: float) -> str:
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _figure(unit: str, value: float) -> str:
    if unit == "GB/s":
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    if unit == "µs":
        return f"{value:.1f}" if value < 1000 else f"{value / 1000:.1f} ms"
    return _si(value)


def _baseline(results: dict[str, Any], keys: list[str], workload: str) -> tuple[str, Any] | None:
    for key in keys:
        cell = results["cells"].get(key, {}).get(workload, {})
        if "median" in cell:
            return key, cell["median"]
    return None


def _ours(key: str) -> bool:
    """An interpchan row (the peer keys of CPython's channels also begin "interpchan")."""
    return key == "interpchan" or key.startswith("interpchan-")


def _peer_names(results: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: f"{p['name']}, {p['between']}" for p in results["peers"]}


def _ratio(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def _cell_text(cell: dict[str, Any], unit: str, base: Any, latency: bool, no_copy: bool) -> str:
    if "median" not in cell:
        if "error" in cell:
            return "failed"
        return "—"
    median = cell["median"]
    if latency:
        p50, p99 = median
        text = f"{_figure(unit, p50)} / {_figure(unit, p99)}"
        if base:
            text += f" ({_ratio(base[0] / p50)})"
        return text
    text = _figure(unit, median) + (" †" if no_copy else "")
    if base:
        text += f" ({_ratio(median / base)})"
    return text


README_BEGIN = "<!-- bench:begin (written by python bench/run.py --update-readme) -->"
README_END = "<!-- bench:end -->"


def _headline(results: dict[str, Any]) -> str:
    machine = results["machine"]
    thp = machine.get("transparent_hugepages", "?")
    return (
        f"interpchan benchmark: Python {machine['python']}, {machine.get('cpu', '?')}, "
        f"{machine.get('usable_cores', machine['cores'])} cores, "
        f"{machine.get('memory_gib', '?')} GiB, {machine['platform']} (transparent huge pages: "
        f"{thp}), {machine['date']}; {results['rounds']} rounds"
        f"{' (--quick)' if results['quick'] else ''}, medians; {results['seconds']:.0f} s"
    )


def markdown(results: dict[str, Any]) -> str:
    """Every table, with the notes that say what each row did."""
    lines = [_headline(results), ""]
    names = _peer_names(results)
    peers = {p["key"]: p for p in results["peers"]}
    workloads = {w["key"]: w for w in results["workloads"]}
    lines.extend(_target_lines(results))
    for title, keys, baselines in TABLES:
        keys = [k for k in keys if k in workloads]
        if keys:
            lines.extend(_table(results, title, keys, baselines, names))
    lines.extend(_memory_lines(results, names))
    missing = [
        f"{names[k]} ({p['recv']}): {p['missing']}" for k, p in peers.items() if p["missing"]
    ]
    if missing:
        lines.append("Not measured: " + "; ".join(missing) + ".")
        lines.append("")
    lines.extend(_carried_lines(results, workloads))
    failures = [
        f"- failed: {names[key]}, {k}: {cell['error']}"
        for key, cells in results["cells"].items()
        for k, cell in cells.items()
        if "error" in cell
    ]
    lines.extend(failures)
    return "\n".join(lines).rstrip() + "\n"


def readme_block(results: dict[str, Any], chart: str | None) -> str:
    """What README shows between its bench markers: the targets and the main tables."""
    names = _peer_names(results)
    workloads = {w["key"]: w for w in results["workloads"]}
    lines = [README_BEGIN, "", _headline(results) + ":", ""]
    for line in _target_lines(results):
        lines.append(line.replace("### ", "#### "))
    for title, keys, baselines in TABLES:
        keys = [k for k in keys if k in workloads]
        if keys:
            for line in _table(results, title, keys, baselines, names):
                lines.append(line.replace("### ", "#### "))
    if chart:
        lines += [f"![interpchan against its peers]({chart})", ""]
    lines.append(README_END)
    return "\n".join(lines)


def update_readme(readme: Path, results: dict[str, Any], chart: str | None) -> None:
    """Replaces the text between README's bench markers with this run's tables."""
    text = readme.read_text(encoding="utf-8")
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"{readme}: no {README_BEGIN} ... {README_END} markers")
    block = readme_block(results, chart)
    readme.write_text(text[:begin] + block + text[end + len(README_END) :], encoding="utf-8")


def _table(
    results: dict[str, Any],
    title: str,
    keys: list[str],
    baselines: list[str],
    names: dict[str, str],
) -> list[str]:
    workloads = {w["key"]: w for w in results["workloads"]}
    peers = {p["key"]: p for p in results["peers"]}
    latency = keys == ["rtt"]
    bases = {k: _baseline(results, baselines, k) for k in keys}
    base_names = sorted({names[b[0]] for b in bases.values() if b})
    lines = [f"### {title}", ""]
    if base_names:
        how = "how many times faster (p50)" if latency else "the figure"
        lines.append(f"In brackets: {how} relative to {' / '.join(base_names)}.")
    if not latency:
        lines.append("†: no copy (a reference or a shared view handed over, or a Buffer moved).")
    lines.append("")
    headings = [workloads[k]["title"] for k in keys]
    lines.append("| peer | recv | " + " | ".join(headings) + " |")
    lines.append("|---|---|" + "---:|" * len(headings))
    for peer in results["peers"]:
        key = peer["key"]
        if peer["missing"]:
            continue
        cells = results["cells"].get(key, {})
        row = []
        for k in keys:
            no_copy = k in peer["no_copy"]
            base = None
            if bases[k] and bases[k][0] != key:
                # a ratio only between peers that both copy, or both do not
                base_copies = k not in peers[bases[k][0]]["no_copy"]
                if base_copies != no_copy:
                    base = bases[k][1]
            row.append(_cell_text(cells.get(k, {}), workloads[k]["unit"], base, latency, no_copy))
        if all(text == "—" for text in row):
            continue
        lines.append(f"| {names[key]} | {peer['recv']} | " + " | ".join(row) + " |")
    lines.append("")
    return lines


def _median(results: dict[str, Any], peer: str, workload: str) -> Any:
    return results["cells"].get(peer, {}).get(workload, {}).get("median")


def _target_lines(results: dict[str, Any]) -> list[str]:
    """The issue's targets, judged on this run's figures (interpchan to a sub-interpreter)."""
    rows = []

    def check(target: str, measured: str, met: bool) -> None:
        rows.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")

    for key, label in (("int", "ints"), ("b64", "64 B bytes")):
        ours, theirs = _median(results, "interpchan", key), _median(results, "interpqueues", key)
        if ours and theirs:
            check(
                f"small items ({label}): >= 2x _interpqueues busy-polling",
                f"{ours / theirs:.2f}x ({_si(ours)}/s vs {_si(theirs)}/s)",
                ours >= 2 * theirs,
            )
    rtt = _median(results, "interpchan", "rtt")
    if rtt:
        check(
            "blocking round trip p50 <= 10 µs",
            f"{rtt[0]:.1f} µs (p99 {rtt[1]:.1f} µs)",
            rtt[0] <= 10,
        )
    moves = _median(results, "interpchan", "buf64m")
    if moves:
        check("64 MiB Buffer moves >= 100k/s", f"{_si(moves)}/s", moves >= 100_000)
    ours, theirs = _median(results, "interpchan", "b64m"), _median(results, "interpqueues", "b64m")
    if ours and theirs:
        check(
            "64 MiB bytes >= 2x _interpqueues",
            f"{ours / theirs:.2f}x ({ours:.2f} vs {theirs:.2f} GB/s)",
            ours >= 2 * theirs,
        )
    memcpy = results.get("memcpy", {}).get(FRESH_MEMCPY)
    for key, label in (("np64m", "numpy main → far"), ("back64m", "bytearray far → main")):
        ours = _median(results, "interpchan", key)
        if ours and memcpy:
            check(
                f"{label} (one copy) >= half of memcpy into fresh memory ({memcpy:.1f} GB/s)",
                f"{ours:.2f} GB/s = {ours / memcpy:.0%}",
                ours >= memcpy / 2,
            )
    cells = results["cells"].get("interpchan", {})
    if cells:
        refs = sum(c.get("leaked_refs", 0) for c in cells.values())
        before = results["registered_before"].get("interpchan")
        after = results["registered_after"].get("interpchan")
        check(
            "zero leaked references",
            f"{refs} references held, channels alive {before} → {after}",
            refs == 0 and before == after,
        )
    if "rss" in results:
        rss = results["rss"]
        growth = (rss["rss_kib"][-1] - rss["rss_kib"][1]) / 1024
        check(
            f"RSS flat across {rss['items']:,} items",
            f"{growth:+.1f} MiB from the first {rss['every']:,} to the end",
            abs(growth) < 1,
        )
    if not rows:
        return []
    return [
        "### Targets (interpchan, main → own-GIL sub-interpreter, blocking receive)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *rows,
        "",
    ]


def _memory_lines(results: dict[str, Any], names: dict[str, str]) -> list[str]:
    """Peak RSS on the 64 MiB workloads, and what each peer still holds after the run."""
    workloads = {w["key"]: w for w in results["workloads"]}
    peak_keys = [k for k in ("b64m", "np64m", "back64m", "buf64m") if k in workloads]
    headings = [f"peak RSS, {workloads[k]['title'].split(' (')[0]} (MiB)" for k in peak_keys]
    lines = [
        "### Memory and leaks",
        "",
        "Peak RSS: the process's high-water mark over its size at the start of a run (the far "
        "process's too, for multiprocessing), median of the rounds; 64 MiB runs move "
        "6 items (2 with --quick). References: how many more references the sent objects had "
        "after the runs than before, summed over every run (CPython's queues release items by "
        "a pending call into the sending interpreter, and drop those calls past a limit).",
        "",
        "| peer | recv | "
        + "".join(h + " | " for h in headings)
        + "references still held | channels/queues alive before → after |",
        "|---|---|" + "---:|" * (len(headings) + 1) + "---|",
    ]
    seen: set[str] = set()
    for peer in results["peers"]:
        key = peer["key"]
        if peer["missing"]:
            continue
        cells = results["cells"].get(key, {})
        if not any("median" in c for c in cells.values()):
            continue
        peaks = []
        for k in peak_keys:
            peak = cells.get(k, {}).get("peak_mib")
            peaks.append(f"{peak:.0f}" if peak is not None else "—")
        refs = sum(c.get("leaked_refs", 0) for c in cells.values())
        before = results["registered_before"].get(key)
        after = results["registered_after"].get(key)
        registry = f"{before} → {after}" if before is not None else "—"
        family = "interpchan" if _ours(key) else key.split("-")[0]
        if family in seen and before is not None:
            registry = "(as above)"
        elif family == "interpchan":
            registry += " (every interpchan channel in the process)"
        seen.add(family)
        lines.append(
            f"| {names[key]} | {peer['recv']} | "
            + "".join(p + " | " for p in peaks)
            + f"{refs} | {registry} |"
        )
    lines.append("")
    if "memcpy" in results:
        lines += ["### memcpy reference (64 MiB, one thread)", "", "| copy | GB/s |", "|---|---:|"]
        lines += [f"| {label} | {gbps:.2f} |" for label, gbps in results["memcpy"].items()]
        lines.append("")
    if "rss" in results:
        rss = results["rss"]
        kib = rss["rss_kib"]
        lines.append(
            f"RSS while {rss['items']:,} ints go main → own-GIL sub-interpreter through interpchan "
            f"({rss['items'] / rss['seconds'] / 1e6:.2f} M/s, bounded channel): "
            f"{kib[1] / 1024:.1f} MiB after {rss['every']:,}, {kib[-1] / 1024:.1f} MiB at the end "
            f"({(kib[-1] - kib[1]) / 1024:+.1f} MiB); interpchan channels alive before "
            f"{rss['live_channels_before']}, after {rss['live_channels_after']}."
        )
        lines.append("")
    return lines


def _carried_lines(results: dict[str, Any], workloads: dict[str, Any]) -> list[str]:
    """Notes on how each peer carried the buffers, for the kinds it ran."""
    kinds = {
        "circulate": "buffer moves (a pool of 4 circulating; moves counted both ways)",
        "numpy": "numpy main → far",
        "back": "far → main (wrapped with numpy.frombuffer)",
    }
    ran = {"circulate": ["buf1m", "buf64m"], "numpy": ["np64m"], "back": ["back64m"]}
    lines = []
    for kind, title in kinds.items():
        notes = []
        for peer in results["peers"]:
            cells = results["cells"].get(peer["key"], {})
            if kind in peer["carries"] and any("median" in cells.get(k, {}) for k in ran[kind]):
                notes.append(f"{peer['name']}: {peer['carries'][kind]}")
        if notes:
            lines.append(f"- {title}: " + "; ".join(dict.fromkeys(notes)) + ".")
    lines.append(
        "- multiprocessing peers run in processes started with 'spawn' (bytes go by "
        "send_bytes/recv_bytes on a Pipe, everything else is pickled); the others share the "
        "process. CPython's queues and channels cannot block on receive (their blocking calls "
        "sleep 10 ms between tries), so their throughput is measured busy-polling, which burns "
        "a core on the receiving side and suffers badly when other processes want the cores."
    )
    if "buf1m" in workloads or "buf64m" in workloads:
        lines.append(
            "- buffer moves: interpchan's Buffer changes owner (the sender can no longer reach "
            "it); the peers hand over a reference or a shared view by convention."
        )
    return ["Notes:", "", *lines, ""]


def _short_name(peer: dict[str, Any]) -> str:
    where = {
        "main → own-GIL sub-interpreter": "sub-interpreter",
        "main → thread": "thread",
        "main → process (spawn)": "process",
    }.get(peer["between"], peer["between"])
    name = f"{peer['name']}, {where}"
    if peer["recv"] != "blocks":
        name += f" [{peer['recv'].replace('send waits for receipt; recv ', '')}]"
    return name


def chart(results: dict[str, Any], path: Path) -> Path | None:
    """A 2x2 bar chart of the main figures; None if matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [
        ("small items, items/s (higher is better)", ["int", "b64", "b4k"], False),
        ("bytes and arrays, GB/s (higher is better)", ["b1m", "b64m", "np64m", "back64m"], False),
        ("buffer moves/s (higher is better)", ["buf1m", "buf64m"], False),
        ("blocking round trip p50, µs (lower is better)", ["rtt"], True),
    ]
    workloads = {w["key"]: w for w in results["workloads"]}
    fig, axes = plt.subplots(2, 2, figsize=(16, 11))
    for ax, (title, keys, latency) in zip(axes.flat, panels, strict=True):
        keys = [k for k in keys if k in workloads]
        rows = []
        for peer in results["peers"]:
            cells = results["cells"].get(peer["key"], {})
            values = []
            for k in keys:
                median = cells.get(k, {}).get("median")
                values.append((median[0] if latency else median) if median else 0.0)
            if any(values):
                rows.append((peer, values))
        ax.set_title(title, fontsize=10)
        if not rows:
            ax.axis("off")
            continue
        height = 0.8 / len(keys)
        for j, k in enumerate(keys):
            bars = ax.barh(
                [i + j * height for i in range(len(rows))],
                [values[j] for _, values in rows],
                height=height,
                label=workloads[k]["title"],
                color=f"C{j}",
            )
            for bar, (peer, _) in zip(bars, rows, strict=True):
                if k in peer["no_copy"] and not _ours(peer["key"]):
                    bar.set_hatch("//")
                    bar.set_alpha(0.5)
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
        labels = ax.set_yticklabels([_short_name(peer) for peer, _ in rows], fontsize=8)
        for label, (peer, _) in zip(labels, rows, strict=True):
            if _ours(peer["key"]):
                label.set_fontweight("bold")
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.grid(axis="x", which="both", alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=2)
    machine = results["machine"]
    fig.suptitle(
        f"interpchan vs peers: Python {machine['python']}, {machine.get('cpu', '?')}, "
        f"{machine.get('usable_cores', machine['cores'])} cores, {machine['date']}, "
        f"{results['rounds']} rounds{' (--quick)' if results['quick'] else ''}. "
        "Hatched: no copy (a reference or a shared view handed over); "
        "[busy-polls]: receive spins on a core",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
