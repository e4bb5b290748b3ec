"""interpchan with concurrent.interpreters (Python 3.14+): handles as Interpreter.call() arguments,
through prepare_main() and through a Queue, channels in InterpreterPoolExecutor tasks, received
memoryviews in a concurrent.interpreters.Queue, and spawn() built on concurrent.interpreters."""

from __future__ import annotations

import array
import pickle
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import interpchan
import workers
import workers_interpreters

interpreters = pytest.importorskip(
    "concurrent.interpreters", reason="concurrent.interpreters is new in Python 3.14"
)


def path_script() -> str:
    """Source giving an interpreter this one's sys.path (so it can import the tests' modules)."""
    return f"import sys; sys.path[:] = {sys.path!r}"


def own_gil(interp: Any) -> bool:
    """Whether interp has its own GIL (concurrent.interpreters' default: an isolated config)."""
    import _interpreters

    return bool(_interpreters.get_config(interp.id).gil == "own")


@pytest.fixture
def interp() -> Iterator[Any]:
    """A new interpreter from concurrent.interpreters that can import the tests' modules."""
    interp = interpreters.create()
    try:
        interp.exec(path_script())
        yield interp
    finally:
        if interp.id in {i.id for i in interpreters.list_all()}:
            interp.close()


def test_handles_as_call_arguments(interp: Any) -> None:
    assert own_gil(interp)
    assert interp.call(workers_interpreters.channel_types_here) != (
        id(interpchan.Sender),
        id(interpchan.Receiver),
    )  # the call ran in another interpreter, with its own module
    tx, rx = interpchan.channel()
    items = [1, "two", 3.0, (4, b"five"), None, 2**100]
    assert interp.call(workers.produce, tx, items) == len(items)  # closes its own handle
    assert not tx.closed
    tx.close()
    assert workers.drain(rx) == items

    tx, rx = interpchan.channel()
    for i in range(3):
        tx.send(i)
    tx.close()
    assert interp.call(workers.consume_all, rx) == [0, 1, 2]
    assert rx.closed  # drained, and no sender left anywhere


def test_unpicklable_call_argument_fails_and_leaves_the_buffer_alone(interp: Any) -> None:
    buf = interpchan.Buffer(8)
    with pytest.raises(TypeError):  # a Buffer cannot be pickled: it moves only through channels
        interp.call(workers.sum_buffer, buf)
    assert not buf.moved and len(buf) == 8


def test_handles_through_prepare_main_while_the_interpreter_runs_on_a_thread(interp: Any) -> None:
    to_interp, rx = interpchan.channel(capacity=4)
    tx, from_interp = interpchan.channel()
    # prepare_main() takes only natively shareable objects (3.14 does not pickle there), so
    # handles go as their pickled references (bytes), loaded while this side still holds them.
    interp.prepare_main(rx=pickle.dumps(rx), tx=pickle.dumps(tx))
    interp.exec("import pickle\nrx, tx = pickle.loads(rx), pickle.loads(tx)\n")
    rx.close()
    tx.close()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            interp.exec("import workers\nworkers.echo(rx, tx)\ndel rx, tx\n")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    # 100 items through 4 slots: only works while the interpreter receives at the same time.
    for i in range(100):
        to_interp.send(i, timeout=workers.TIMEOUT)
    to_interp.close()
    assert workers.drain(from_interp) == list(range(100))
    thread.join(60)
    assert not thread.is_alive()
    assert errors == []


def test_a_handle_given_to_prepare_main_itself(interp: Any) -> None:
    tx, rx = interpchan.channel()
    try:
        interp.prepare_main(tx=tx)
    except interpreters.NotShareableError:
        pass  # 3.14: handles are not natively shareable, and prepare_main() does not pickle
    else:  # a later CPython that pickles there: the interpreter has a working handle
        interp.exec("tx.send('from __main__')\ntx.close()\ndel tx\n")
        assert rx.recv(timeout=10) == "from __main__"
    tx.send("still usable")  # either way the handle and the channel are intact
    assert rx.recv(timeout=10) == "still usable"


