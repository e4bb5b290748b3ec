"""spawn(): functions in new own-GIL sub-interpreters, their results and their errors."""

from __future__ import annotations

import pytest

import interpchan
import workers


def test_spawn_returns_the_value() -> None:
    worker = interpchan.spawn(workers.add, 2, 3, scale=10)
    assert worker.join(timeout=60) == 50
    assert not worker.is_alive()
    assert worker.join() == 50  # joining again gives the same result


def test_spawned_function_runs_in_another_interpreter() -> None:
    tx, rx = interpchan.channel()
    interpchan.spawn(workers.module_identity, tx).join(60)
    tx.close()
    sender_id, receiver_id, buffer_id = rx.recv(timeout=5)
    assert sender_id != id(interpchan.Sender)
    assert receiver_id != id(interpchan.Receiver)
    assert buffer_id != id(interpchan.Buffer)


def test_worker_error_carries_type_message_and_traceback() -> None:
    worker = interpchan.spawn(workers.raise_value_error, "the remote message")
    with pytest.raises(interpchan.WorkerError) as info:
        worker.join(60)
    text = str(info.value)
    assert "ValueError" in text and "the remote message" in text
    assert "Traceback" in text and "raise_value_error" in text
    assert info.value.remote_type == "builtins.ValueError"
    assert not worker.is_alive()


def test_unsendable_return_value_is_a_worker_error() -> None:
    with pytest.raises(interpchan.WorkerError) as info:
        interpchan.spawn(workers.return_unsendable).join(60)
    assert "TypeError" in str(info.value)


def test_unsendable_argument_raises_at_spawn() -> None:
    with pytest.raises(TypeError):
        interpchan.spawn(workers.add, lambda: 1, 2)


def test_spawn_refuses_lambdas_and_local_functions() -> None:
    def local() -> None:
        pass

    with pytest.raises(TypeError):
        interpchan.spawn(lambda: None)
    with pytest.raises(TypeError):
        interpchan.spawn(local)
    with pytest.raises(TypeError):
        interpchan.spawn(42)  # type: ignore[arg-type]


def test_caller_may_close_its_handles_right_after_spawn() -> None:
    tx, rx = interpchan.channel()
    worker = interpchan.spawn(workers.produce, tx, ["a", "b"])
    tx.close()  # spawn holds its own reference
    assert workers.drain(rx) == ["a", "b"]
    assert worker.join(60) == 2


def test_handles_made_in_a_worker_come_back() -> None:
    tx, rx = interpchan.spawn(workers.return_handles).join(60)
    assert rx.recv(timeout=5) == "made in a sub-interpreter"
    tx.send("and they still work")
    assert rx.recv(timeout=5) == "and they still work"


def test_join_timeout_while_running() -> None:
    tx, rx = interpchan.channel()
    started_tx, started_rx = interpchan.channel()
    worker = interpchan.spawn(workers.recv_blocking, rx, started_tx)
    started_tx.close()
    started_rx.recv(timeout=30)
    assert worker.is_alive()
    with pytest.raises(TimeoutError):
        worker.join(timeout=0.01)
    tx.send("go")
    assert worker.join(60) == "'go'"
    assert not worker.is_alive()


def test_missing_module_is_a_worker_error() -> None:
    worker = interpchan.spawn(workers.add, 1, 2)
    assert worker.join(60) == 3
    ghost = _function_in_missing_module()
    with pytest.raises(interpchan.WorkerError) as info:
        interpchan.spawn(ghost).join(60)
    assert "ModuleNotFoundError" in str(info.value)


def _function_in_missing_module():
    def ghost() -> None:
        pass

    ghost.__module__ = "no_such_module_for_interpchan_tests"
    ghost.__qualname__ = "ghost"
    return ghost


def test_buffer_arguments_move_into_the_worker() -> None:
    buf = interpchan.Buffer(1000)
    memoryview(buf)[:] = bytes([3]) * 1000
    worker = interpchan.spawn(workers.sum_buffer, buf)
    assert buf.moved and len(buf) == 0  # moved at spawn time, like a sent item
    assert worker.join(60) == (3000, 1000, True)


def test_copied_buffer_arguments_and_buffer_return_values() -> None:
    data = bytearray(b"\x01\x02\x03")
    assert interpchan.spawn(workers.sum_buffer, data).join(60) == (6, 3, True)
    assert data == bytearray(b"\x01\x02\x03")
    view = interpchan.spawn(workers.make_buffer, 64, 9).join(60)
    assert isinstance(view, memoryview) and isinstance(view.obj, interpchan.Buffer)
    assert not view.readonly and view.tobytes() == bytes([9]) * 64
    view[0] = 0  # still valid and writable: the worker's interpreter is gone by now
    assert view[0] == 0


def test_return_values_travel_like_items() -> None:
    sent = {"big": 10**100, "set": frozenset({1.5}), "point": workers.Point(1, 2)}
    worker = interpchan.spawn(workers.consume, *_one_item_channel(sent))
    assert worker.join(60) == [sent]


def _one_item_channel(item: object) -> tuple[interpchan.Receiver, int]:
    tx, rx = interpchan.channel()
    tx.send(item)
    tx.close()
    return rx, 1


def test_spawn_with_handles_in_keyword_arguments() -> None:
    tx, rx = interpchan.channel()
    worker = interpchan.spawn(workers.produce, tx=tx, items=[1, 2, 3])
    tx.close()
    assert workers.drain(rx) == [1, 2, 3]
    assert worker.join(60) == 3
