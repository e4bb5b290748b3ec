"""Pool: a concurrent.futures.Executor whose workers are reused own-GIL sub-interpreters."""

from __future__ import annotations

import collections
import itertools
import os
import pickle
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, as_completed
from typing import Any

from . import _exit, _pool_worker, _spawn
from ._interpchan import ChannelClosed, Sender, channel
from ._spawn import MainGuardError, WorkerError
from ._worker import GUARD_MESSAGE

# Tasks sent ahead to each worker, so that it finds the next one waiting when it finishes one.
_PREFETCH = 2
# Functions each worker keeps (sent once, then named by a key); past that, it starts afresh.
_CACHED_FUNCTIONS = 64
# Functions pickled by reference (their name), which a worker may keep: module-level functions
# and builtins of modules (not bound methods, whose pickle holds their object's state).
_FUNCTION_TYPES = frozenset({types.FunctionType, types.BuiltinFunctionType})
# How often, while tasks come, the collector looks for outcomes that nobody receives.
_SAFETY_NET = 0.02
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

    __slots__ = ("assigned", "functions", "ready", "retiring", "sent", "task_tx", "worker")

    def __init__(self, task_tx: Sender) -> None:
        self.task_tx = task_tx
        self.functions: dict[Any, int] = {}  # the functions this worker keeps, by key
        self.assigned: collections.deque[_Task] = collections.deque()
        self.sent = 0
        self.ready = False
        self.retiring = False  # it ran max_tasks_per_worker tasks: it ends, and is replaced
        self.worker: _spawn.Worker | None = None


_DONE = frozenset({"CANCELLED", "CANCELLED_AND_NOTIFIED", "FINISHED"})
_SLICEABLE = (list, tuple, range)  # map's chunks of these are slices (see _chunks)
_OUTCOMES = frozenset({"ok", "okp", "err"})  # a task's outcome (kinds in _pool_worker)


