"""The benchmark's output: markdown tables (medians and ratios) and a matplotlib chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The ratio columns compare with these peers (the first one that ran).
THROUGHPUT_BASELINES = ["interpqueues", "queue"]
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
        return f"{value:.2f}"
    if unit == "µs":
        return f"{value:.1f}" if value < 1000 else f"{value / 1000:.1f} ms"
    return _si(value)


def _baseline(results: dict[str, Any], keys: list[str], workload: str) -> tuple[str, Any] | None:
    for key in keys:
        cell = results["cells"].get(key, {}).get(workload, {})
        if "median" in cell:
            return key, cell["median"]
    return None


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


def markdown(results: dict[str, Any]) -> str:
    """Every table, with the notes that say what each row did."""
    machine = results["machine"]
    lines = [
        f"interpchan benchmark: Python {machine['python']}, {machine.get('cpu', '?')}, "
        f"{machine.get('usable_cores', machine['cores'])} cores, "
        f"{machine.get('memory_gib', '?')} GiB, {machine['platform']}, {machine['date']}; "
        f"{results['rounds']} rounds{' (--quick)' if results['quick'] else ''}, medians; "
        f"{results['seconds']:.0f} s",
        "",
    ]
    names = _peer_names(results)
    peers = {p["key"]: p for p in results["peers"]}
    workloads = {w["key"]: w for w in results["workloads"]}
    notes: dict[str, str] = {}
    for title, keys, baselines in TABLES:
        keys = [k for k in keys if k in workloads]
        if not keys:
            continue
        latency = keys == ["rtt"]
        bases = {k: _baseline(results, baselines, k) for k in keys}
        base_names = sorted({names[b[0]] for b in bases.values() if b})
        lines.append(f"### {title}")
        lines.append("")
        if base_names:
            how = "how many times faster (p50)" if latency else "the figure"
            lines.append(f"In brackets: {how} relative to {' / '.join(base_names)}.")
        if not latency:
            lines.append(
                "†: no copy (a reference or a shared view handed over, or a Buffer moved)."
            )
        lines.append("")
        headings = [workloads[k]["title"] for k in keys]
        if latency:
            headings.append("peak RSS, 64 MiB bytes (MiB)")
        lines.append("| peer | recv | " + " | ".join(headings) + " |")
        lines.append("|---|---|" + "---:|" * len(headings))
        for key, peer in peers.items():
            cells = results["cells"].get(key, {})
            if peer["missing"]:
                continue
            row = []
            for k in keys:
                cell = cells.get(k, {})
                base = bases[k][1] if bases[k] and bases[k][0] != key else None
                no_copy = k in peer["no_copy"]
                row.append(_cell_text(cell, workloads[k]["unit"], base, latency, no_copy))
                if "error" in cell:
                    notes[f"{key}/{k}"] = f"{names[key]}, {k}: {cell['error']}"
            if latency:
                peak = cells.get("b64m", {}).get("peak_mib")
                row.append(f"{peak:.0f}" if peak is not None else "—")
            if all(text in ("—", "") for text in row):
                continue
            lines.append(f"| {names[key]} | {peer['recv']} | " + " | ".join(row) + " |")
        lines.append("")
    missing = [
        f"{names[k]} ({p['recv']}): {p['missing']}" for k, p in peers.items() if p["missing"]
    ]
    if missing:
        lines.append("Not measured: " + "; ".join(missing) + ".")
        lines.append("")
    lines.extend(_carried_lines(results, workloads))
    lines.extend(_leak_lines(results, names))
    if "memcpy" in results:
        lines.append("### memcpy reference (64 MiB, one thread)")
        lines.append("")
        lines.append("| copy | GB/s |")
        lines.append("|---|---:|")
        for label, gbps in results["memcpy"].items():
            lines.append(f"| {label} | {gbps:.2f} |")
        lines.append("")
    if "rss" in results:
        rss = results["rss"]
        kib = rss["rss_kib"]
        lines.append(
            f"RSS while {rss['items']:,} ints go main → own-GIL sub-interpreter through interpchan "
            f"({rss['items'] / rss['seconds'] / 1e6:.2f} M/s): {kib[1] / 1024:.1f} MiB after "
            f"{rss['every']:,}, {kib[-1] / 1024:.1f} MiB at the end "
            f"({(kib[-1] - kib[1]) / 1024:+.1f} MiB); interpchan channels alive before "
            f"{rss['live_channels_before']}, after {rss['live_channels_after']}."
        )
        lines.append("")
    for note in notes.values():
        lines.append(f"- failed: {note}")
    return "\n".join(lines).rstrip() + "\n"


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
        "a core on the receiving side."
    )
    if "buf1m" in workloads or "buf64m" in workloads:
        lines.append(
            "- buffer moves: interpchan's Buffer changes owner (the sender can no longer reach "
            "it); the peers hand over a reference or a shared view by convention."
        )
    return ["Notes:", "", *lines, ""]


def _leak_lines(results: dict[str, Any], names: dict[str, str]) -> list[str]:
    lines = [
        "### Leak check",
        "",
        "| peer | references still held to sent objects (all runs) "
        "| channels/queues alive before → after |",
        "|---|---:|---|",
    ]
    seen_registries: set[str] = set()
    for peer in results["peers"]:
        key = peer["key"]
        if peer["missing"]:
            continue
        refs = sum(c.get("leaked_refs", 0) for c in results["cells"].get(key, {}).values())
        before = results["registered_before"].get(key)
        after = results["registered_after"].get(key)
        registry = f"{before} → {after}" if before is not None else "—"
        if key == "interpchan" or key.startswith("interpchan-"):
            registry += " (all interpchan channels, control channels included)"
        family = key.split("-")[0]
        if family in seen_registries and before is not None:
            registry = "(same as above)"
        seen_registries.add(family)
        lines.append(f"| {names[key]} ({peer['recv']}) | {refs} | {registry} |")
    lines.append("")
    return lines


def chart(results: dict[str, Any], path: Path) -> Path | None:
    """A 2x2 bar chart of the main figures; None if matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = _peer_names(results)
    panels = [
        ("small items, items/s (higher is better)", ["int", "b64", "b4k"], False),
        ("bytes and arrays, GB/s (higher is better)", ["b1m", "b64m", "np64m", "back64m"], False),
        ("buffer moves/s (higher is better)", ["buf1m", "buf64m"], False),
        ("blocking round trip p50, µs (lower is better)", ["rtt"], True),
    ]
    workloads = {w["key"]: w for w in results["workloads"]}
    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
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
                label = names[peer["key"]] + ("" if peer["recv"] == "blocks" else " *")
                rows.append((label, values))
        ax.set_title(title, fontsize=10)
        if not rows:
            ax.axis("off")
            continue
        height = 0.8 / len(keys)
        for j, k in enumerate(keys):
            ys = [i + j * height for i in range(len(rows))]
            ax.barh(ys, [r[1][j] for r in rows], height=height, label=workloads[k]["title"])
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
        ax.set_yticklabels([r[0] for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.grid(axis="x", which="both", alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=7, loc="lower right")
    machine = results["machine"]
    fig.suptitle(
        f"interpchan vs peers: Python {machine['python']}, {machine.get('cpu', '?')}, "
        f"{machine.get('usable_cores', machine['cores'])} cores, {machine['date']} "
        f"(* receive busy-polls or sleep-polls)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
