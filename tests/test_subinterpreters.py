"""Own-GIL sub-interpreters: module isolation, life cycles, handles by pickle, many peers."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading

import pytest

import interpchan
import workers
from conftest import SubInterpreter, run_in_subinterpreter


def test_twenty_interpreters_import_at_once_each_with_its_own_types() -> None:
    tx, rx = interpchan.channel()
    start = threading.Barrier(20)
    reference = pickle.dumps(tx)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(30)
            run_in_subinterpreter(
                "import pickle, interpchan\n"
                f"tx = pickle.loads({reference!r})\n"
                "ic = interpchan\n"
                "tx.send((id(ic.Sender), id(ic.Buffer), id(ic.ChannelError)))\n"
                "tx.close()\n"
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    tx.close()
    ids = workers.drain(rx)
    assert len(ids) == 20
    assert len({sender for sender, _, _ in ids}) == 20
    assert len({buffer for _, buffer, _ in ids}) == 20
    mine = {id(interpchan.Sender), id(interpchan.Buffer), id(interpchan.ChannelError)}
    assert not mine & {i for triple in ids for i in triple}


def test_destroying_an_interpreter_releases_its_handles() -> None:
    tx, rx = interpchan.channel()
    with SubInterpreter() as interp:
        interp.exec(
            "import pickle\n"
            f"held = pickle.loads({pickle.dumps(tx)!r})\n"
            "held.send('from the doomed interpreter')\n"
        )
        tx.close()
        assert rx.recv(timeout=5) == "from the doomed interpreter"
        with pytest.raises(interpchan.Empty):
            rx.recv_nowait()  # the interpreter still holds a Sender: not closed
        assert not rx.closed
    # Destroyed: its Sender was the last one.
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv(timeout=5)
    assert rx.closed


def test_destroyed_receiver_side_closes_the_channel_for_senders() -> None:
    tx, rx = interpchan.channel()
    with SubInterpreter() as interp:
        interp.exec(f"import pickle\nheld = pickle.loads({pickle.dumps(rx)!r})\n")
        rx.close()
        tx.send("nobody will read this")
        assert not tx.closed
    assert tx.closed
    with pytest.raises(interpchan.ChannelClosed):
        tx.send("too late")


def test_received_view_works_after_the_sending_interpreter_is_gone() -> None:
    tx, rx = interpchan.channel()
    with SubInterpreter() as interp:
        interp.exec(
            "import pickle, interpchan\n"
            f"tx = pickle.loads({pickle.dumps(tx)!r})\n"
            "buf = interpchan.Buffer(1 << 20)\n"
            "memoryview(buf)[:] = b'x' * (1 << 20)\n"
            "tx.send(buf)\n"
            "tx.send(bytearray(b'copied'))\n"
            "tx.send(memoryview(b'0123456789')[::2])\n"
        )
        early = rx.recv(timeout=5)  # received while the sender still exists
    moved_view = early
    copied = rx.recv(timeout=5)  # received after it was destroyed
    strided = rx.recv(timeout=5)
    del interp
    assert moved_view.tobytes() == b"x" * (1 << 20)
    moved_view[:4] = b"mine"
    assert bytes(moved_view[:5]) == b"minex"
    assert copied.tobytes() == b"copied"
    copied[0] = ord("C")
    assert copied.tobytes() == b"Copied"
    assert strided.tobytes() == b"02468"


def test_handles_pickle_to_any_interpreter_of_the_process(peer) -> None:
    tx, rx = interpchan.channel()
    restored = pickle.loads(pickle.dumps(tx))
    assert isinstance(restored, interpchan.Sender) and restored is not tx
    task = peer.run(workers.produce, restored, ["restored"])
    restored.close()
    tx.close()
    assert workers.drain(rx) == ["restored"]
    task.join()


def test_unpickling_after_the_end_is_gone_raises_channel_closed() -> None:
    tx, rx = interpchan.channel()
    tx_ref, rx_ref = pickle.dumps(tx), pickle.dumps(rx)
    del tx
    with pytest.raises(interpchan.ChannelClosed, match="gone"):
        pickle.loads(tx_ref)
    assert isinstance(pickle.loads(rx_ref), interpchan.Receiver)
    rx.close()
    with pytest.raises(interpchan.ChannelClosed):
        pickle.loads(rx_ref)


def test_unpickling_a_handle_pickled_in_another_process_raises_channel_closed() -> None:
    script = (
        "import interpchan, pickle, sys\n"
        "tx, rx = interpchan.channel()\n"
        "sys.stdout.buffer.write(pickle.dumps(tx))\n"
    )
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert made.returncode == 0, made.stderr
    with pytest.raises(interpchan.ChannelClosed, match="another process"):
        pickle.loads(made.stdout)


def test_forged_references_raise_channel_closed() -> None:
    tx, _rx = interpchan.channel()
    reference = bytearray(tx.__reduce__()[1][0])
    reference[1] ^= 0xFF  # the process part of the reference
    with pytest.raises(interpchan.ChannelClosed, match="another process"):
        interpchan._interpchan._restore(bytes(reference))
    forged = bytearray(tx.__reduce__()[1][0])
    forged[-1] ^= 0xFF  # the unguessable token
    with pytest.raises(interpchan.ChannelClosed):
        interpchan._interpchan._restore(bytes(forged))
    with pytest.raises(ValueError):
        interpchan._interpchan._restore(b"short")


def test_closed_handles_cannot_be_pickled() -> None:
    tx, _rx = interpchan.channel()
    tx.close()
    with pytest.raises(interpchan.ChannelClosed):
        pickle.dumps(tx)


def test_four_producer_and_two_consumer_interpreters_exactly_once() -> None:
    tx, rx = interpchan.channel(32)
    n = 3000
    producers = [interpchan.spawn(workers.produce_tagged, tx, tag, n) for tag in range(4)]
    consumers = [interpchan.spawn(workers.consume_all, rx) for _ in range(2)]
    tx.close()
    rx.close()
    assert [p.join(120) for p in producers] == [n] * 4
    seen = [c.join(120) for c in consumers]
    everything = seen[0] + seen[1]
    assert len(everything) == 4 * n
    assert sorted(everything) == [(tag, i) for tag in range(4) for i in range(n)]
    for got in seen:  # per-sender order holds in what each consumer received
        for tag in range(4):
            sequence = [i for t, i in got if t == tag]
            assert sequence == sorted(sequence)


def test_threads_and_interpreters_share_one_channel() -> None:
    tx, rx = interpchan.channel(8)
    interp_producer = interpchan.spawn(workers.produce_tagged, tx, 0, 500)
    thread = threading.Thread(target=workers.produce_tagged, args=(tx.clone(), 1, 500))
    thread.start()
    tx.close()
    got = workers.drain(rx)
    thread.join(60)
    assert interp_producer.join(60) == 500
    assert sorted(got) == [(tag, i) for tag in range(2) for i in range(500)]


@pytest.mark.parametrize("own_gil", [True, False], ids=["own-GIL", "shared-GIL"])
def test_blocking_exchange_with_a_sub_interpreter_on_another_thread(own_gil: bool) -> None:
    """A sub-interpreter on its own thread echoes items; both sides block in recv."""
    to_sub, sub_rx = interpchan.channel(0)
    sub_tx, from_sub = interpchan.channel(0)
    interp = SubInterpreter(own_gil=own_gil)
    interp.exec(
        "import pickle\n"
        f"rx = pickle.loads({pickle.dumps(sub_rx)!r})\n"
        f"tx = pickle.loads({pickle.dumps(sub_tx)!r})\n"
    )
    sub_rx.close()
    sub_tx.close()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            interp.exec(
                "import workers\n"
                "for item in workers.bounded_iter(rx):\n"
                "    tx.send(item * 2, timeout=30)\n"
                "tx.close()\n"
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    for i in range(200):
        to_sub.send(i, timeout=30)
        assert from_sub.recv(timeout=30) == 2 * i
    to_sub.close()
    with pytest.raises(interpchan.ChannelClosed):
        from_sub.recv(timeout=30)
    thread.join(30)
    interp.close()
    assert not errors, errors