class _PoolFuture(Future):  # type: ignore[type-arg]
    """A pool task's Future: a caller that waits for it with no timeout receives the pool's
    results itself while no other thread does (one thread woken per result, not two)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.watched = False  # waited on other than by result(): the collector must receive
        super().__init__()

    def _watch(self) -> None:
        if not self.watched and self._state not in _DONE:
            self.watched = True
            self._pool._wake.set()

    def done(self) -> bool:
        self._watch()  # polled: the collector must receive
        return super().done()

    def running(self) -> bool:
        self._watch()
        return super().running()

    def result(self, timeout: float | None = None) -> Any:
        if timeout is None and self._state not in _DONE:
            self._pool._lead(self)
        self._watch()  # another thread receives: the collector, which must go on
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._watch()
        return super().exception(timeout)

    def add_done_callback(self, fn: Callable[[Future[Any]], object]) -> None:
        self._watch()
        super().add_done_callback(fn)

    # wait() and as_completed() add themselves to the list of waiters.
    @property
    def _waiters(self) -> list[Any]:
        self._watch()
        return self._waiter_list

    @_waiters.setter
    def _waiters(self, value: list[Any]) -> None:
        self._waiter_list = value


def _send_task(slot: _Slot, task: _Task) -> None:
    """Sends ``task`` to the worker (raises as ``send_nowait``). A module-level function goes
    once as its pickle, which the worker keeps; later tasks name it by its key."""
    fn = task.fn
    if type(fn) in _FUNCTION_TYPES:
        functions = slot.functions
        key = functions.get(fn)
        if key is not None:
            slot.task_tx.send_nowait((key, None, task.args, task.kwargs))
            return
        if type(fn) is types.FunctionType or type(fn.__self__) is types.ModuleType:
            try:
                blob = pickle.dumps(fn, 5)
            except Exception:
                pass  # sent as it is: the send raises as it would without the cache
            else:
                key = len(functions) if len(functions) < _CACHED_FUNCTIONS else 0
                slot.task_tx.send_nowait((key, blob, task.args, task.kwargs))
                if key == 0:
                    functions.clear()  # the worker starts afresh on key 0, too
                functions[fn] = key
                return
    slot.task_tx.send_nowait((None, fn, task.args, task.kwargs))


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
        # Who receives from the results channel now (one thread at a time, so that messages are
        # handled in the order they were sent): None, the collector, or a caller of result().
        self._receiver: object = None
        self._wake = threading.Event()  # set when the collector may have to receive
        self._collector_parked = False
        self._collector_idle = False  # parked with no timeout (see _collect)
        self._submitted = 0
        self._collecting_done = False
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
            self._results_tx.send(("exit", wid, detail))
        except ChannelClosed:
            pass  # the pool is finished, or this interpreter is exiting

    # -- the collector thread: outcomes, worker ends ------------------------------------------

    def _collect(self) -> None:
        """Receives outcomes while something may come and no caller of result() receives them.

        Parked, it also wakes every ``_SAFETY_NET`` seconds while tasks were submitted since its
        last look, and receives if a task is out with nobody receiving: a future waited on in a
        way the pool does not see still resolves, a little later. After a quiet period it parks
        until woken (an idle pool costs nothing)."""
        try:
            timed_out = False
            seen = -1
            while True:
                with self._lock:
                    self._wake.clear()
                    if self._collecting_done:
                        return
                    receive = self._receiver is None and (
                        self._expecting() or (timed_out and self._tasks_out())
                    )
                    self._collector_parked = not receive
                    if receive:
                        self._receiver = self._collector
                    else:
                        busy = self._submitted != seen or self._tasks_out()
                        seen = self._submitted
                        self._collector_idle = not busy  # parked for good: submit wakes it
                if receive:
                    timed_out = False
                    if not self._receive_one(self._collector):
                        return
                else:
                    timed_out = not self._wake.wait(_SAFETY_NET if busy else None)
        finally:
            try:
                self._finish()
            finally:
                self._collected.set()

    def _tasks_out(self) -> bool:
        """Whether a task was sent to a worker and its outcome not handled yet (lock held)."""
        return any(slot.assigned for slot in self._slots.values())

    def _expecting(self) -> bool:
        """Whether the collector must receive (lock held): tasks wait to be sent, workers start
        or end, or a task's future is waited on other than by result() (callbacks, wait())."""
        if self._shutdown or self._pending:
            return True
        for slot in self._slots.values():  # a plain loop: this runs after every result
            if not slot.ready or slot.retiring or slot.task_tx.closed:
                return True
            for task in slot.assigned:
                if task.future.watched:  # type: ignore[attr-defined]
                    return True
        return False

    def _receive_one(self, me: object) -> bool:
        """Receives and handles one message as the receiver ``me``; False once no more will be
        received (the channel closed, or the pool is finished)."""
        started = [True]
        try:
            try:
                message = self._results_rx.recv()
            except ChannelClosed:
                with self._lock:
                    self._collecting_done = True
                return False
            started[0] = False
            return self._handle(message, started)
        finally:
            if not started[0]:  # interrupted (Ctrl-C) between receiving and handling: handle it
                self._handle(message, started)
            with self._lock:
                self._receiver = None
                if self._collector_parked and (self._collecting_done or self._expecting()):
                    self._wake.set()

    def _lead(self, future: Future[Any]) -> None:
        """A caller waits for ``future``: it receives outcomes itself while nobody else does."""
        me = future  # who receives: any object that is this caller's alone
        while True:
            with self._lock:
                if future._state in _DONE or self._receiver is not None or self._collecting_done:
                    return
                self._receiver = me
            if not self._receive_one(me):
                return

    def _handle(self, message: tuple[str, int, Any], started: list[bool]) -> bool:
        """Handles one message; False once the pool is shut down and every worker has ended."""
        started[0] = True
        kind, wid, payload = message
        failed: list[tuple[_Task, BaseException]] = []
        done: _Task | None = None
        with self._lock:
            slot = self._slots.get(wid)
            if kind in _OUTCOMES and slot is not None:  # the common case first
                if slot.assigned:
                    done = slot.assigned.popleft()
                    if not slot.assigned and not self._has_room(slot):
                        # Its last task is done: its successor starts now, while it ends.
                        slot.retiring = True
                        self._replace()
            elif kind == "exit":
                failed = self._worker_gone(wid, str(payload))
            elif slot is None:
                pass  # a worker the pool already gave up on (broken pool)
            elif kind == "ready":
                slot.ready = True
                self._start_failures = 0
            elif kind in ("init", "guard"):
                failed = self._break(self._broken_error(kind, payload))
            if self._pending or self._shutdown:
                self._dispatch()
            finished = self._shutdown and not self._slots
            if finished:
                self._collecting_done = True
        if done is not None:
            if kind == "ok":
                _set_result(done.future, payload)
            else:
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
            slot = self._idle_slot()
            if slot is None:
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
                _send_task(slot, task)
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

    def _idle_slot(self) -> _Slot | None:
        """The first worker with no task sent to it and its task channel open, if any (the
        common case, found without asking every worker's channel whether it is closed)."""
        for slot in self._slots.values():
            if not slot.assigned and not slot.task_tx.closed:
                return slot
        return None

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
            future: Future[Any] = _PoolFuture(self)
            self._pending.append(_Task(next(self._tids), future, fn, args, kwargs))
            self._dispatch()
            self._submitted += 1
            if self._collector_idle:
                self._collector_idle = False
                self._wake.set()  # it looks again in a while (see _collect)
            if self._collector_parked and self._receiver is None and self._pending:
                self._wake.set()  # tasks wait for a worker: results must be received
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
            calls: Iterable[Any] = iterables[0]
            runner = _pool_worker.run_chunk1
        else:
            calls = zip(*iterables, strict=False)
            runner = _pool_worker.run_chunk
        if buffersize is not None:
            return self._map_buffered(fn, iter(calls), chunksize, runner, buffersize, deadline)
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
        futures = self._submit_chunks(fn, iterable, chunksize, _pool_worker.run_chunk1)
        return _unordered(futures, chunksize > 1)

    def _submit_chunks(
        self,
        fn: Callable[..., Any],
        calls: Iterable[Any],
        chunksize: int,
        runner: Callable[..., list[Any]],
    ) -> list[Future[Any]]:
        """Submits ``calls`` (items, or argument tuples for run_chunk) ``chunksize`` a task."""
        if chunksize == 1:
            if runner is _pool_worker.run_chunk:
                return [self.submit(fn, *args) for args in calls]
            return [self.submit(fn, item) for item in calls]
        return [self.submit(runner, fn, chunk) for chunk in _chunks(calls, chunksize)]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submits; the workers finish what was submitted (or, with ``cancel_futures``,
        what is running) and end. ``wait``: return once they have all ended."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                keep = [task for task in self._pending if task.running or not task.future.cancel()]
                self._pending = collections.deque(keep)
            self._dispatch()
        self._wake.set()
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


