"""Pool: a concurrent.futures.Executor of reused own-GIL sub-interpreters (main interpreter)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import operator
import sys
import time

import pool_tasks
import pytest

import interpchan
from interpchan._pool import _RemoteTraceback

TIMEOUT = 60


@pytest.fixture(scope="module")
def pool():
    with interpchan.Pool(2) as pool:
        yield pool


def test_is_an_executor_and_submit_returns_the_value(pool: interpchan.Pool) -> None:
    assert isinstance(pool, concurrent.futures.Executor)
    future = pool.submit(pool_tasks.add, 2, 3, scale=10)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(TIMEOUT) == 50


def test_tasks_run_in_other_interpreters_that_are_reused(pool: interpchan.Pool) -> None:
    markers = {pool.submit(pool_tasks.interpreter_marker).result(TIMEOUT) for _ in range(40)}
    assert id(interpchan.Sender) not in markers
    assert 1 <= len(markers) <= 2  # two workers, started once


def test_map_keeps_order_with_any_chunksize(pool: interpchan.Pool) -> None:
    xs = list(range(103))
    for chunksize in (1, 2, 10, 1000):
        assert list(pool.map(pool_tasks.square, xs, chunksize=chunksize)) == [x * x for x in xs]
    assert list(pool.map(operator.add, [1, 2, 3], [10, 20])) == [11, 22]  # shortest iterable
    assert list(pool.map(pool_tasks.square, [])) == []


_ITERABLES = {
    "list": lambda: list(range(103)),
    "tuple": lambda: tuple(range(-20, 31)),
    "range": lambda: range(3, 100, 7),
    "range backwards": lambda: range(50, -1, -3),
    "empty range": lambda: range(0),
    "empty list": lambda: [],
    "iterator": lambda: iter(range(40)),
    "generator": lambda: (x * 2 for x in range(33)),
}


@pytest.mark.parametrize("make", _ITERABLES.values(), ids=_ITERABLES.keys())
def test_map_and_imap_unordered_chunk_every_kind_of_iterable(pool: interpchan.Pool, make) -> None:
    # Lists, tuples and ranges go out as slices (a range as sub-ranges, not their items); other
    # iterables are read in chunks. Every item is mapped once, and in order by map.
    expected = [x * x for x in make()]
    for chunksize in (1, 4, 10, 1000):
        assert list(pool.map(pool_tasks.square, make(), chunksize=chunksize)) == expected
        unordered = pool.imap_unordered(pool_tasks.square, make(), chunksize=chunksize)
        assert sorted(unordered) == sorted(expected)


def test_a_result_with_a_part_that_is_pickled_comes_back_whole(pool: interpchan.Pool) -> None:
    import fractions

    got = pool.submit(pool_tasks.with_a_fraction, 3).result(TIMEOUT)
    assert got == [3, {"part": fractions.Fraction(1, 3)}]
    chunked = list(pool.map(pool_tasks.with_a_fraction, [4, 5, 6], chunksize=2))
    assert chunked == [[n, {"part": fractions.Fraction(1, n)}] for n in (4, 5, 6)]


def test_map_raises_the_first_error_in_order(pool: interpchan.Pool) -> None:
    results = pool.map(operator.truediv, [1, 2, 3], [1, 0, 1], chunksize=1)
    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_map_timeout(pool: interpchan.Pool) -> None:
    rx_tx, rx = interpchan.channel()
    results = pool.map(pool_tasks.wait_on, [rx], timeout=0.05)
    with pytest.raises(TimeoutError):
        next(results)
    rx_tx.send("released")  # the worker goes on
    rx_tx.close()
    assert pool.submit(pool_tasks.square, 4).result(TIMEOUT) == 16


def test_map_with_buffersize_reads_its_input_lazily_and_keeps_order(pool: interpchan.Pool) -> None:
    """buffersize (as in Python 3.14's executors): at most that many tasks are submitted ahead,
    so an endless iterable works, and results still come in order."""
    taken = 0

    def endless():
        nonlocal taken
        while True:
            taken += 1
            yield taken

    results = pool.map(pool_tasks.square, endless(), buffersize=3)
    assert taken == 3  # the first tasks start at once
    assert [next(results) for _ in range(20)] == [x * x for x in range(1, 21)]
    assert taken <= 20 + 3
    results.close()  # what was submitted ahead is cancelled or finishes; nothing hangs
    pairs = pool.map(operator.add, range(40), range(40), chunksize=4, buffersize=2)
    assert list(pairs) == [2 * x for x in range(40)]
    with pytest.raises(ValueError):
        pool.map(pool_tasks.square, [1], buffersize=0)
    with pytest.raises(TypeError):
        pool.map(pool_tasks.square, [1], buffersize=1.5)


def test_tasks_run_and_futures_resolve_when_nobody_calls_result(pool: interpchan.Pool) -> None:
    """A caller in result() receives outcomes itself; with nobody there, tasks queued beyond the
    workers' window still run, and futures resolve for done(), wait() and callbacks."""
    tx, rx = interpchan.channel()
    futures = [pool.submit(pool_tasks.send_value, tx, i) for i in range(20)]
    assert sorted(rx.recv(timeout=TIMEOUT) for _ in range(20)) == list(range(20))
    deadline = time.monotonic() + TIMEOUT
    while not all(future.done() for future in futures):  # polled, never waited on
        assert time.monotonic() < deadline
        time.sleep(0.001)
    called = []
    more = [pool.submit(pool_tasks.square, i) for i in range(10)]
    more[-1].add_done_callback(called.append)
    _, not_done = concurrent.futures.wait(more, timeout=TIMEOUT)
    assert not not_done and [f.result() for f in more] == [i * i for i in range(10)]
    assert called == [more[-1]]
    tx.close()
    rx.close()


def test_functions_are_kept_by_workers_and_every_task_runs_its_own(pool: interpchan.Pool) -> None:
    """A worker keeps the module-level functions it ran (sent once); with more functions than
    it keeps, interleaved with a function used all the time, each task still runs its own."""
    futures = []
    for n, plus in enumerate(pool_tasks.PLUS):
        futures.append((n + 1000, pool.submit(plus, 1000)))
        futures.append((n * n, pool.submit(pool_tasks.square, n)))
        futures.append((n + 7, pool.submit(operator.add, n, 7)))  # a builtin of a module
    assert [f.result(TIMEOUT) for _, f in futures] == [want for want, _ in futures]
    # Bound methods are sent with their object each time, never kept: each sees it as it is.
    box = {"n": 1}
    assert pool.submit(box.get, "n").result(TIMEOUT) == 1
    box["n"] = 2
    assert pool.submit(box.get, "n").result(TIMEOUT) == 2


def test_a_function_that_cannot_be_found_in_workers_fails_its_tasks_only(
    pool: interpchan.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A function whose name the workers cannot resolve fails each of its tasks (the first one,
    which sends it, and later ones, which name it); the pool goes on."""

    def elsewhere() -> None:
        pass

    elsewhere.__module__ = "pool_tasks"
    elsewhere.__name__ = elsewhere.__qualname__ = "not_in_workers"
    monkeypatch.setattr(pool_tasks, "not_in_workers", elsewhere, raising=False)
    for _ in range(4):
        with pytest.raises(interpchan.ChannelError, match="could not be rebuilt") as caught:
            pool.submit(elsewhere).result(TIMEOUT)
        assert "AttributeError" in str(caught.value.__cause__)
        assert "not_in_workers" in str(caught.value.__cause__)
        assert pool.submit(pool_tasks.square, 3).result(TIMEOUT) == 9


def test_a_future_waited_on_unseen_by_the_pool_still_resolves(pool: interpchan.Pool) -> None:
    """The pool learns of waiters through Future's methods (and wait()'s waiter list); one it
    cannot see (here: Future's own done(), called past the pool's) still gets its outcome, as
    the pool looks for unreceived outcomes every little while when tasks are out."""
    list(pool.map(pool_tasks.square, range(8)))  # every worker ready: nothing else to receive
    for i in range(3):
        future = pool.submit(pool_tasks.square, i)
        deadline = time.monotonic() + TIMEOUT
        while not concurrent.futures.Future.done(future):
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert future.result() == i * i


def test_map_rejects_a_bad_chunksize(pool: interpchan.Pool) -> None:
    with pytest.raises(ValueError):
        pool.map(pool_tasks.square, [1], chunksize=0)


def test_imap_unordered_yields_every_result(pool: interpchan.Pool) -> None:
    for chunksize in (1, 7):
        got = list(pool.imap_unordered(pool_tasks.square, range(50), chunksize=chunksize))
        assert sorted(got) == [x * x for x in range(50)]


def test_imap_unordered_gives_fast_results_before_slow_ones(pool: interpchan.Pool) -> None:
    gate_tx, gate_rx = interpchan.channel()
    ready_tx, ready_rx = interpchan.channel()
    ready_tx.send("fast")
    results = pool.imap_unordered(pool_tasks.wait_on, [gate_rx, ready_rx])
    assert next(results) == "fast"  # while the first task still waits
    gate_tx.send("late")
    assert list(results) == ["late"]


def test_errors_come_back_with_their_type_and_the_remote_traceback(pool) -> None:
    future = pool.submit(pool_tasks.raise_value_error, "remote message")
    with pytest.raises(ValueError, match="remote message") as info:
        future.result(TIMEOUT)
    cause = info.value.__cause__
    assert isinstance(cause, _RemoteTraceback)
    assert "raise_value_error" in str(cause) and "Traceback" in str(cause)
    assert pool.submit(pool_tasks.square, 3).result(TIMEOUT) == 9  # the worker goes on


def test_an_exception_that_cannot_be_rebuilt_is_a_worker_error(pool) -> None:
    with pytest.raises(interpchan.WorkerError) as info:
        pool.submit(pool_tasks.raise_unrebuildable).result(TIMEOUT)
    assert info.value.remote_type == "pool_tasks.Unrebuildable"
    assert "1+2" in str(info.value)


def test_system_exit_comes_back_and_the_worker_goes_on(pool) -> None:
    with pytest.raises(SystemExit) as info:
        pool.submit(pool_tasks.raise_system_exit, 3).result(TIMEOUT)
    assert info.value.code == 3
    assert [pool.submit(pool_tasks.square, 5).result(TIMEOUT) for _ in range(4)] == [25] * 4


def test_unsendable_arguments_and_results(pool: interpchan.Pool) -> None:
    with pytest.raises(TypeError):
        pool.submit(pool_tasks.square, lambda: 1).result(TIMEOUT)
    with pytest.raises(TypeError):
        pool.submit(lambda: 1).result(TIMEOUT)
    with pytest.raises(TypeError):
        pool.submit(pool_tasks.return_lambda).result(TIMEOUT)
    assert pool.submit(pool_tasks.square, 6).result(TIMEOUT) == 36


def test_buffers_move_to_workers_and_back(pool: interpchan.Pool) -> None:
    buf = interpchan.Buffer(1000)
    memoryview(buf)[:] = bytes([2]) * 1000
    assert pool.submit(pool_tasks.sum_buffer, buf).result(TIMEOUT) == 2000
    assert buf.moved
    view = pool.submit(pool_tasks.fill_buffer, 64, 7).result(TIMEOUT)
    assert isinstance(view, memoryview) and view.tobytes() == bytes([7]) * 64


def test_handles_are_handles(pool: interpchan.Pool) -> None:
    tx, rx = interpchan.channel()
    future = pool.submit(pool_tasks.wait_on, rx)
    tx.send({"through": "a channel"})
    assert future.result(TIMEOUT) == {"through": "a channel"}


def test_workers_start_with_the_callers_sys_path() -> None:
    sys.path.append("/interpchan-test-path")
    try:
        with interpchan.Pool(1) as pool:
            path, pid = pool.submit(pool_tasks.path_and_pid).result(TIMEOUT)
    finally:
        sys.path.remove("/interpchan-test-path")
    assert path[-1] == "/interpchan-test-path"
    assert pid == __import__("os").getpid()  # same process: interpreters, not processes


def test_replacement_workers_keep_the_sys_path_of_the_pools_start() -> None:
    with interpchan.Pool(1, max_tasks_per_worker=1) as pool:
        first, _ = pool.submit(pool_tasks.path_and_pid).result(TIMEOUT)
        sys.path.append("/interpchan-added-later")
        try:
            # Each task runs in a new worker (one task per worker), started after the change.
            later = [pool.submit(pool_tasks.path_and_pid).result(TIMEOUT)[0] for _ in range(2)]
        finally:
            sys.path.remove("/interpchan-added-later")
    assert later == [first, first]
    assert "/interpchan-added-later" not in later[0]


def test_cancel_and_wait_and_as_completed(pool: interpchan.Pool) -> None:
    gate_tx, gate_rx = interpchan.channel()
    blockers = [pool.submit(pool_tasks.wait_on, gate_rx) for _ in range(6)]  # fill and queue
    queued = pool.submit(pool_tasks.square, 2)
    assert queued.cancel()  # not started: two workers, two tasks sent ahead to each at most
    for _ in blockers:
        gate_tx.send("go")
    done, not_done = concurrent.futures.wait(blockers, timeout=TIMEOUT)
    assert not not_done and {f.result() for f in done} == {"go"}
    assert queued.cancelled()
    futures = [pool.submit(pool_tasks.square, i) for i in range(10)]
    assert sorted(f.result() for f in concurrent.futures.as_completed(futures, TIMEOUT)) == [
        i * i for i in range(10)
    ]


def test_initializer_runs_once_in_each_worker() -> None:
    with interpchan.Pool(2, initializer=pool_tasks.setup, initargs=("ready",)) as pool:
        assert {pool.submit(pool_tasks.initialized_value).result(TIMEOUT) for _ in range(10)} == {
            "ready"
        }


def test_initializer_raising_breaks_the_pool() -> None:
    pool = interpchan.Pool(2, initializer=pool_tasks.setup_fails)
    future = pool.submit(pool_tasks.square, 2)
    with pytest.raises(interpchan.WorkerError) as info:
        future.result(TIMEOUT)
    assert "initializer failed on purpose" in str(info.value)
    with pytest.raises(interpchan.WorkerError):
        pool.submit(pool_tasks.square, 2)
    pool.shutdown()


def test_max_tasks_per_worker_replaces_workers() -> None:
    with interpchan.Pool(1, max_tasks_per_worker=3) as pool:
        seen = [pool.submit(pool_tasks.count_calls).result(TIMEOUT) for _ in range(7)]
    counts = [count for _, count in seen]
    assert counts == [1, 2, 3, 1, 2, 3, 1]
    assert len({marker for marker, _ in seen}) >= 2  # more than one interpreter


def test_a_dying_worker_fails_its_task_and_is_replaced() -> None:
    with interpchan.Pool(1) as pool:
        assert pool.submit(pool_tasks.square, 2).result(TIMEOUT) == 4
        with pytest.raises(interpchan.WorkerError, match="died"):
            pool.submit(pool_tasks.die).result(TIMEOUT)
        after = [pool.submit(pool_tasks.square, i) for i in range(5)]
        assert [f.result(TIMEOUT) for f in after] == [0, 1, 4, 9, 16]


def test_tasks_queued_behind_a_dying_task_still_run() -> None:
    with interpchan.Pool(1) as pool:
        dying = pool.submit(pool_tasks.die)
        behind = [pool.submit(pool_tasks.square, i) for i in range(4)]
        with pytest.raises(interpchan.WorkerError):
            dying.result(TIMEOUT)
        assert [f.result(TIMEOUT) for f in behind] == [0, 1, 4, 9]


def test_workers_that_cannot_start_break_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every new interpreter fails before it runs the worker.
    monkeypatch.setattr(
        interpchan._spawn,
        "_BOOTSTRAP",
        "raise ImportError('no start')\n" + interpchan._spawn._BOOTSTRAP,
    )
    pool = interpchan.Pool(1)
    with pytest.raises(interpchan.WorkerError, match="cannot start"):
        pool.submit(pool_tasks.square, 3).result(TIMEOUT)
    with pytest.raises(interpchan.WorkerError):
        pool.submit(pool_tasks.square, 3)
    pool.shutdown()


def test_a_worker_that_fails_to_start_once_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    original = interpchan._spawn._BOOTSTRAP
    monkeypatch.setattr(
        interpchan._spawn, "_BOOTSTRAP", "raise ImportError('no start')\n" + original
    )
    with interpchan.Pool(1) as pool:
        monkeypatch.setattr(interpchan._spawn, "_BOOTSTRAP", original)  # replacements start
        assert pool.submit(pool_tasks.square, 3).result(TIMEOUT) == 9


def test_shutdown_drains_and_then_submit_raises() -> None:
    pool = interpchan.Pool(2)
    futures = [pool.submit(pool_tasks.spin, 20_000) for _ in range(12)]
    pool.shutdown(wait=True)
    assert all(f.done() and not f.cancelled() for f in futures)
    assert len({f.result() for f in futures}) == 1
    with pytest.raises(RuntimeError):
        pool.submit(pool_tasks.square, 1)
    pool.shutdown()  # again: nothing happens


def test_shutdown_cancel_futures_cancels_what_waits() -> None:
    gate_tx, gate_rx = interpchan.channel()
    pool = interpchan.Pool(1)
    running = pool.submit(pool_tasks.wait_on, gate_rx)
    waiting = [pool.submit(pool_tasks.square, i) for i in range(10)]
    pool.shutdown(wait=False, cancel_futures=True)
    gate_tx.send("go")
    assert running.result(TIMEOUT) == "go"
    pool.shutdown(wait=True)
    assert any(f.cancelled() for f in waiting)  # all but those sent ahead to the worker
    for f in waiting:
        assert f.cancelled() or f.result() in {0, 1}


def test_leaving_the_block_waits_for_the_tasks() -> None:
    with interpchan.Pool(2) as pool:
        futures = [pool.submit(pool_tasks.spin, 10_000) for _ in range(6)]
    assert all(f.done() for f in futures)
    with pytest.raises(RuntimeError):
        pool.submit(pool_tasks.square, 1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        interpchan.Pool(0)
    with pytest.raises(TypeError):
        interpchan.Pool("2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        interpchan.Pool(1, max_tasks_per_worker=0)
    with pytest.raises(TypeError):
        interpchan.Pool(1, initializer=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        interpchan.Pool(1, initializer=lambda: None)


def test_run_in_executor(pool: interpchan.Pool) -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        return list(
            await asyncio.gather(
                *(loop.run_in_executor(pool, pool_tasks.square, i) for i in range(8))
            )
        )

    assert asyncio.run(main()) == [i * i for i in range(8)]
