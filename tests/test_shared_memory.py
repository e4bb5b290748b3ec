"""SharedBuffer memory: one copy however many interpreters read it, freed with its last holder.

Resident memory (VmRSS in /proc/self/status) is the measure: the test asserts how much it grows
and shrinks, never how long anything takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zlib

import pytest

import interpchan
import shared_workers

SIZE = 256 << 20
READERS = 8
TIMEOUT = 120.0

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="needs /proc/self/status (Linux)"
)


def filled_buffer(nbytes: int) -> interpchan.Buffer:
    """A Buffer whose every page is written (so it is resident), each MiB marked with its offset
    (so a reader looking at the wrong place gets another checksum), with no temporary copy."""
    buf = interpchan.Buffer(nbytes)
    view = memoryview(buf)
    chunk = bytes(range(256)) * 4096
    for offset in range(0, nbytes, len(chunk)):
        view[offset : offset + len(chunk)] = chunk
        view[offset : offset + 8] = offset.to_bytes(8, "little")
    view.release()
    return buf


def test_eight_interpreters_read_one_copy_at_once() -> None:
    work_tx, work_rx = interpchan.channel()
    report_tx, report_rx = interpchan.channel()
    release_tx, release_rx = interpchan.channel()
    workers = [
        interpchan.spawn(shared_workers.checksum_and_hold, work_rx, report_tx, release_rx)
        for _ in range(READERS)
    ]
    work_rx.close()
    report_tx.close()
    release_rx.close()
    assert [report_rx.recv(timeout=TIMEOUT) for _ in workers] == ["ready"] * READERS
    before = shared_workers.rss_bytes()

    buf = filled_buffer(SIZE)
    expected = zlib.crc32(buf)
    shared = buf.share()
    for _ in workers:
        work_tx.send(shared)
    reports = [report_rx.recv(timeout=TIMEOUT) for _ in workers]
    # Every reader holds its view now (each waits for the word to release it).
    during = shared_workers.rss_bytes()

    assert reports == [(expected, SIZE, True, "SharedBuffer")] * READERS
    grown = during - before
    assert grown >= SIZE * 0.9, f"the buffer was not resident? grew by {grown >> 20} MiB"
    assert grown < 2 * SIZE, f"RSS grew by {grown >> 20} MiB for one {SIZE >> 20} MiB buffer"

    for _ in workers:
        release_tx.send("drop")
    assert [report_rx.recv(timeout=TIMEOUT) for _ in workers] == ["released"] * READERS
    assert {w.join(TIMEOUT) for w in workers} == {os.getpid()}
    assert zlib.crc32(shared) == expected  # the maker's handle still reads it


# Run in a fresh process, so that its RSS says only what this memory does. Readers get the
# memory; the main interpreter drops its handle first; then the readers go one by one, in the
# order given, some dropping their view and returning, some returning while they hold it (their
# interpreter is destroyed with the view alive). The memory must stay readable and resident
# until the last one is gone, then the RSS falls back.
FREE_SCRIPT = textwrap.dedent(
    """
    import sys, zlib
    sys.path.insert(0, {tests!r})
    import numpy as np
    import interpchan
    import shared_workers as sw

    SIZE = {size}
    order, drops = {order!r}, {drops!r}
    work_tx, work_rx = interpchan.channel()
    report_tx, report_rx = interpchan.channel()
    releases = [interpchan.channel() for _ in order]
    workers = [
        interpchan.spawn(sw.hold_until_told, work_rx, report_tx, rx, drop)
        for (_, rx), drop in zip(releases, drops)
    ]
    for _, rx in releases:
        rx.close()
    work_rx.close(); report_tx.close()
    base = sw.rss_bytes()
    buf = interpchan.Buffer(SIZE)
    np.frombuffer(buf, dtype=np.uint8)[:] = 7
    shared = buf.share()
    for _ in workers:
        work_tx.send(shared)
    crcs = [report_rx.recv(timeout=120) for _ in workers]
    assert len(set(crcs)) == 1, crcs
    del shared, buf
    rss = [sw.rss_bytes() - base]
    for i in order:
        releases[i][0].send("go")
        assert workers[i].join(120) == (0 if drops[i] else 1)
        rss.append(sw.rss_bytes() - base)
    print(rss)
    """
)


@pytest.mark.parametrize(
    ("order", "drops"),
    [
        ([0, 1, 2], [True, True, True]),
        ([2, 0, 1], [False, False, False]),
        ([1, 2, 0], [True, False, True]),
    ],
    ids=["views-dropped", "interpreters-destroyed-holding", "mixed"],
)
def test_memory_is_freed_when_the_last_holder_is_gone(order: list[int], drops: list[bool]) -> None:
    size = SIZE
    tests = os.path.dirname(os.path.abspath(__file__))
    script = FREE_SCRIPT.format(tests=tests, size=size, order=order, drops=drops)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    rss = [int(x) for x in out.stdout.strip().splitlines()[-1].strip("[]").split(",")]
    # Resident while any holder is left: after the maker's drop and every reader but the last
    # (each reader's interpreter that goes frees some memory of its own: hence the margin).
    for step, grown in enumerate(rss[:-1]):
        assert grown >= size // 2, f"step {step}: only {grown >> 20} MiB resident: {rss}"
    # Freed with the last one.
    assert rss[-1] < size // 4, f"still {rss[-1] >> 20} MiB resident after the last: {rss}"
