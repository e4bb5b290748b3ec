"""A run record (run.py's JSON) turned into markdown: the targets, the tables (median and spread
of the rounds, ratios), memory, the copy floors, the README block; and a matplotlib chart.

A target whose figure is missing (not in the run, the peer cannot run here, the run failed)
still has its row, marked **not measured** with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    ("Idle waiters: the process's CPU while 1,000 threads wait on an empty channel", ["idle"], []),
]
FLOOR = "floor"  # the peer key of peer_floor.CopyFloor
COPIES = {
    "b64m": "64 MiB bytes",
    "np64m": "numpy main → far (one copy)",
    "back64m": "bytearray far → main (one copy)",
}

README_BEGIN = "<!-- bench:begin (written by python bench/run.py --update-readme) -->"
README_END = "<!-- bench:end -->"


# ---- figures ----------------------------------------------------------------------------------


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
    if unit == "% of a core":
        return f"{value:.2f} %" if value < 10 else f"{value:.0f} %"
    return _si(value)


def _spread(cell: dict[str, Any]) -> tuple[float, float] | None:
    """(min, max) over the rounds (of the p50 for round trips); None for fewer than 2 rounds."""
    values = [
        r["value"][0] if isinstance(r["value"], list) else r["value"] for r in cell.get("runs", [])
    ]
    return (min(values), max(values)) if len(values) > 1 else None


def _with_spread(cell: dict[str, Any], unit: str) -> str:
    """The median, then [min-max] over the rounds: "6.03 M [5.81 M-6.12 M]"."""
    median = cell["median"]
    text = _figure(unit, median[0] if isinstance(median, list) else median)
    spread = _spread(cell)
    if spread:
        text += f" [{_figure(unit, spread[0])}-{_figure(unit, spread[1])}]"
    return text


def _ratio(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def _cell_text(cell: dict[str, Any], unit: str, base: Any, no_copy: bool) -> str:
    if "error" in cell:
        return "failed"
    if "median" not in cell:
        return "—"
    median = cell["median"]
    text = _with_spread(cell, unit)
    if isinstance(median, list):  # round trip: p50 [spread] / p99
        text += f" / {_figure(unit, median[1])}"
        return text + (f" ({_ratio(base[0] / median[0])})" if base else "")
    return text + (" †" if no_copy else "") + (f" ({_ratio(median / base)})" if base else "")


# ---- what a run record holds --------------------------------------------------------------------


def _names(results: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: f"{p['name']}, {p['between']}" for p in results["peers"]}


def _ours(key: str) -> bool:
    """An interpchan row (the peer keys of CPython's channels begin "interpchannels")."""
    return key == "interpchan" or key.startswith("interpchan-")


def _rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The peers that have table rows: present on this Python, not a floor."""
    return [p for p in results["peers"] if not p["missing"] and not p.get("reference")]


class _NotMeasured(Exception):
    """A target's figure is missing; the message says why."""


def _need(results: dict[str, Any], peer: str, workload: str) -> dict[str, Any]:
    """The cell of ``peer`` on ``workload`` with its median, or _NotMeasured saying why not."""
    if not any(w["key"] == workload for w in results["workloads"]):
        raise _NotMeasured(f"{workload} not in this run")
    info = {p["key"]: p for p in results["peers"]}.get(peer)
    if info is None:
        raise _NotMeasured(f"{peer} not in this run")
    if info["missing"]:
        raise _NotMeasured(f"{info['name']}: {info['missing']}")
    cell = results["cells"].get(peer, {}).get(workload, {})
    if "error" in cell:  # even after some rounds: a figure from the rounds that ran is not judged
        raise _NotMeasured(f"{peer}, {workload} failed: {cell['error'][:100]}")
    if "median" in cell:
        return cell
    raise _NotMeasured(f"{peer}, {workload}: {cell.get('skip', 'no figure')}")


# ---- the targets ------------------------------------------------------------------------------


def _small(key: str) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def judge(results: dict[str, Any]) -> tuple[str, bool]:
        ours, theirs = _need(results, "interpchan", key), _need(results, "interpqueues", key)
        ratio = ours["median"] / theirs["median"]
        return (
            f"{ratio:.2f}x ({_with_spread(ours, '')}/s vs {_with_spread(theirs, '')}/s)",
            ratio >= 2,
        )

    return judge


def _round_trip(results: dict[str, Any]) -> tuple[str, bool]:
    cell = _need(results, "interpchan", "rtt")
    return f"{_cell_text(cell, 'µs', None, False)} µs (p50 [spread] / p99)", cell["median"][0] <= 10


def _moves(results: dict[str, Any]) -> tuple[str, bool]:
    cell = _need(results, "interpchan", "buf64m")
    return f"{_with_spread(cell, 'moves/s')}/s", cell["median"] >= 100_000


def _copy(key: str) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def judge(results: dict[str, Any]) -> tuple[str, bool]:
        ours, floor = _need(results, "interpchan", key), _need(results, FLOOR, key)
        ratio = ours["median"] / floor["median"]
        ours_text, floor_text = _with_spread(ours, "GB/s"), _with_spread(floor, "GB/s")
        text = f"{ours_text} GB/s = {ratio:.2f}x the floor, {floor_text} GB/s"
        return text, ratio >= 1

    return judge


def _references(results: dict[str, Any]) -> tuple[str, bool]:
    cells = [c for c in results["cells"].get("interpchan", {}).values() if c.get("runs")]
    if not cells:
        raise _NotMeasured("no interpchan figure in this run")
    refs = sum(c.get("leaked_refs", 0) for c in cells)
    before = results.get("registered_before", {}).get("interpchan")
    after = results.get("registered_after", {}).get("interpchan")
    return (
        f"{refs} references held, channels alive {before} → {after}",
        refs == 0 and before == after,
    )


def _rss(results: dict[str, Any]) -> tuple[str, bool]:
    if "rss" not in results:
        raise _NotMeasured(
            f"failed: {results['rss_error'][:100]}" if "rss_error" in results else "not in this run"
        )
    rss = results["rss"]
    growth = (rss["rss_kib"][-1] - rss["rss_kib"][1]) / 1024
    text = (
        f"{growth:+.1f} MiB over {rss['items']:,} items, from the first {rss['every']:,} to the end"
    )
    return text, abs(growth) < 1


def _idle(results: dict[str, Any]) -> tuple[str, bool]:
    cell = _need(results, "interpchan-thread", "idle")
    text = f"{_with_spread(cell, '% of a core')} of a core"
    queue = results["cells"].get("queue", {}).get("idle", {})
    if "median" in queue:
        text += f" (queue.Queue.get: {_with_spread(queue, '% of a core')})"
    return text, cell["median"] < 1


TARGETS: list[tuple[str, Callable[[dict[str, Any]], tuple[str, bool]]]] = [
    ("small items (ints): >= 2x _interpqueues busy-polling", _small("int")),
    ("small items (64 B bytes): >= 2x _interpqueues busy-polling", _small("b64")),
    ("blocking round trip p50 <= 10 µs", _round_trip),
    ("64 MiB Buffer moves >= 100k/s", _moves),
    *(
        (f"{label} >= one fresh copy in one process (the floor)", _copy(key))
        for key, label in COPIES.items()
    ),
    ("zero leaked references", _references),
    ("RSS flat while millions of ints go through (10 M; 1 M with --quick)", _rss),
    ("1,000 threads idle in `for x in rx` (main → thread) use < 1% of a core", _idle),
]


def _target_lines(results: dict[str, Any]) -> list[str]:
    """Every target, judged on this run's figures, or marked **not measured**."""
    lines = [
        "### Targets (interpchan, main → own-GIL sub-interpreter unless said, blocking receive)",
        "",
        "| target | measured: median [min-max over the rounds] | met |",
        "|---|---|---|",
    ]
    for label, judge in TARGETS:
        try:
            measured, met = judge(results)
            verdict = "yes" if met else "**no**"
        except _NotMeasured as exc:
            measured, verdict = f"**not measured** ({exc})", "—"
        lines.append(f"| {label} | {measured} | {verdict} |")
    return [*lines, ""]


# ---- tables -------------------------------------------------------------------------------------


def _baseline(results: dict[str, Any], keys: list[str], workload: str) -> tuple[str, Any] | None:
    for key in keys:
        cell = results["cells"].get(key, {}).get(workload, {})
        if "median" in cell and "error" not in cell:
            return key, cell["median"]
    return None


def _table(results: dict[str, Any], title: str, keys: list[str], baselines: list[str]) -> list[str]:
    workloads = {w["key"]: w for w in results["workloads"]}
    peers = {p["key"]: p for p in results["peers"]}
    names = _names(results)
    latency = keys == ["rtt"]
    bases = {k: _baseline(results, baselines, k) for k in keys}
    base_names = sorted({names[b[0]] for b in bases.values() if b})
    lines = [f"### {title}", ""]
    if base_names:
        how = "how many times faster (p50)" if latency else "the figure"
        lines.append(f"In brackets: {how} relative to {' / '.join(base_names)}.")
    lines.append("Each figure: the median of the rounds, then [min-max] over the rounds.")
    if any(workloads[k]["unit"] in ("GB/s", "moves/s") for k in keys):
        lines.append("†: no copy (a reference or a shared view handed over, or a Buffer moved).")
    lines.append("")
    headings = [workloads[k]["title"] for k in keys]
    lines.append("| peer | recv | " + " | ".join(headings) + " |")
    lines.append("|---|---|" + "---:|" * len(headings))
    for peer in _rows(results):
        key = peer["key"]
        cells = results["cells"].get(key, {})
        row = []
        for k in keys:
            no_copy = k in peer["no_copy"]
            base = None
            if bases[k] and bases[k][0] != key:
                # a ratio only between peers that both copy, or both do not
                if (k not in peers[bases[k][0]]["no_copy"]) != no_copy:
                    base = bases[k][1]
            row.append(_cell_text(cells.get(k, {}), workloads[k]["unit"], base, no_copy))
        if any(text != "—" for text in row):
            lines.append(f"| {names[key]} | {peer['recv']} | " + " | ".join(row) + " |")
    return [*lines, ""]


def _tables(results: dict[str, Any]) -> list[str]:
    present = {w["key"] for w in results["workloads"]}
    lines = []
    for title, keys, baselines in TABLES:
        keys = [k for k in keys if k in present]
        if keys:
            lines.extend(_table(results, title, keys, baselines))
    return lines


def _memory_lines(results: dict[str, Any]) -> list[str]:
    """Peak RSS on the 64 MiB workloads, and what each peer still holds after the run."""
    workloads = {w["key"]: w for w in results["workloads"]}
    names = _names(results)
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
    for peer in _rows(results):
        key = peer["key"]
        cells = results["cells"].get(key, {})
        if not any("median" in c for c in cells.values()):
            continue
        peaks = [cells.get(k, {}).get("peak_mib") for k in peak_keys]
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
            + "".join(("—" if p is None else f"{p:.0f}") + " | " for p in peaks)
            + f"{refs} | {registry} |"
        )
    lines.append("")
    if "rss" in results:
        rss = results["rss"]
        kib = rss["rss_kib"]
        lines += [
            f"RSS while {rss['items']:,} ints go main → own-GIL sub-interpreter through interpchan "
            f"({rss['items'] / rss['seconds'] / 1e6:.2f} M/s, bounded channel): "
            f"{kib[1] / 1024:.1f} MiB after {rss['every']:,}, {kib[-1] / 1024:.1f} MiB at the end "
            f"({(kib[-1] - kib[1]) / 1024:+.1f} MiB); interpchan channels alive before "
            f"{rss['live_channels_before']}, after {rss['live_channels_after']}.",
            "",
        ]
    return lines


