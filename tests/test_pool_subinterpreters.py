"""Pool made inside own-GIL sub-interpreters, and the Worker life cycle (with, ended, select)."""

from __future__ import annotations

import pool_tasks
import pytest

import interpchan
from conftest import run_in_subinterpreter

TIMEOUT = 60


def test_pool_in_a_spawned_worker() -> None:
    worker = interpchan.spawn(pool_tasks.pool_in_worker, 20)
    assert worker.join(TIMEOUT) == [x * x for x in range(20)]


def test_pool_semantics_in_a_raw_sub_interpreter() -> None:
    tx, rx = interpchan.channel()
    import pickle

    run_in_subinterpreter(
        "import pickle, interpchan, pool_tasks, pytest\n"
        f"tx = pickle.loads({pickle.dumps(tx)!r})\n"
        "with interpchan.Pool(2) as pool:\n"
        "    tx.send(pool.submit(pool_tasks.add, 1, 2, scale=3).result(60))\n"
        "    tx.send(sorted(pool.imap_unordered(pool_tasks.square, range(5))))\n"
        "    try:\n"
        "        pool.submit(pool_tasks.raise_value_error, 'in a sub').result(60)\n"
        "    except ValueError as exc:\n"
        "        tx.send(('ValueError', str(exc)))\n"
        "    try:\n"
        "        pool.submit(pool_tasks.die).result(60)\n"
        "    except interpchan.WorkerError:\n"
        "        tx.send('died')\n"
        "    tx.send(pool.submit(pool_tasks.square, 9).result(60))\n"
        "try:\n"
        "    pool.submit(pool_tasks.square, 1)\n"
        "except RuntimeError:\n"
        "    tx.send('shut down')\n"
        "tx.close()\n"
    )
    tx.close()
    assert list(rx) == [9, [0, 1, 4, 9, 16], ("ValueError", "in a sub"), "died", 81, "shut down"]


def test_worker_is_a_context_manager_that_joins() -> None:
    with interpchan.spawn(pool_tasks.square, 7) as worker:
        pass
    assert not worker.is_alive()
    assert worker.join(0) == 49


def test_worker_context_manager_raises_the_workers_error() -> None:
    with pytest.raises(interpchan.WorkerError, match="from the worker"):
        with interpchan.spawn(pool_tasks.raise_value_error, "from the worker"):
            pass


def test_worker_context_manager_keeps_the_bodys_exception() -> None:
    with pytest.raises(KeyError):
        with interpchan.spawn(pool_tasks.raise_value_error, "hidden") as worker:
            raise KeyError("the body's")
    assert not worker.is_alive()


def test_ended_yields_once_then_closes() -> None:
    ok = interpchan.spawn(pool_tasks.square, 3)
    failed = interpchan.spawn(pool_tasks.raise_value_error, "x")
    assert ok.ended.recv(timeout=TIMEOUT) is True
    assert failed.ended.recv(timeout=TIMEOUT) is False
    assert ok.join(TIMEOUT) == 9
    with pytest.raises(interpchan.ChannelClosed):
        ok.ended.recv(timeout=TIMEOUT)
    assert ok.ended.closed


def test_select_waits_on_channels_and_worker_ends_together() -> None:
    results_tx, results_rx = interpchan.channel()
    gate_tx, gate_rx = interpchan.channel()
    worker = interpchan.spawn(pool_tasks.wait_on, gate_rx)
    dying = interpchan.spawn(pool_tasks.raise_value_error, "a worker ends")
    # The failing worker's end arrives while the other still waits and no result came.
    receiver, item = interpchan.select([results_rx, worker.ended, dying.ended], timeout=TIMEOUT)
    assert receiver is dying.ended and item is False
    results_tx.send("a result")
    receiver, item = interpchan.select([results_rx, worker.ended, dying.ended], timeout=TIMEOUT)
    assert receiver is results_rx and item == "a result"
    gate_tx.send("go")
    receiver, item = interpchan.select([results_rx, worker.ended, dying.ended], timeout=TIMEOUT)
    assert receiver is worker.ended and item is True
    assert worker.join(0) == "go"
    results_tx.close()
    # Every receiver is now closed and drained: select says so.
    with pytest.raises(interpchan.ChannelClosed):
        interpchan.select([results_rx, worker.ended, dying.ended], timeout=TIMEOUT)


def test_a_sub_interpreter_that_ends_stops_its_running_pool() -> None:
    gate_tx, gate_rx = interpchan.channel()
    worker = interpchan.spawn(pool_tasks.abandon_pool, gate_rx)
    # The worker returns with its pool running: the interpreter's end stops the pool. The task
    # blocked on gate_rx still holds the interpreter until it gets an item or the channel closes.
    gate_tx.send("released")
    assert worker.join(TIMEOUT) == 16
    gate_tx.close()
