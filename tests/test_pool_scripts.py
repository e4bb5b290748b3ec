"""Whole programs in subprocesses: script classes both ways, the __main__ guard, clean exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 120

PRELUDE = f"""\
import sys
sys.path.insert(0, {TESTS_DIR!r})
import interpchan
import pool_tasks
"""


def write(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "program.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    return script


def run(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT
    )


def no_crash(result: subprocess.CompletedProcess[str]) -> None:
    assert "Fatal Python error" not in result.stderr
    assert "free()" not in result.stderr and "double free" not in result.stderr
    assert result.returncode >= 0 or result.returncode == -signal.SIGINT, result.stderr


def test_script_functions_and_classes_cross_both_ways(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        """
        import dataclasses

        @dataclasses.dataclass
        class Job:
            name: str
            size: int

        @dataclasses.dataclass
        class Done:
            job: Job
            twice: int

        def work(job):
            assert type(job) is Job and Job.__module__ == "__interpchan_main__"
            return Done(job, job.size * 2)

        def relay(rx, tx):
            job = rx.recv(timeout=30)
            tx.send(Done(job, -1))
            return Job("from a spawned worker", 0)

        if __name__ == "__main__":
            with interpchan.Pool(2) as pool:
                done = pool.submit(work, Job("a", 21)).result(60)
                print(type(done) is Done, type(done.job) is Job, done.twice)
                print([d.twice for d in pool.map(work, [Job("b", 1), Job("c", 2)], chunksize=2)])
            jobs_tx, jobs_rx = interpchan.channel()
            done_tx, done_rx = interpchan.channel()
            worker = interpchan.spawn(relay, jobs_rx, done_tx)
            jobs_tx.send(Job("through a channel", 5))
            got = done_rx.recv(timeout=60)
            print(type(got) is Done, got.job.name)
            returned = worker.join(60)
            print(type(returned) is Job, returned.name)
        """,
    )
    result = run(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "True True 42",
        "[2, 4]",
        "True through a channel",
        "True from a spawned worker",
    ]


@pytest.mark.parametrize("starter", ["pool", "spawn"])
def test_a_script_without_the_main_guard_gets_one_clear_error(tmp_path: Path, starter: str) -> None:
    start = {
        "pool": "with interpchan.Pool(2) as pool:\n    print(list(pool.map(work, [1, 2])))\n",
        "spawn": "print(interpchan.spawn(work, 1).join(60))\n",
    }[starter]
    script = write(tmp_path, "def work(x):\n    return x + 1\n\n" + start)
    result = run(script)
    no_crash(result)
    assert result.returncode == 1
    assert 'if __name__ == "__main__":' in result.stderr
    assert result.stderr.count("Traceback") == 1, result.stderr  # one error, not a nest of them
    assert "MainGuardError" in result.stderr
    assert "_DeleteDummyThreadOnDel" not in result.stderr


BLOCKED_WORKERS = """
def block(rx):
    return rx.recv()  # no timeout: only the exit hook can end this

if __name__ == "__main__":
    tx, rx = interpchan.channel()
    started_tx, started_rx = interpchan.channel()
    worker = interpchan.spawn(pool_tasks.report_then_wait, started_tx, rx)
    started_rx.recv(timeout=60)
    pool = interpchan.Pool(2)
    futures = [pool.submit(block, rx) for _ in range(2)]
    print("ready", flush=True)
"""


def test_uncaught_exception_ends_the_process_while_workers_block(tmp_path: Path) -> None:
    script = write(tmp_path, BLOCKED_WORKERS + "    raise RuntimeError('the program failed')\n")
    result = run(script)
    no_crash(result)
    assert result.returncode == 1
    assert "RuntimeError: the program failed" in result.stderr


def test_normal_exit_ends_the_process_while_workers_block(tmp_path: Path) -> None:
    script = write(tmp_path, BLOCKED_WORKERS + "    print('end')\n")
    result = run(script)
    no_crash(result)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ready", "end"]


@pytest.mark.parametrize("where", ["recv", "pool-result"])
def test_one_ctrl_c_ends_the_process(tmp_path: Path, where: str) -> None:
    wait = {
        "recv": "    hold_tx, hold_rx = interpchan.channel()\n    hold_rx.recv()\n",
        "pool-result": "    with interpchan.Pool(1) as other:\n"
        "        other.submit(block, rx).result()\n",
    }[where]
    script = write(tmp_path, BLOCKED_WORKERS + wait)
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        # Whether it lands before the main thread blocks or while it waits, one SIGINT raises
        # KeyboardInterrupt there, and the process must end.
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    no_crash(result)
    assert "KeyboardInterrupt" in stderr
    assert process.returncode in (-signal.SIGINT, 130, 1)


# The main thread waits for worker threads when one SIGINT comes: a helper thread sends it once
# the main thread has released `gate` and then the GIL, which (with this switch interval) it
# keeps until it blocks in that wait. CPython 3.12's Thread.join, interrupted so, takes the
# thread for ended while its interpreter still exists: the process would abort at exit
# ("remaining subinterpreters") if the wait were a Thread.join.
WAITING_FOR_WORKERS = """
def block(rx):
    return rx.recv()  # no timeout: only the exit hook can end this

if __name__ == "__main__":
    import signal, threading

    sys.setswitchinterval(1000)
    gate = threading.Lock()
    gate.acquire()

    def interrupt():
        with gate:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    tx, rx = interpchan.channel()
    started_tx, started_rx = interpchan.channel()
    threading.Thread(target=interrupt, daemon=True).start()
"""


@pytest.mark.parametrize("wait", ["join", "pool-shutdown"])
def test_one_ctrl_c_while_waiting_for_workers_ends_the_process(tmp_path: Path, wait: str) -> None:
    body = {
        "join": "    worker = interpchan.spawn(pool_tasks.report_then_wait, started_tx, rx)\n"
        "    started_rx.recv(timeout=60)\n"
        "    gate.release()\n"
        "    worker.join()\n",
        "pool-shutdown": "    with interpchan.Pool(1) as pool:\n"
        "        pool.submit(pool_tasks.report_then_wait, started_tx, rx)\n"
        "        started_rx.recv(timeout=60)\n"
        "        gate.release()\n",
    }[wait]
    result = run(write(tmp_path, WAITING_FOR_WORKERS + body))
    no_crash(result)
    assert "KeyboardInterrupt" in result.stderr
    assert result.returncode in (-signal.SIGINT, 130, 1)


def test_asyncio_run_in_executor_in_a_program(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        """
        import asyncio

        def cpu(n):
            return sum(i * i for i in range(n))

        async def main():
            loop = asyncio.get_running_loop()
            with interpchan.Pool(2) as pool:
                results = await asyncio.gather(
                    *(loop.run_in_executor(pool, cpu, n) for n in range(5))
                )
            print(results)

        if __name__ == "__main__":
            asyncio.run(main())
        """,
    )
    result = run(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([sum(i * i for i in range(n)) for n in range(5)])
