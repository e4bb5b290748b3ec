"""Pool: a concurrent.futures.Executor whose workers are reused own-GIL sub-interpreters."""

from __future__ import annotations

import collections
import itertools
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, as_completed
from typing import Any

from . import _exit, _pool_worker, _spawn
from ._interpchan import ChannelClosed, Sender, channel
from ._spawn import MainGuardError, WorkerError
from ._worker import GUARD_MESSAGE

# Tasks sent ahead to each worker, so that it finds the next one waiting when it finishes one.
_PREFETCH = 2
# Workers in a row that end before they are ready: the pool cannot start workers; it is broken.
_START_FAILURES_BEFORE_BROKEN = 3


class _RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker (chained as ``__cause__``)."""

    def __str__(self) -> str:
        return "\n\n" + str(self.args[0])


class _Task:
    __slots__ = ("args", "fn", "future", "kwargs", "running", "tid")

    def __init__(self, tid: int, future: Future[Any], fn: Any, args: Any, kwargs: Any) -> None:
        self.tid, self.future, self.fn, self.args, self.kwargs = tid, future, fn, args, kwargs
        self.running = False


class _Slot:
    """One worker as the pool sees it: its task channel and the tasks sent to it, in order."""

    __slots__ = ("assigned", "ready", "retiring", "sent", "task_tx", "worker")

    def __init__(self, task_tx: Sender) -> None:
        self.task_tx = task_tx
        self.assigned: collections.deque[_Task] = collections.deque()
        self.sent = 0
        self.ready = False
        self.retiring = False  # it ran max_tasks_per_worker tasks: it ends, and is replaced
        self.worker: _spawn.Worker | None = None


def _load(slot: _Slot) -> int:
    """How busy a worker is for dispatch: tasks sent ahead, or no room at all."""
    if slot.task_tx.closed:
        return _PREFETCH
    return len(slot.assigned)


def _cpu_count() -> int:
    count = getattr(os, "process_cpu_count", None)
    if count is not None:
        return int(count() or 1)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def rebuild_error(payload: tuple[bytes | None, str, str]) -> BaseException:
    """The exception a worker reported: the same type if it unpickles here, else WorkerError."""
    blob, text, type_name = payload
    exc: BaseException | None = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = WorkerError(text, type_name)
    exc.__cause__ = _RemoteTraceback(text)
    return exc


class Pool(Executor):
    """A ``concurrent.futures.Executor`` running tasks in own-GIL sub-interpreters.

    Workers start once (each an interpreter on a thread of its own) and are reused; tasks,
    arguments and results travel as channel items. ``workers=None`` means one per CPU this
    process may use. ``initializer(*initargs)`` runs once in each worker; if it raises, the
    pool is broken (futures and later submits raise :class:`WorkerError`).
    ``max_tasks_per_worker`` replaces a worker after that many tasks. A worker whose interpreter
    dies is replaced; the task it was running fails with :class:`WorkerError`.

    >>> import interpchan, operator
    >>> with interpchan.Pool(2) as pool:
    ...     list(pool.map(operator.mul, [1, 2, 3], [4, 5, 6]))
    [4, 10, 18]
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        initializer: Callable[..., Any] | None = None,
        initargs: Iterable[Any] = (),
        max_tasks_per_worker: int | None = None,
    ) -> None:
        _spawn._check_not_loading_main()
        self._size = _positive("workers", _cpu_count() if workers is None else workers)
        if max_tasks_per_worker is not None:
            _positive("max_tasks_per_worker", max_tasks_per_worker)
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be callable")
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._max_tasks = max_tasks_per_worker
        # Every worker, replacements included, starts with sys.path as it is now.
        self._path = _spawn._search_path()
        probe_tx, probe_rx = channel()
        with probe_tx, probe_rx:  # TypeError now if the initializer cannot reach the workers
            probe_tx.send_nowait((initializer, self._initargs))
        self._lock = threading.RLock()
        self._pending: collections.deque[_Task] = collections.deque()
        self._slots: dict[int, _Slot] = {}
        self._threads: list[_spawn.Worker] = []
        self._wids = itertools.count()
        self._tids = itertools.count()
        self._shutdown = False
        self._broken: BaseException | None = None
        self._start_failures = 0
        self._results_tx, self._results_rx = channel()
        # Not a daemon (sub-interpreters allow none): the exit hook closes its channel, it ends.
        self._collector = threading.Thread(target=self._collect, name="interpchan-pool")
        self._collected = threading.Event()  # the collector is done: every worker has ended
        with self._lock:
            for _ in range(self._size):
                self._start_worker()
        self._collector.start()
        _exit.register(self)

    # -- workers ----------------------------------------------------------------------------

    def _start_worker(self) -> None:
        """Starts one worker (called with the lock held)."""
        wid = next(self._wids)
        task_tx, task_rx = channel()
        slot = _Slot(task_tx)
        self._slots[wid] = slot
        try:
            with task_rx:
                worker = _spawn._start(
                    _pool_worker.serve,
                    (
                        wid,
                        task_rx,
                        self._results_tx,
                        self._initializer,
                        self._initargs,
                        self._max_tasks,
                    ),
                    {},
                    on_end=lambda worker: self._worker_ended(wid, worker),
                    path=self._path,
                )
        except BaseException:
            del self._slots[wid]
            task_tx.close()
            raise
        slot.worker = worker
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(worker)

    def _worker_ended(self, wid: int, worker: _spawn.Worker) -> None:
        """On the worker's own thread, once its interpreter is gone: tell the collector."""
        try:
            worker.join(0)
            detail = "it ended"
        except BaseException as exc:
            detail = str(exc)
        try:
            self._results_tx.send(("exit", wid, None, detail))
        except ChannelClosed:
            pass  # the pool is finished, or this interpreter is exiting

    # -- the collector thread: outcomes, worker ends ------------------------------------------

    def _collect(self) -> None:
        try:
            while True:
                try:
                    message = self._results_rx.recv()
                except ChannelClosed:
                    return
                if not self._handle(message):
                    return
        finally:
            try:
                self._finish()
            finally:
                self._collected.set()

    def _handle(self, message: tuple[str, int, int | None, Any]) -> bool:
        """Handles one message; False once the pool is shut down and every worker has ended."""
        kind, wid, _tid, payload = message
        failed: list[tuple[_Task, BaseException]] = []
        done: _Task | None = None
        with self._lock:
            slot = self._slots.get(wid)
            if kind == "exit":
                failed = self._worker_gone(wid, str(payload))
            elif slot is None:
                pass  # a worker the pool already gave up on (broken pool)
            elif kind == "ready":
                slot.ready = True
                self._start_failures = 0
            elif kind in ("init", "guard"):
                failed = self._break(self._broken_error(kind, payload))
            elif slot.assigned:
                done = slot.assigned.popleft()
                if not self._has_room(slot) and not slot.assigned:
                    # Its last task is done: its successor starts now, while it ends.
                    slot.retiring = True
                    self._replace()
            self._dispatch()
            finished = self._shutdown and not self._slots
        if done is not None:
            self._resolve(done, kind, payload)
        for task, exc in failed:
            _set_exception(task.future, exc)
        return not finished

    def _broken_error(self, kind: str, payload: Any) -> BaseException:
        if kind == "guard":
            return MainGuardError(GUARD_MESSAGE)
        exc = WorkerError(
            "the pool is broken: its initializer raised in a worker:\n" + payload[1], payload[2]
        )
        exc.__cause__ = rebuild_error(payload)
        return exc

    def _worker_gone(self, wid: int, detail: str) -> list[tuple[_Task, BaseException]]:
        """A worker's interpreter ended (lock held): fail its running task, replace it."""
        slot = self._slots.pop(wid, None)
        if slot is None:
            return []
        slot.task_tx.close()
        failed: list[tuple[_Task, BaseException]] = []
        if slot.assigned and slot.ready:
            # The first task sent to it and not answered was running: it is lost with the worker.
            task = slot.assigned.popleft()
            failed.append((task, WorkerError(f"the worker running this task died: {detail}")))
        # The others never started: they go back to the front of the queue.
        self._pending.extendleft(reversed(slot.assigned))
        slot.assigned.clear()
        if not slot.ready:
            self._start_failures += 1
            if self._start_failures >= _START_FAILURES_BEFORE_BROKEN and self._broken is None:
                return failed + self._break(
                    WorkerError(f"the pool is broken: its workers cannot start: {detail}")
                )
        self._replace()
        return failed

    def _replace(self) -> None:
        """Starts a worker if fewer than the pool's size are serving, and work may come."""
        if self._broken is None and (not self._shutdown or self._pending):
            serving = sum(not slot.retiring for slot in self._slots.values())
            if serving < self._size:
                self._start_worker()

    def _break(self, exc: BaseException) -> list[tuple[_Task, BaseException]]:
        """Marks the pool broken (lock held); every outstanding task fails with ``exc``."""
        if self._broken is None:
            self._broken = exc
        return self._drop_all(self._broken)

    def _drop_all(self, exc: BaseException) -> list[tuple[_Task, BaseException]]:
        """Shuts down at once (lock held): every outstanding task fails with ``exc``."""
        failed = [(task, exc) for task in self._pending]
        self._pending.clear()
        for slot in self._slots.values():
            failed.extend((task, exc) for task in slot.assigned)
            slot.assigned.clear()
            slot.task_tx.close()
        self._shutdown = True
        return failed

    def _dispatch(self) -> None:
        """Sends waiting tasks to workers with room (lock held); retires idle ones at shutdown."""
        pending = self._pending
        while pending:
            # The worker with the fewest tasks sent ahead: idle workers first, then prefetch.
            slot = min(self._slots.values(), key=_load, default=None)
            if slot is None or _load(slot) >= _PREFETCH or not self._has_room(slot):
                break
            task = pending.popleft()
            if not task.running:
                if not task.future.set_running_or_notify_cancel():
                    continue  # cancelled while it waited
                task.running = True
            try:
                slot.task_tx.send_nowait((task.tid, task.fn, task.args, task.kwargs))
            except ChannelClosed:
                # The worker is dying (its "exit" is on its way): the task waits for another.
                slot.task_tx.close()
                pending.appendleft(task)
                continue
            except BaseException as exc:  # not sendable (TypeError): the task fails
                _set_exception(task.future, exc)
                continue
            slot.assigned.append(task)
            slot.sent += 1
        if self._shutdown and not pending:
            for slot in self._slots.values():
                if not slot.assigned:
                    slot.task_tx.close()  # the worker ends once it took what it had

    def _has_room(self, slot: _Slot) -> bool:
        return self._max_tasks is None or slot.sent < self._max_tasks

    def _resolve(self, task: _Task, kind: str, payload: Any) -> None:
        if kind == "ok":
            _set_result(task.future, payload)
        elif kind == "okp":
            try:
                value = pickle.loads(payload)
            except Exception as exc:
                error = WorkerError(f"the task's result could not be rebuilt here: {exc!r}")
                error.__cause__ = exc
                _set_exception(task.future, error)
            else:
                _set_result(task.future, value)
        else:
            _set_exception(task.future, rebuild_error(payload))

    def _finish(self) -> None:
        """The collector is done: whatever is still outstanding fails; channels close."""
        with self._lock:
            failed = self._drop_all(
                WorkerError("the pool's channels were closed (interpreter exit)")
            )
            self._results_tx.close()
        for task, exc in failed:
            _set_exception(task.future, exc)
        self._results_rx.close()

    # -- the Executor API ---------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)`` in a worker; returns its ``Future``."""
        with self._lock:
            if self._broken is not None:
                raise WorkerError(f"the pool is broken: {self._broken}")
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[Any] = Future()
            self._pending.append(_Task(next(self._tids), future, fn, args, kwargs))
            self._dispatch()
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
    ) -> Iterator[Any]:
        """``fn`` over the iterables' items in workers; results in order.

        All tasks are submitted at once, ``chunksize`` calls per task; with ``buffersize`` (as
        in Python 3.14's executors) the iterables are read lazily and at most ``buffersize``
        tasks wait ahead of the result being read. The iterator raises ``TimeoutError`` if a
        result is not there ``timeout`` seconds after this call, and the first task exception
        in order.
        """
        _positive("chunksize", chunksize)
        if buffersize is not None:
            _positive("buffersize", buffersize)
        deadline = None if timeout is None else time.monotonic() + timeout
        if len(iterables) == 1:
            calls: Iterator[Any] = iter(iterables[0])
            runner = _pool_worker.run_chunk1
        else:
            calls = zip(*iterables, strict=False)
            runner = _pool_worker.run_chunk
        if buffersize is not None:
            return self._map_buffered(fn, calls, chunksize, runner, buffersize, deadline)
        futures = self._submit_chunks(fn, calls, chunksize, runner)
        return _ordered(futures, deadline, chunksize > 1)

    def _map_buffered(
        self,
        fn: Callable[..., Any],
        calls: Iterator[Any],
        chunksize: int,
        runner: Callable[..., list[Any]],
        buffersize: int,
        deadline: float | None,
    ) -> Iterator[Any]:
        """``map`` with at most ``buffersize`` tasks submitted ahead of the reader."""
        window: collections.deque[Future[Any]] = collections.deque()

        def top_up() -> None:
            while len(window) < buffersize:
                chunk = self._submit_chunks(
                    fn, itertools.islice(calls, chunksize), chunksize, runner
                )
                if not chunk:
                    return
                window.extend(chunk)

        def results() -> Iterator[Any]:
            try:
                while window:
                    result = _wait(window[0], deadline)
                    window.popleft()
                    top_up()
                    if chunksize > 1:
                        yield from result
                    else:
                        yield result
            finally:
                for future in window:
                    future.cancel()

        top_up()  # the first tasks start now, as without buffersize
        return results()

    def imap_unordered(
        self, fn: Callable[..., Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Iterator[Any]:
        """``fn(item)`` for each item in workers; results in the order they finish."""
        _positive("chunksize", chunksize)
        futures = self._submit_chunks(fn, iter(iterable), chunksize, _pool_worker.run_chunk1)
        return _unordered(futures, chunksize > 1)

    def _submit_chunks(
        self,
        fn: Callable[..., Any],
        calls: Iterator[Any],
        chunksize: int,
        runner: Callable[..., list[Any]],
    ) -> list[Future[Any]]:
        """Submits ``calls`` (items, or argument tuples for run_chunk) ``chunksize`` a task."""
        if chunksize == 1:
            if runner is _pool_worker.run_chunk:
                return [self.submit(fn, *args) for args in calls]
            return [self.submit(fn, item) for item in calls]
        futures = []
        while chunk := list(itertools.islice(calls, chunksize)):
            futures.append(self.submit(runner, fn, chunk))
        return futures

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submits; the workers finish what was submitted (or, with ``cancel_futures``,
        what is running) and end. ``wait``: return once they have all ended."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                keep = [task for task in self._pending if task.running or not task.future.cancel()]
                self._pending = collections.deque(keep)
            self._dispatch()
        if wait and threading.current_thread() is not self._collector:
            # Events, not Thread.join, so that one Ctrl-C interrupts the wait (see Worker._wait).
            _spawn._wait_event(self._collected)
            self._collector.join()
            for worker in list(self._threads):
                worker._wait()

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if exc_type is None:
            self.shutdown(wait=True)
        elif issubclass(exc_type, KeyboardInterrupt):
            # Ctrl-C: do not wait for running tasks; the exit hook ends the workers.
            self.shutdown(wait=False, cancel_futures=True)
        else:
            self.shutdown(wait=True, cancel_futures=True)

    def _close_at_exit(self) -> None:
        """At interpreter exit: cancel what waits; closing the results channel ends the
        collector, which closes the task channels, and the workers end."""
        self.shutdown(wait=False, cancel_futures=True)
        self._results_rx.close()


def _set_result(future: Future[Any], value: Any) -> None:
    try:
        future.set_result(value)
    except Exception:  # already resolved (InvalidStateError): never twice
        pass


def _set_exception(future: Future[Any], exc: BaseException) -> None:
    try:
        future.set_exception(exc)
    except Exception:
        pass


def _wait(future: Future[Any], deadline: float | None) -> Any:
    if deadline is None:
        return future.result()
    return future.result(max(0.0, deadline - time.monotonic()))


def _ordered(futures: list[Future[Any]], deadline: float | None, chunked: bool) -> Iterator[Any]:
    futures.reverse()
    try:
        while futures:
            result = _wait(futures[-1], deadline)
            futures.pop()
            if chunked:
                yield from result
            else:
                yield result
    finally:
        for future in futures:
            future.cancel()


def _unordered(futures: list[Future[Any]], chunked: bool) -> Iterator[Any]:
    try:
        for future in as_completed(futures):
            if chunked:
                yield from future.result()
            else:
                yield future.result()
    finally:
        for future in futures:
            future.cancel()
