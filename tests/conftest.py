"""Shared fixtures: peers (main interpreter, thread, own-GIL sub-interpreter), raw interpreters."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
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


def _own_handles(value: Any) -> Any:
    """value with every handle in it (in lists and tuples too) replaced by a clone."""
    if isinstance(value, (interpchan.Sender, interpchan.Receiver)):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_own_handles(v) for v in value)
    return value


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
            args = _own_handles(args)  # like spawn: the test may close its handles at once

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


@pytest.fixture
def gil_held_until_blocked() -> Iterator[None]:
    """With a huge switch interval a thread holding the GIL keeps it until it blocks.

    So when a test waits for a helper thread (releasing the GIL), it only runs again once that
    thread has blocked inside a call that releases the GIL: no sleeps, no races.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


class Blocked:
    """A call running in a helper thread; with ``gil_held_until_blocked`` it is blocked by the
    time the constructor returns (or it has already finished, which ``done`` tells)."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.outcome: dict[str, Any] = {}
        started = threading.Event()

        def target() -> None:
            started.set()  # the test cannot run before this thread gives the GIL up
            try:
                self.outcome["value"] = call()
            except BaseException as exc:
                self.outcome["error"] = exc

        self.thread = threading.Thread(target=target)
        self.thread.start()
        assert started.wait(JOIN_TIMEOUT)

    @property
    def done(self) -> bool:
        return bool(self.outcome)

    def result(self, timeout: float = JOIN_TIMEOUT) -> Any:
        """The call's value; raises what it raised."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the blocked call did not finish in time"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


@pytest.fixture(params=["main", "thread", "subinterp"])
def peer(request: pytest.FixtureRequest) -> Peer:
    """A peer of each kind: the main interpreter itself, a thread, an own-GIL sub-interpreter."""
    return Peer(request.param)


@pytest.fixture(params=["thread", "subinterp"])
def concurrent_peer(request: pytest.FixtureRequest) -> Peer:
    """A peer that runs concurrently with the test: a thread or an own-GIL sub-interpreter."""
    return Peer(request.param)