def _chunks(calls: Iterable[Any], chunksize: int) -> Iterator[Any]:
    """``calls`` in chunks of ``chunksize``: slices of a list or tuple (taken at C speed), and
    of a range (a sub-range travels as its three numbers, not as its items); lists of the
    items of any other iterable."""
    if type(calls) in _SLICEABLE:
        sliceable: Any = calls
        return (sliceable[i : i + chunksize] for i in range(0, len(sliceable), chunksize))
    items = iter(calls)
    return iter(lambda: list(itertools.islice(items, chunksize)), [])


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


class _Chained(itertools.chain):  # type: ignore[type-arg]
    """The items of the lists a generator yields, taken at C speed (a generator that yields
    each item costs more than the task's own call), with the generator's ``close``."""

    _lists: Any

    def close(self) -> None:
        self._lists.close()


def _chained(lists: Any) -> Iterator[Any]:
    chained: Any = _Chained.from_iterable(lists)  # a _Chained (from_iterable keeps the class)
    chained._lists = lists
    return chained


def _ordered(futures: list[Future[Any]], deadline: float | None, chunked: bool) -> Iterator[Any]:
    results = _ordered_results(futures, deadline)
    return _chained(results) if chunked else results


def _ordered_results(futures: list[Future[Any]], deadline: float | None) -> Iterator[Any]:
    """The futures' results in order; those not reached are cancelled when it is closed."""
    futures.reverse()
    try:
        while futures:
            result = _wait(futures[-1], deadline)
            futures.pop()
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
