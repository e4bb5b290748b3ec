"""Stress and soak: producer interpreters, consumer interpreters and threads, every item checked.

    python -m tests.stress --items 10000000     # from the repository root; --help for options

P producers (own-GIL sub-interpreters) send mixed items (ints, small scalars, containers, moved
Buffers, copied bytearrays, pickled objects, Sender handles) over two channels, one bounded and
one unbounded. Consumers (own-GIL sub-interpreters and threads of the main interpreter) take
them with select(), iteration and recv(). Every item carries (producer, seq, kind, check) and a
payload that the consumer rebuilds from (producer, seq) and compares, byte for byte for buffers.
Each Sender item is used by its consumer to send an ack back to its producer, which checks that
it got exactly one ack per handle it sent.

At the end: every item received exactly once (per-producer bitmaps summed over consumers), in
per-sender order on each channel (as each consumer saw it), no corrupted item, no missing or
duplicated ack, no channel and no Buffer left alive (interpchan's own counts, over every
interpreter), and RSS flat from the first half of the traffic to the second. Any failure makes
the command exit non-zero; tests/test_stress.py runs a reduced size in the suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import threading
import time
from typing import Any

import interpchan

TIMEOUT = 300.0  # longest wait for any one item (a loaded 2-core machine can stall for a while)
KINDS = ("int", "scalars", "container", "buffer", "copied", "pickled", "handle")
BIG_BUFFER = 256 << 10  # every 97th Buffer is this big (allocated by mmap: freed pages show)
BACKLOG = 4096  # producers send to the unbounded channel only while it holds fewer items


@dataclasses.dataclass(frozen=True)
class Record:
    """A user class: travels by pickle."""

    producer: int
    seq: int
    check: int


def check_of(producer: int, seq: int) -> int:
    """A 32-bit mix of (producer, seq): the check each item carries and its payload's seed."""
    x = (producer * 0x9E3779B1 + seq * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    return x ^ (x >> 12)


def pattern(check: int, size: int) -> bytes:
    """The bytes a buffer item of this check holds."""
    return (check.to_bytes(4, "little") * (size // 4 + 1))[:size]


def buffer_size(seq: int, check: int) -> int:
    return BIG_BUFFER if seq % 97 == 3 else 64 + check % 2048


def expected(producer: int, seq: int, kind: str, check: int) -> Any:
    """The payload of an item of a native or pickled kind, as the consumer must receive it."""
    if kind == "int":
        return (check << 64) | seq if seq % 2 else check * 1000 + seq  # big and small ints
    if kind == "scalars":
        return (f"s{seq}-é", seq / 7, b"b" * (check % 17), complex(seq, producer), None, True)
    if kind == "container":
        return {
            "seq": seq,
            "list": [producer, seq, [check, (check % 3,)]],
            "set": {seq, producer, "x"},
            "frozen": frozenset({check}),
            "tuple": (seq,) * (check % 5),
        }
    if kind == "pickled":
        return Record(producer, seq, check)
    raise ValueError(kind)


def same(got: Any, want: Any) -> bool:
    """Equal, with the same types all the way down (``{1} == frozenset({1})`` and ``1 == True``
    are not enough)."""
    if type(got) is not type(want):
        return False
    if isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(map(same, got, want))
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    if isinstance(want, (set, frozenset)):  # elements are scalars here: repr tells their types
        return sorted(map(repr, got)) == sorted(map(repr, want))
    return bool(got == want)


def make_payload(producer: int, seq: int, kind: str, check: int, ack: interpchan.Sender) -> Any:
    if kind == "buffer":
        size = buffer_size(seq, check)
        buf = interpchan.Buffer(size)
        memoryview(buf)[:] = pattern(check, size)
        return buf
    if kind == "copied":
        return bytearray(pattern(check, 32 + check % 256))
    if kind == "handle":
        return ack  # the consumer receives a new Sender on this producer's ack channel
    return expected(producer, seq, kind, check)


def produce(
    producer: int, n: int, tx_bounded: interpchan.Sender, tx_unbounded: interpchan.Sender
) -> dict[str, int]:
    """Send items seq 0..n-1, then check the acks for the handle items (taken as they come, so
    that they do not pile up)."""
    ack_tx, ack_rx = interpchan.channel()
    acks = bytearray(n)
    bad_acks = 0

    def take_ack(ack: Any) -> None:
        nonlocal bad_acks
        who, seq = ack
        if who != producer or not 0 <= seq < n or KINDS[seq % len(KINDS)] != "handle":
            bad_acks += 1
        else:
            acks[seq] += 1

    handles = 0
    with tx_bounded, tx_unbounded:
        for seq in range(n):
            check = check_of(producer, seq)
            kind = KINDS[seq % len(KINDS)]
            item = (producer, seq, kind, check, make_payload(producer, seq, kind, check, ack_tx))
            handles += kind == "handle"
            if (seq // 3) % 2 and len(tx_unbounded) < BACKLOG:
                tx_unbounded.send(item, timeout=TIMEOUT)
            else:
                tx_bounded.send(item, timeout=TIMEOUT)
            if seq % 64 == 63:
                while len(ack_rx):
                    take_ack(ack_rx.recv_nowait())
    ack_tx.close()
    with ack_rx:
        while True:
            try:
                take_ack(ack_rx.recv(timeout=TIMEOUT))
            except interpchan.ChannelClosed:  # every ack Sender is closed: all acks are in
                break
    missing_or_duplicated = sum(
        acks[seq] != 1 for seq in range(n) if KINDS[seq % len(KINDS)] == "handle"
    )
    return {"sent": n, "handles": handles, "ack_errors": bad_acks + missing_or_duplicated}


class _Checker:
    """What one consumer saw: bitmaps per producer, last seq per (producer, channel), errors."""

    def __init__(self, counts: list[int]) -> None:
        self.seen = [bytearray(n) for n in counts]
        self.last = [[-1, -1] for _ in counts]
        self.count = 0
        self.kinds = dict.fromkeys(KINDS, 0)
        self.errors: list[str] = []
        self.error_count = 0

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < 20:
            self.errors.append(text)

    def take(self, item: Any, channel: int) -> None:
        self.count += 1
        try:
            producer, seq, kind, check, payload = item
            seen = self.seen[producer]
            seen[seq] += 1  # a second copy here shows as a 2; across consumers when summed
        except Exception as exc:
            self.error(f"malformed item {item!r:.200}: {exc!r}")
            return
        if seen[seq] > 1:
            self.error(f"item {producer}/{seq} received twice by one consumer")
        last = self.last[producer]
        if seq <= last[channel]:
            self.error(f"item {producer}/{seq} after {last[channel]} on channel {channel}")
        last[channel] = seq
        if check != check_of(producer, seq) or kind != KINDS[seq % len(KINDS)]:
            self.error(f"item {producer}/{seq}: bad check {check} or kind {kind!r}")
            return
        self.kinds[kind] += 1
        try:
            ok = self._payload_ok(producer, seq, kind, check, payload)
        except Exception as exc:
            ok = False
            payload = f"{payload!r:.100} ({exc!r})"
        if not ok:
            self.error(f"item {producer}/{seq} ({kind}): payload {payload!r:.200} is wrong")

    @staticmethod
    def _payload_ok(producer: int, seq: int, kind: str, check: int, payload: Any) -> bool:
        if kind == "buffer":
            ok = isinstance(payload, memoryview) and isinstance(payload.obj, interpchan.Buffer)
            ok = ok and payload == pattern(check, buffer_size(seq, check))
            payload.release()
            return ok
        if kind == "copied":
            return isinstance(payload, memoryview) and payload == pattern(check, 32 + check % 256)
        if kind == "handle":
            if not isinstance(payload, interpchan.Sender):
                return False
            with payload:
                payload.send((producer, seq), timeout=TIMEOUT)
            return True
        return same(payload, expected(producer, seq, kind, check))

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "seen": [bytes(s) for s in self.seen],
            "kinds": self.kinds,
            "errors": self.errors,
            "error_count": self.error_count,
        }


def consume(
    mode: str,
    counts: list[int],
    rx_bounded: interpchan.Receiver,
    rx_unbounded: interpchan.Receiver,
    progress: interpchan.Sender,
    every: int,
) -> dict[str, Any]:
    """Receive until both channels are closed and drained; mode: "select" (both channels),
    "iter-bounded" (iterates the bounded one), "recv-unbounded" (recv on the unbounded one)."""
    checker = _Checker(counts)
    receivers = [rx_bounded, rx_unbounded]
    with rx_bounded, rx_unbounded, progress:
        if mode == "select":
            while True:
                try:
                    rx, item = interpchan.select(receivers, timeout=TIMEOUT)
                except interpchan.ChannelClosed:
                    break
                checker.take(item, 0 if rx is rx_bounded else 1)
                if checker.count % every == 0:
                    progress.send(every)
        elif mode == "iter-bounded":
            rx_unbounded.close()
            for item in rx_bounded:
                checker.take(item, 0)
                if checker.count % every == 0:
                    progress.send(every)
        elif mode == "recv-unbounded":
            rx_bounded.close()
            while True:
                try:
                    item = rx_unbounded.recv(timeout=TIMEOUT)
                except interpchan.ChannelClosed:
                    break
                checker.take(item, 1)
                if checker.count % every == 0:
                    progress.send(every)
        else:
            raise ValueError(mode)
        progress.send(checker.count % every)
    return checker.summary()


MODES = ("select", "iter-bounded", "recv-unbounded")


def rss() -> int:
    """Resident set size of this process (all its interpreters), in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@dataclasses.dataclass
class Report:
    """What a run did and found."""

    items: int
    producers: int
    consumer_interpreters: int
    consumer_threads: int
    capacity: int
    wall: float = 0.0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    errors: int = 0
    error_samples: list[str] = dataclasses.field(default_factory=list)
    ack_errors: int = 0
    handles: int = 0
    kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    max_backlog: int = 0
    channels_before: int = 0
    channels_after: int = 0
    buffers_before: int = 0
    buffers_after: int = 0
    rss_start: int = 0
    rss_first_half: int = 0
    rss_second_half: int = 0
    rss_end: int = 0
    rss_limit: int = 0
    rss_by_tenth: list[int] = dataclasses.field(default_factory=list)

    @property
    def rss_growth(self) -> int:
        """Growth of peak RSS from 20-50 % of the traffic to 50-90 % (steady state: the
        interpreters are up, and the consumers have not started to wrap up)."""
        return self.rss_second_half - self.rss_first_half

    @property
    def leaks(self) -> list[str]:
        """Each leak found, on its own: channels or Buffers left alive, RSS growth past the limit
        (see ``rss_growth``)."""
        found = []
        if self.channels_after != self.channels_before:
            found.append(
                f"live channels {self.channels_before} before, {self.channels_after} after"
            )
        if self.buffers_after != self.buffers_before:
            found.append(f"live Buffers {self.buffers_before} before, {self.buffers_after} after")
        if self.rss_growth > self.rss_limit:
            found.append(f"RSS grew {self.rss_growth >> 20} MiB, over the limit")
        return found

    @property
    def ok(self) -> bool:
        return (
            self.received == self.items
            and self.lost == self.duplicated == self.errors == self.ack_errors == 0
            and not self.leaks
            and all(self.kinds.get(kind, 0) > 0 for kind in KINDS)
        )

    def text(self) -> str:
        mib = 1 << 20
        rate = self.items / self.wall if self.wall else 0.0
        kinds = ", ".join(f"{k} {v}" for k, v in self.kinds.items())
        interpreters = self.producers + self.consumer_interpreters
        lines = [
            f"interpchan stress: {self.producers} producer interpreters -> "
            f"{self.consumer_interpreters} consumer interpreters + {self.consumer_threads} "
            f"consumer threads ({interpreters} sub-interpreters; channels: capacity "
            f"{self.capacity} and unbounded)",
            f"Python {sys.version.split()[0]}",
            f"items          {self.items:,} ({kinds})",
            f"wall time      {self.wall:.1f} s, {rate:,.0f} items/s",
            f"received       {self.received:,}; lost {self.lost}, duplicated {self.duplicated}, "
            f"bad (corrupted or out of order) {self.errors}",
            f"handle acks    {self.handles:,} Senders sent and used; ack errors {self.ack_errors}",
            f"backlog        at most {self.max_backlog:,} items waiting",
            f"RSS            start {self.rss_start / mib:.1f} MiB, peak over 20-50 % of the items "
            f"{self.rss_first_half / mib:.1f} MiB, over 50-90 % "
            f"{self.rss_second_half / mib:.1f} MiB, after teardown {self.rss_end / mib:.1f} MiB",
            f"leak checks    live channels {self.channels_before} before, "
            f"{self.channels_after} after; live Buffers {self.buffers_before} before, "
            f"{self.buffers_after} after; RSS growth from 20-50 % to 50-90 % "
            f"{self.rss_growth / mib:+.1f} MiB (limit {self.rss_limit / mib:.0f} MiB)",
        ]
        tenths = " ".join(f"{r / mib:.0f}" for r in self.rss_by_tenth)
        lines.insert(-1, f"RSS by tenth   {tenths} MiB (after each tenth of the items)")
        lines += [f"  error: {e}" for e in self.error_samples]
        lines += [f"  leak: {leak}" for leak in self.leaks]
        lines.append("RESULT: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)


def run(
    items: int,
    producers: int = 4,
    consumer_interpreters: int = 2,
    consumer_threads: int = 2,
    capacity: int = 64,
    rss_limit_mib: int = 32,
    progress_every: int = 0,
) -> Report:
    """Run the stress test and return its report (``report.ok`` says whether it passed)."""
    gc.collect()
    report = Report(items, producers, consumer_interpreters, consumer_threads, capacity)
    report.rss_limit = rss_limit_mib << 20
    report.channels_before = interpchan._interpchan._live_channels()
    report.buffers_before = interpchan._interpchan._live_buffers()
    report.rss_start = rss()
    counts = [items // producers + (p < items % producers) for p in range(producers)]
    every = progress_every or max(256, items // 400)
    start = time.monotonic()

    tx_bounded, rx_bounded = interpchan.channel(capacity)
    tx_unbounded, rx_unbounded = interpchan.channel()
    progress_tx, progress = interpchan.channel()
    consumers: list[Any] = []
    results: list[Any] = [None] * consumer_threads
    threads = []
    n_consumers = consumer_interpreters + consumer_threads
    for c in range(n_consumers):
        mode = MODES[c % len(MODES)] if n_consumers > 1 else "select"
        handles = (rx_bounded, rx_unbounded, progress_tx)
        if c < consumer_interpreters:
            consumers.append(interpchan.spawn(consume, mode, counts, *handles, every))
        else:
            index = c - consumer_interpreters
            clones = [h.clone() for h in handles]

            def target(index: int = index, mode: str = mode, clones: list[Any] = clones) -> None:
                try:
                    results[index] = consume(mode, counts, *clones, every)
                except BaseException as exc:
                    results[index] = exc

            thread = threading.Thread(target=target, name=f"stress-consumer-{index}")
            thread.start()
            threads.append(thread)
    workers = [
        interpchan.spawn(produce, p, counts[p], tx_bounded, tx_unbounded) for p in range(producers)
    ]
    for handle in (tx_bounded, tx_unbounded, progress_tx):
        handle.close()  # the workers and threads hold their own (our Receivers stay, to watch)

    # Watch progress: sample RSS and the backlog, and remember the peaks of each half.
    done = 0
    while True:
        try:
            done += progress.recv(timeout=TIMEOUT)
        except interpchan.ChannelClosed:
            break
        now = rss()
        report.max_backlog = max(report.max_backlog, len(rx_bounded) + len(rx_unbounded))
        while len(report.rss_by_tenth) < 10 and done >= items * (len(report.rss_by_tenth) + 1) / 10:
            report.rss_by_tenth.append(now)
        if items * 0.2 <= done <= items * 0.5:
            report.rss_first_half = max(report.rss_first_half, now)
        elif items * 0.5 < done <= items * 0.9:  # the last tenth: consumers finishing up
            report.rss_second_half = max(report.rss_second_half, now)
    for handle in (rx_bounded, rx_unbounded, progress):
        handle.close()
    summaries = [w.join(TIMEOUT) for w in consumers]
    for thread in threads:
        thread.join(TIMEOUT)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    summaries += results
    produced = [w.join(TIMEOUT) for w in workers]
    report.wall = time.monotonic() - start

    report.received = sum(s["count"] for s in summaries)
    report.errors = sum(s["error_count"] for s in summaries)
    report.error_samples = [e for s in summaries for e in s["errors"]][:20]
    report.kinds = {k: sum(s["kinds"][k] for s in summaries) for k in KINDS}
    report.ack_errors = sum(p["ack_errors"] for p in produced)
    report.handles = sum(p["handles"] for p in produced)
    for p, n in enumerate(counts):
        # Bitmaps of 0/1 bytes, summed as big integers (no carry while every byte stays < 256):
        # exactly once everywhere is a run of n bytes 1.
        total = sum(int.from_bytes(s["seen"][p], "little") for s in summaries)
        per_item = total.to_bytes(n + 1, "little")[:n] if n else b""
        report.lost += per_item.count(0)
        report.duplicated += n - per_item.count(0) - per_item.count(1)
    del summaries, consumers, workers  # Worker objects hold handles until they go
    results.clear()
    gc.collect()
    report.channels_after = interpchan._interpchan._live_channels()
    report.buffers_after = interpchan._interpchan._live_buffers()
    report.rss_end = rss()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.stress",
        description="Stress interpchan with checked items; exit status 1 on any loss or leak.",
    )
    parser.add_argument("--items", type=int, default=200_000, help="items in all (200 000)")
    parser.add_argument("--producers", type=int, default=4, help="producer interpreters (4)")
    parser.add_argument(
        "--consumer-interpreters", type=int, default=2, help="consumer sub-interpreters (2)"
    )
    parser.add_argument(
        "--consumer-threads", type=int, default=2, help="consumer threads in this interpreter (2)"
    )
    parser.add_argument("--capacity", type=int, default=64, help="bounded channel capacity (64)")
    parser.add_argument(
        "--rss-limit-mib", type=int, default=32, help="RSS growth allowed (32): see Report"
    )
    args = parser.parse_args(argv)
    if args.producers < 1 or args.consumer_interpreters + args.consumer_threads < 1:
        parser.error("needs at least one producer and one consumer")
    report = run(
        args.items,
        args.producers,
        args.consumer_interpreters,
        args.consumer_threads,
        args.capacity,
        args.rss_limit_mib,
    )
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    # Run the functions from the module imported under its own name, so that the interpreters
    # and pickles find them as tests.stress (or stress), not __main__.
    import importlib

    real = importlib.import_module(__spec__.name if __spec__ else "stress")
    sys.exit(real.main())