def _floor_lines(results: dict[str, Any]) -> list[str]:
    """The copy floors of this run: one fresh copy in one process, and the memcpy references."""
    rows = []
    for key, label in COPIES.items():
        cell = results["cells"].get(FLOOR, {}).get(key, {})
        if "median" in cell:
            rows.append(
                f"| `bytes(buffer)`, in the rounds of {label} | {_with_spread(cell, 'GB/s')} |"
            )
    for label, figures in results.get("memcpy", {}).items():
        if isinstance(figures, list):  # [median, min, max]
            median, low, high = (_figure("GB/s", f) for f in figures)
            text = f"{median} [{low}-{high}]"
        else:  # records before the spread was kept
            text = _figure("GB/s", figures)
        rows.append(f"| reference, in the runner's process: {label} | {text} |")
    if not rows:
        return []
    return [
        "### Copy floors (64 MiB, one thread, no channel)",
        "",
        "| copy | GB/s |",
        "|---|---:|",
        *rows,
        "",
    ]


def _notes(results: dict[str, Any]) -> list[str]:
    """Notes on how each peer carried the buffers, for the kinds it ran, and on the method."""
    workloads = {w["key"] for w in results["workloads"]}
    kinds = {
        "circulate": (
            "buffer moves (a pool of 4 circulating; moves counted both ways)",
            ["buf1m", "buf64m"],
        ),
        "numpy": ("numpy main → far", ["np64m"]),
        "back": ("far → main (wrapped with numpy.frombuffer)", ["back64m"]),
    }
    lines = []
    for kind, (title, keys) in kinds.items():
        notes = []
        for peer in _rows(results):
            cells = results["cells"].get(peer["key"], {})
            if kind in peer["carries"] and any("median" in cells.get(k, {}) for k in keys):
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
    if workloads & {"buf1m", "buf64m"}:
        lines.append(
            "- buffer moves: interpchan's Buffer changes owner (the sender can no longer reach "
            "it); the peers hand over a reference or a shared view by convention."
        )
    if workloads & set(COPIES):
        lines.append(
            "- the floor: a received `bytes` (or a buffer copied on send) is fresh memory, so the "
            "large copies are judged against one fresh copy of the same 64 MiB in one process, "
            "`bytes(buffer)`, measured in its own process in the same rounds as the peers."
        )
    if "idle" in workloads:
        lines.append(
            "- idle waiters: 1,000 threads of one interpreter block receiving from an empty "
            "channel (interpchan: `for x in rx`; queue: `get()`); the figure is the process's "
            "CPU time over the wall time of a window (1 s; 0.5 s with --quick), in % of one core."
        )
    return ["Notes:", "", *lines, ""]


