"""Interpreters that end while their items, handles and buffers live on elsewhere."""

from __future__ import annotations

import gc
import pickle

import pytest

import interpchan
import workers
from conftest import SubInterpreter


def test_items_sent_by_a_destroyed_interpreter_are_still_delivered() -> None:
    tx, rx = interpchan.channel()
    with SubInterpreter() as interp:
        interp.exec(
            "import pickle, workers\n"
            f"tx = pickle.loads({pickle.dumps(tx)!r})\n"
            "tx.send([10**50, 'native', {1.5: None}])\n"
            "tx.send(workers.Point(3, 4))\n"  # pickled there, unpickled here
            "tx.send(bytearray(b'copied there'))\n"
        )
    tx.close()  # the interpreter and every handle it held are gone
    got = workers.drain(rx, timeout=5)
    assert got[:2] == [[10**50, "native", {1.5: None}], workers.Point(3, 4)]
    assert type(got[1]) is workers.Point
    assert got[2].tobytes() == b"copied there"
    assert len(got) == 3


def test_handles_made_by_a_destroyed_interpreter_keep_working() -> None:
    tx, rx = interpchan.channel()
    with SubInterpreter() as interp:
        interp.exec(
            "import pickle, interpchan\n"
            f"tx = pickle.loads({pickle.dumps(tx)!r})\n"
            "own_tx, own_rx = interpchan.channel(2)\n"
            "own_tx.send('queued in a channel made there')\n"
            "tx.send((own_tx, own_rx))\n"
        )
    own_tx, own_rx = rx.recv(timeout=5)
    assert own_rx.recv(timeout=5) == "queued in a channel made there"
    own_tx.send("and used here")
    assert own_rx.recv(timeout=5) == "and used here"
    assert own_tx.capacity == 2


def test_destroyed_interpreter_holding_a_clone_does_not_close_the_channel() -> None:
    tx, rx = interpchan.channel()
    with SubInterpreter() as interp:
        interp.exec(f"import pickle\nclone = pickle.loads({pickle.dumps(tx)!r}).clone()\n")
    assert not rx.closed  # our own Sender is still alive
    tx.send("still open")
    assert rx.recv(timeout=5) == "still open"
    tx.close()
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv(timeout=5)


def test_pickled_reference_dies_with_the_interpreter_that_held_the_end() -> None:
    tx, rx = interpchan.channel()
    reference = pickle.dumps(tx)
    with SubInterpreter() as interp:
        interp.exec(f"import pickle\nheld = pickle.loads({reference!r})\n")
        tx.close()
        restored = pickle.loads(reference)  # valid: the end has a live handle over there
        assert isinstance(restored, interpchan.Sender)
        restored.close()
        assert not rx.closed
    # The Sender end's last handle was in the destroyed interpreter.
    assert rx.closed
    with pytest.raises(interpchan.ChannelClosed):
        pickle.loads(reference)
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv(timeout=5)


def test_the_module_state_shows_the_gc_each_reference_it_holds() -> None:
    """traverse visits every field of the module state, in order (a missed one would hide a
    reference from the cycle collector): the types, exception classes, `_restore`, the interned
    keyword names, and pickle's functions once a pickled item was sent."""
    module = interpchan._interpchan
    tx, rx = interpchan.channel()
    tx.send(complex)  # pickled: the state now holds pickle.dumps and pickle.loads
    assert rx.recv() is complex
    held = [obj for obj in gc.get_referents(module) if obj is not module.__dict__]
    assert held == [
        interpchan.Sender,
        interpchan.Receiver,
        interpchan.Buffer,
        interpchan.SharedBuffer,
        interpchan.ChannelError,
        interpchan.ChannelClosed,
        interpchan.Empty,
        interpchan.Full,
        module._restore,
        "timeout",
        "capacity",
        "receivers",
        pickle.dumps,
        pickle.loads,
    ]
