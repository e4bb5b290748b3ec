"""Every example runs and prints what it says; the README shows the first one verbatim; the demo."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from interpchan import _interpchan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "move_arrays.py")


def test_readme_shows_the_example_verbatim() -> None:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(EXAMPLE, encoding="utf-8") as f:
        assert f.read() in readme


def test_example_prints_what_the_readme_says() -> None:
    result = subprocess.run(
        [sys.executable, EXAMPLE], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.splitlines() == [
        "[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]",
        "True 0",
        "[2.0, 4.0, 6.0, 8.0]",
    ]


def test_demo_runs_and_checksums_agree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "interpchan.demo", "--chunks", "6", "--chunk-kib", "64"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checksums agree in all modes: yes" in result.stdout
    assert "Buffers moved to sub-interpreters without a copy: 6 of 6" in result.stdout
    assert "interpchan.Pool.map" in result.stdout
    assert "Buffers moved to Pool workers as task arguments: 6 of 6" in result.stdout


def run_example(name: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", name)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout.splitlines()


def test_word_count_example() -> None:
    assert run_example("word_count.py") == [
        "words: 240000",
        "agrees with one thread: True",
        "most common: ['channel', 'its', 'moves']",
    ]


def test_restart_service_example() -> None:
    assert run_example("restart_service.py") == [
        "replies: ['HELLO', 'WORLD', 'INTERPRETERS', 'CHANNELS', 'BYE']",
        "workers crashed (and were replaced while work remained): 3",
    ]


def test_asyncio_offload_example() -> None:
    assert run_example("asyncio_offload.py") == [
        "fib: [6765, 10946, 17711, 28657]",
        "the event loop ran meanwhile: True",
    ]


def test_every_example_is_tested() -> None:
    with open(__file__, encoding="utf-8") as f:
        source = f.read()
    for name in os.listdir(os.path.join(ROOT, "examples")):
        if name.endswith(".py"):
            assert f'"{name}"' in source or name == os.path.basename(EXAMPLE), name


def test_async_server_example() -> None:
    assert run_example("async_server.py") == ["[[4, 25], [168, 1229], [9592]]"]


@pytest.mark.skipif(
    not hasattr(_interpchan, "_bridge_sender"), reason="extension built without the bridge feature"
)
@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_bridge_pipeline_example(transport: str) -> None:
    # 3 processes over ipc:// or tcp://127.0.0.1. 20000 items: far more than the bridges'
    # buffers hold, so back-pressure engages and the stages end with full queues downstream.
    n = 20_000
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "bridge_pipeline.py"), transport, str(n)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    total = sum(i * i for i in range(n))
    assert result.stdout.splitlines() == [
        f"sink: {n} results, sum of squares {total}, from 1 process(es)"
    ]