# ---- the whole report, and README's part of it -------------------------------------------------


def _rounds(results: dict[str, Any]) -> str:
    rounds = results["rounds"]
    return f"{rounds} round{'s' if rounds != 1 else ''}" + (
        " (--quick)" if results["quick"] else ""
    )


def _headline(results: dict[str, Any]) -> str:
    machine = results["machine"]
    date = results.get("date") or machine.get("date", "date not recorded")
    load = machine.get("load_average")
    cores = machine.get("usable_cores", machine["cores"])
    thp = machine.get("transparent_hugepages", "?")
    return (
        f"interpchan benchmark, commit {results.get('commit', 'not recorded')}, {date}: "
        f"Python {machine['python']}, {machine.get('cpu', '?')}, {cores} cores, "
        f"{machine.get('memory_gib', '?')} GiB, {machine['platform']} "
        f"(transparent huge pages: {thp})"
        + (f", load average {' '.join(map(str, load))} at the start" if load else "")
        + f"; `{results.get('command', 'command not recorded')}`; {_rounds(results)}"
        f"; {results['seconds']:.0f} s"
    )


def markdown(results: dict[str, Any]) -> str:
    """Every table, with the notes that say what each row did."""
    lines = [_headline(results), "", *_target_lines(results), *_tables(results)]
    lines += [*_memory_lines(results), *_floor_lines(results)]
    names = _names(results)
    missing = [
        f"{names[p['key']]} ({p['recv']}): {p['missing']}" for p in results["peers"] if p["missing"]
    ]
    if missing:
        lines += ["Not measured: " + "; ".join(missing) + ".", ""]
    lines.extend(_notes(results))
    for key, cells in results["cells"].items():
        lines += [
            f"- failed: {names[key]}, {k}: {c['error']}" for k, c in cells.items() if "error" in c
        ]
    return "\n".join(lines).rstrip() + "\n"


