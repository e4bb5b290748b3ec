"""select(): the first item among several receivers, fairly, skipping closed ones."""

from __future__ import annotations

import time

import pytest

import interpchan
import workers


def test_select_returns_the_receiver_that_has_an_item() -> None:
    tx_a, rx_a = interpchan.channel()
    tx_b, rx_b = interpchan.channel()
    tx_b.send("b")
    assert interpchan.select([rx_a, rx_b]) == (rx_b, "b")
    tx_a.send("a")
    got_rx, item = interpchan.select((rx for rx in [rx_a, rx_b]), timeout=1)
    assert got_rx is rx_a and item == "a"


def test_select_times_out() -> None:
    _tx, rx = interpchan.channel()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        interpchan.select([rx], timeout=0.05)
    assert time.monotonic() - start >= 0.05
    with pytest.raises(TimeoutError):
        interpchan.select([rx], timeout=0)


def test_select_skips_closed_and_drained_receivers() -> None:
    tx_a, rx_a = interpchan.channel()
    tx_b, rx_b = interpchan.channel()
    tx_a.send("last of a")
    tx_a.close()
    assert interpchan.select([rx_a, rx_b]) == (rx_a, "last of a")
    tx_b.send("b")
    assert interpchan.select([rx_a, rx_b], timeout=5) == (rx_b, "b")  # rx_a is skipped
    rx_b.close()
    with pytest.raises(interpchan.ChannelClosed):
        interpchan.select([rx_a, rx_b], timeout=5)


def test_select_is_fair_between_ready_receivers() -> None:
    tx_a, rx_a = interpchan.channel()
    tx_b, rx_b = interpchan.channel()
    for i in range(1000):
        tx_a.send(i)
        tx_b.send(i)
    picks = {id(rx_a): 0, id(rx_b): 0}
    for _ in range(1000):
        rx, _item = interpchan.select([rx_a, rx_b])
        picks[id(rx)] += 1
    assert min(picks.values()) > 100, picks  # neither starves (an exact split is not required)


def test_select_wakes_on_an_item_from_a_peer(concurrent_peer) -> None:
    _idle_tx, idle_rx = interpchan.channel()
    tx, rx = interpchan.channel()
    task = concurrent_peer.run(workers.produce, tx, ["wake up"])
    tx.close()
    assert interpchan.select([idle_rx, rx], timeout=30) == (rx, "wake up")
    task.join()


def test_select_in_a_peer(peer) -> None:
    senders, receivers = zip(*(interpchan.channel() for _ in range(3)), strict=True)
    for i, tx in enumerate(senders):
        tx.send(f"item {i}")
        tx.close()
    out_tx, out_rx = interpchan.channel()
    task = peer.run(workers.select_all, list(receivers), out_tx)
    for rx in receivers:
        rx.close()
    out_tx.close()
    assert sorted(workers.drain(out_rx)) == [(i, f"item {i}") for i in range(3)]
    assert task.join() == 3


def test_select_checks_its_arguments() -> None:
    tx, rx = interpchan.channel()
    with pytest.raises(ValueError):
        interpchan.select([])
    with pytest.raises(TypeError):
        interpchan.select([rx, tx])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        interpchan.select(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        interpchan.select([rx], timeout=-1)
    with pytest.raises(TypeError):
        interpchan.select([rx], timeout="soon")  # type: ignore[arg-type]
    tx.send("intact")
    assert interpchan.select(receivers=[rx], timeout=1) == (rx, "intact")
