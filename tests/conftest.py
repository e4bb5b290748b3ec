"""Shared fixtures: peers (main interpreter, thread, own-GIL sub-interpreter), raw interpreters."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

import interpchan

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

JOIN_TIMEOUT = 60.0


class SubInterpreter:
    """A raw sub-interpreter whose life cycle the test controls (create, exec, close).

    It has its own GIL unless ``own_gil`` is false (then it shares the main interpreter's).
    """

    def __init__(self, own_gil: bool = True) -> None:
        if sys.version_info >= (3, 13):
            import _interpreters as api

            self._api = api
            self.id = api.create("isolated" if own_gil else "legacy")
        else:
            import _xxsubinterpreters as api

            self._api = api
            self.id = api.create(isolated=own_gil)
        self.exec(f"import sys; sys.path[:] = {sys.path!r}")

    def exec(self, source: str) -> None:
        """Run source in the interpreter's __main__; raise RuntimeError if it raised."""
        if sys.version_info >= (3, 13):
            err = self._api.exec(self.id, source)
            if err is not None:
                raise RuntimeError(f"sub-interpreter raised: {getattr(err, 'formatted', err)}")
        else:
            try:
                self._api.run_string(self.id, source)
            except self._api.RunFailedError as exc:
                raise RuntimeError(f"sub-interpreter raised: {exc}") from None

    def close(self) -> None:
        """Destroy the interpreter (its objects, handles included, are released)."""
        if self.id is not None:
            self._api.destroy(self.id)
            self.id = None

    def __enter__(self) -> SubInterpreter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_in_subinterpreter(source: str) -> None:
    """Run source in a fresh own-GIL interpreter and destroy it; raise if the source raised."""
    with SubInterpreter() as interp:
        interp.exec(source)


class Task:
    """Something running a function in a peer; ``join`` returns its value or raises."""

    def __init__(self, join: Callable[[float], Any]) -> None:
        self.join = join


class Peer:
    """Runs module-level functions from tests/workers.py in one kind of peer."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind

    def run(self, func: Callable[..., Any], *args: Any) -> Task:
        if self.kind == "main":
            # Same thread, right now: only for work that cannot block on this test.
            value = func(*args)
            return Task(lambda timeout=JOIN_TIMEOUT: value)
        if self.kind == "thread":
            result: dict[str, Any] = {}

            def target() -> None:
                try:
                    result["value"] = func(*args)
                except BaseException as exc:
                    result["error"] = exc

            thread = threading.Thread(target=target)
            thread.start()

            def join_thread(timeout: float = JOIN_TIMEOUT) -> Any:
                thread.join(timeout)
                assert not thread.is_alive(), "thread did not finish in time"
                if "error" in result:
                    raise result["error"]
                return result["value"]

            return Task(join_thread)
        worker = interpchan.spawn(func, *args)
        return Task(lambda timeout=JOIN_TIMEOUT: worker.join(timeout))


@pytest.fixture(params=["main", "thread", "subinterp"])
def peer(request: pytest.FixtureRequest) -> Peer:
    """A peer of each kind: the main interpreter itself, a thread, an own-GIL sub-interpreter."""
    return Peer(request.param)


@pytest.fixture(params=["thread", "subinterp"])
def concurrent_peer(request: pytest.FixtureRequest) -> Peer:
    """A peer that runs concurrently with the test: a thread or an own-GIL sub-interpreter."""
    return Peer(request.param)