def readme_block(results: dict[str, Any], chart: str | None, record: str | None) -> str:
    """What README shows between its bench markers: the targets and the main tables."""
    lines = [README_BEGIN, "", _headline(results) + ".", ""]
    if record:
        lines += [f"Run record (every round, the machine, the command): [{record}]({record}).", ""]
    lines += [line.replace("### ", "#### ") for line in _target_lines(results) + _tables(results)]
    if chart:
        lines += [f"![interpchan against its peers]({chart})", ""]
    lines.append(README_END)
    return "\n".join(lines)


def update_readme(
    readme: Path, results: dict[str, Any], chart: str | None, record: str | None
) -> None:
    """Replaces the text between README's bench markers with this run's targets and tables."""
    text = readme.read_text(encoding="utf-8")
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"{readme}: no {README_BEGIN} ... {README_END} markers")
    block = readme_block(results, chart, record)
    readme.write_text(text[:begin] + block + text[end + len(README_END) :], encoding="utf-8")


# ---- the chart ----------------------------------------------------------------------------------


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
    """A 2x2 bar chart of the main figures (medians); None if matplotlib is not installed."""
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
        for peer in _rows(results):
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
            medians = [values[j] for _, values in rows]
            spreads = [_spread(results["cells"][peer["key"]].get(k, {})) for peer, _ in rows]
            low = [m - s[0] if s else 0.0 for m, s in zip(medians, spreads, strict=True)]
            high = [s[1] - m if s else 0.0 for m, s in zip(medians, spreads, strict=True)]
            bars = ax.barh(
                [i + j * height for i in range(len(rows))],
                medians,
                xerr=[low, high],  # the spread over the rounds
                error_kw={"elinewidth": 0.8, "capsize": 2},
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
        f"interpchan vs peers: commit {results.get('commit', '?')[:12]}, "
        f"Python {machine['python']}, "
        f"{machine.get('cpu', '?')}, {machine.get('usable_cores', machine['cores'])} cores, "
        f"{results.get('date') or machine.get('date', '?')}, {_rounds(results)}"
        ", medians, whiskers: min-max over the rounds. "
        "Hatched: no copy (a reference or a shared view handed over); "
        "[busy-polls]: receive spins on a core",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