def test_channels_from_interpreter_pool_tasks() -> None:
    from concurrent.futures import InterpreterPoolExecutor

    # exec (a builtin, so it pickles by name) gives each worker interpreter this sys.path.
    pool_args: dict[str, Any] = {"initializer": exec, "initargs": (path_script(),)}
    tx, rx = interpchan.channel(capacity=16)
    with InterpreterPoolExecutor(max_workers=2, **pool_args) as pool:
        producers = [pool.submit(workers.produce_tagged, tx, tag, 200) for tag in range(4)]
        received = [rx.recv(timeout=workers.TIMEOUT) for _ in range(800)]
        assert [f.result(timeout=60) for f in producers] == [200] * 4
    tx.close()
    for tag in range(4):
        assert [i for t, i in received if t == tag] == list(range(200))  # in order per sender
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv_nowait()  # the tasks' handles were all released

    tx, rx = interpchan.channel()
    with InterpreterPoolExecutor(max_workers=2, **pool_args) as pool:
        consumers = [pool.submit(workers.consume_all, rx) for _ in range(2)]
        for i in range(500):
            tx.send(i)
        tx.close()
        got = [f.result(timeout=60) for f in consumers]
    assert sorted(got[0] + got[1]) == list(range(500))  # each item received exactly once
    assert all(part == sorted(part) for part in got)


def test_received_memoryview_through_a_queue_and_back() -> None:
    tx, rx = interpchan.channel()
    tx.send(array.array("d", [1.5, 2.5, 3.5]))
    view = rx.recv()
    buf = view.obj
    queue = interpreters.create_queue()
    queue.put(view)
    back = queue.get(timeout=10)
    assert (back.format, back.itemsize, back.shape) == ("d", 8, (3,))
    assert back.tolist() == [1.5, 2.5, 3.5]
    back[0] = 9.0
    view[2] = -1.0
    assert view[0] == 9.0 and back[2] == -1.0  # one memory, not a copy
    # While the queue's view uses it the Buffer cannot move; nothing is sent.
    with pytest.raises(BufferError):
        view.release()
    with pytest.raises(BufferError):
        tx.send(buf)
    assert len(rx) == 0 and not buf.moved
    del back
    view.release()
    tx.send(buf)
    assert buf.moved
    assert rx.recv().tolist() == [9.0, 2.5, -1.0]


def test_received_memoryview_to_another_interpreter_through_queues_and_back(interp: Any) -> None:
    tx, rx = interpchan.channel()
    tx.send(bytearray(b"hello"))
    view = rx.recv()
    buf = view.obj
    to_interp, from_interp = interpreters.create_queue(), interpreters.create_queue()
    to_interp.put(view)
    assert interp.call(workers_interpreters.capitalize_view, to_interp, from_interp) == 5
    back = from_interp.get(timeout=10)
    assert back.tobytes() == b"Hello" and view.tobytes() == b"Hello"
    del back
    interp.close()  # CPython releases the views the interpreter held
    view.release()
    tx.send(buf)  # so the Buffer moves again, intact
    assert buf.moved
    assert rx.recv().tobytes() == b"Hello"


def test_a_buffer_itself_is_not_shareable_through_a_queue() -> None:
    queue = interpreters.create_queue()
    buf = interpchan.Buffer(8)
    with pytest.raises(interpreters.NotShareableError):
        queue.put(buf)
    assert not buf.moved and len(buf) == 8
    assert queue.empty()


def test_a_sender_through_a_queue_to_another_interpreter(interp: Any) -> None:
    tx, rx = interpchan.channel()
    queue = interpreters.create_queue()
    queue.put(tx)  # pickled: a reference to the channel end
    assert interp.call(workers_interpreters.send_from_queue, queue, "via a queue") is True
    tx.close()
    assert rx.recv(timeout=10) == "via a queue"
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv_nowait()


def test_spawn_uses_an_own_gil_interpreter_from_concurrent_interpreters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[Any] = []
    real_create = interpreters.create

    def recording_create(*args: Any, **kwargs: Any) -> Any:
        interp = real_create(*args, **kwargs)
        created.append((interp.id, own_gil(interp)))
        return interp

    monkeypatch.setattr(interpreters, "create", recording_create)
    rx_tx, worker_rx = interpchan.channel()
    started_tx, started_rx = interpchan.channel()
    worker = interpchan.spawn(workers.recv_blocking, worker_rx, started_tx)
    worker_rx.close()
    started_tx.close()
    assert started_rx.recv(timeout=60) is None  # the function runs (and blocks) in it now
    [(interp_id, has_own_gil)] = created
    assert has_own_gil
    assert interp_id in {i.id for i in interpreters.list_all()}
    rx_tx.send("go")
    assert worker.join(60) == "'go'"
    assert interp_id not in {i.id for i in interpreters.list_all()}  # destroyed when it returned
