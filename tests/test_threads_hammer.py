"""Many threads at once on the same handle and Buffer objects, every item accounted for.

These are the free-threading checks (docs/free-threading.md): on a free-threaded CPython the
threads really run at the same time; on a GIL build a tiny switch interval interleaves them as
finely as the GIL allows. No assertion depends on how the threads happen to interleave.
"""

from __future__ import annotations

import collections
import struct
import sys
import sysconfig
import threading
from collections.abc import Iterator
from typing import Any

import hammer
import pytest

import interpchan

THREADS = 8
ITEMS = 1500  # per participant
ROUNDS = 300  # of the racing-Buffer test
JOIN = 120.0  # a safety net only


@pytest.fixture(autouse=True)
def fine_switching() -> Iterator[None]:
    """Switch threads as often as possible where there is a GIL (no effect without one)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_the_module_keeps_the_gil_off() -> None:
    """On a free-threaded build, importing interpchan must not turn the GIL back on."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("not a free-threaded CPython")
    assert not sys._is_gil_enabled()  # type: ignore[attr-defined]


def run_threads(targets: list[Any]) -> list[Any]:
    """Runs each callable in its own thread; returns their values (re-raises the first error)."""
    results: list[dict[str, Any]] = [{} for _ in targets]

    def wrap(call: Any, out: dict[str, Any]) -> None:
        try:
            out["value"] = call()
        except BaseException as exc:
            out["error"] = exc

    threads = [
        threading.Thread(target=wrap, args=(t, r)) for t, r in zip(targets, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN)
        assert not thread.is_alive(), "a hammer thread did not finish"
    for out in results:
        if "error" in out:
            raise out["error"]
    return [out["value"] for out in results]


@pytest.mark.parametrize("subinterps", [0, 2], ids=["8-threads", "6-threads-2-subinterps"])
def test_shared_handles_lose_and_duplicate_nothing(subinterps: int) -> None:
    """8 participants share one bounded channel: the same Sender and Receiver objects, clones
    made, published to the others and closed under them, handles pickled and restored, send,
    send_nowait, recv, recv_nowait, recv(timeout=0), select, iteration, Buffers moved. Every
    tagged item arrives exactly once, and each receiver sees each sender's items in order."""
    tx, rx = interpchan.channel(capacity=4)
    done_tx, done_rx = interpchan.channel()
    threads = THREADS - subinterps
    board = hammer.Board(threads)
    workers = [
        interpchan.spawn(hammer.participant, who, tx, rx, ITEMS, done_tx, None, True)
        for who in range(threads, THREADS)
    ]

    def closer() -> None:
        """Once every participant has sent everything, closes the last Senders."""
        finished = sorted(done_rx.recv(timeout=JOIN) for _ in range(THREADS))
        assert finished == list(range(THREADS))
        board.close_all()
        tx.close()

    targets: list[Any] = [
        lambda who=who: hammer.participant(who, tx, rx, ITEMS, done_tx, board)
        for who in range(threads)
    ]
    *results, _ = run_threads([*targets, closer])
    results += [worker.join(JOIN) for worker in workers]

    every: list[tuple[int, int]] = []
    refused = 0
    for got, refusals in results:
        refused += refusals
        every.extend(got)
        by_sender: dict[int, list[int]] = collections.defaultdict(list)
        for who, seq in got:
            by_sender[who].append(seq)
        for seqs in by_sender.values():
            assert seqs == sorted(seqs), "a receiver saw one sender's items out of order"
    counts = collections.Counter(every)
    assert not [tag for tag, n in counts.items() if n > 1], "items received twice"
    expected = {(who, seq) for who in range(THREADS) for seq in range(ITEMS)}
    assert set(counts) == expected, f"{len(expected - set(counts))} items lost"
    assert len(every) == THREADS * ITEMS
    assert rx.closed and len(rx) == 0
    rx.close()
    done_tx.close()
    print(f"\n{len(every)} items, {refused} calls refused by a clone closed under them")


def test_racing_buffer_sends_have_exactly_one_outcome() -> None:
    """8 threads race for one Buffer per round: some send it (alone, or inside a list), some
    take a view of it. Either a view exists first, and then every send raises BufferError, or
    exactly one send wins, and then the other sends raise ValueError and the views fail with
    ValueError. Never both; every Buffer is received exactly once."""
    tx, rx = interpchan.channel()
    buffers: list[interpchan.Buffer] = []
    outcomes = [[""] * THREADS for _ in range(ROUNDS)]

    def new_round() -> None:  # runs in one thread while the others wait at the barrier
        buf = interpchan.Buffer(8)
        struct.pack_into("<q", buf, 0, len(buffers))
        buffers.append(buf)

    start = threading.Barrier(THREADS, action=new_round)
    after = threading.Barrier(THREADS)

    def viewers(round_: int) -> set[int]:
        """The threads that take a view: none in a third of the rounds, one, or two."""
        first = round_ % THREADS
        return [set(), {first}, {first, (first + 3) % THREADS}][round_ % 3]

    def racer(k: int) -> None:
        for round_ in range(ROUNDS):
            start.wait()
            buf = buffers[round_]
            if k in viewers(round_):
                try:
                    view = memoryview(buf)
                except ValueError:
                    outcomes[round_][k] = "view refused"
                    after.wait()
                else:
                    outcomes[round_][k] = "viewed"
                    after.wait()  # held until every sender has tried
                    view.release()
                continue
            try:
                tx.send_nowait(buf if k % 2 else [buf, k])
            except ValueError:
                outcomes[round_][k] = "moved"
            except BufferError:
                outcomes[round_][k] = "refused while viewed"
            else:
                outcomes[round_][k] = "sent"
            after.wait()

    run_threads([lambda k=k: racer(k) for k in range(THREADS)])

    tally: collections.Counter[str] = collections.Counter()
    for round_, row in enumerate(outcomes):
        seen = collections.Counter(row)
        buf = buffers[round_]
        n_viewers = len(viewers(round_))
        n_senders = THREADS - n_viewers
        if seen["viewed"]:
            expected = {"viewed": n_viewers, "refused while viewed": n_senders}
            assert seen == collections.Counter(expected), row
            assert not buf.moved
            tally["viewed first"] += 1
            tx.send(buf)  # every view is gone again: now it moves
        else:
            expected = {"sent": 1, "moved": n_senders - 1, "view refused": n_viewers}
            assert seen == collections.Counter(expected), row
            tally["sent first"] += 1
        assert buf.moved
    tx.close()
    received = []
    for item in rx:
        view = item[0] if isinstance(item, list) else item
        with view:
            (round_,) = struct.unpack("<q", view)
        received.append(round_)
    assert sorted(received) == list(range(ROUNDS))
    print(f"\n{ROUNDS} rounds: {dict(tally)}")


def test_first_pickled_sends_race_in_a_fresh_interpreter() -> None:
    """In a new interpreter, 8 threads send their first pickled items at the same moment."""
    tx, rx = interpchan.channel()
    worker = interpchan.spawn(hammer.first_pickled_sends, tx, THREADS)
    tx.close()
    assert worker.join(JOIN) == THREADS
    got = sorted(item.who for item in rx)
    assert got == list(range(THREADS))


def test_a_buffer_taken_and_given_back_by_many_threads_at_once() -> None:
    """8 threads keep sending one Buffer into a rendezvous channel nobody receives from: each
    send takes the memory, finds no receiver (Full) and gives it back, while other threads try
    the same, or view it. Each call has one of the documented outcomes, and the Buffer ends
    intact, with no view left."""
    tx, rx = interpchan.channel(capacity=0)
    buf = interpchan.Buffer(64)
    buf_view = memoryview(buf)
    buf_view[:] = bytes(range(64))
    buf_view.release()
    calls = 10000
    start = threading.Barrier(THREADS)

    def hammer_buffer(k: int) -> collections.Counter[str]:
        seen: collections.Counter[str] = collections.Counter()
        start.wait()
        for i in range(calls):
            if (k + i) % 4 == 0:
                try:
                    with memoryview(buf) as view:
                        assert view[63] == 63
                    seen["viewed"] += 1
                except ValueError:
                    seen["view refused: in flight"] += 1
                continue
            try:
                tx.send_nowait(buf if i % 2 else [buf])
            except interpchan.Full:
                seen["full: given back"] += 1
            except ValueError:
                seen["refused: in flight"] += 1
            except BufferError:
                seen["refused: viewed"] += 1
        return seen

    tally = sum(
        run_threads([lambda k=k: hammer_buffer(k) for k in range(THREADS)]), collections.Counter()
    )
    assert tally.total() == THREADS * calls
    assert tally["full: given back"] > 0
    assert not buf.moved and len(buf) == 64
    with memoryview(buf) as view:
        assert bytes(view) == bytes(range(64))
    rx.close()
    tx.close()
    print(f"\n{dict(tally)}")


def test_containers_mutated_by_other_threads_while_sent() -> None:
    """A list, a dict and a set that other threads keep changing (items replaced by new
    objects, added, removed) are sent again and again. Each arrives as it was at one moment:
    whole, every element one that was really there, never a dangling or missing one."""
    tx, rx = interpchan.channel()
    shared_list: list[str] = [f"v{i}" for i in range(32)]
    shared_dict: dict[int, str] = {i: f"{i}" for i in range(32)}
    shared_set: set[str] = {f"s{i}" for i in range(32)}
    shared = (shared_list, shared_dict, shared_set)
    rounds = 900
    stop = threading.Event()
    start = threading.Barrier(THREADS)

    def mutate(k: int) -> None:
        n = 0
        start.wait()
        while not stop.is_set():
            n += 1
            i = (n * 7 + k) % 32
            shared_list[i] = f"v{n}"  # the old string dies now
            shared_list.extend([f"v{n}"] * 16)
            del shared_list[32:]
            shared_dict[i] = f"{i}"  # a new, equal string: the old one dies now
            shared_dict.pop((i + 1) % 32, None)
            shared_dict[(i + 1) % 32] = f"{(i + 1) % 32}"
            shared_set.add(f"t{k}:{n}")
            shared_set.discard(f"t{k}:{n}")

    def send(k: int) -> None:
        start.wait()
        try:
            for r in range(rounds):
                tx.send(shared[(k + r) % 3])
        finally:
            stop.set()

    senders = mutators = THREADS // 2
    run_threads([lambda k=k: (send if k < senders else mutate)(k) for k in range(THREADS)])
    tx.close()
    got: collections.Counter[str] = collections.Counter()
    for item in rx:
        got[type(item).__name__] += 1
        if isinstance(item, list):
            # Each extend adds 16 equal strings at once: a real state has whole blocks of them.
            extra = item[32:]
            assert len(item) >= 32 and len(extra) % 16 == 0 and len(extra) <= 16 * mutators
            assert all(len(set(extra[j : j + 16])) == 1 for j in range(0, len(extra), 16)), extra
            assert all(v.startswith("v") for v in item), item
        elif isinstance(item, dict):
            assert 32 - mutators <= len(item) <= 32, item
            assert all(value == f"{key}" for key, value in item.items()), item
        else:
            assert 32 <= len(item) <= 32 + mutators, item
            assert {f"s{i}" for i in range(32)} <= item, item
    assert got == {kind: rounds * senders // 3 for kind in ("list", "dict", "set")}
