"""Memory: no growth and no leaked references over many messages."""

from __future__ import annotations

import gc
import sys

import pytest

import interpchan
import workers


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _traffic(tx: interpchan.Sender, rx: interpchan.Receiver, payload: object, n: int) -> None:
    for _ in range(n):
        tx.send(payload)
        rx.recv()
        buf = interpchan.Buffer(256)
        tx.send(buf)
        rx.recv().release()
        tx.send(bytearray(64))
        rx.recv()


def test_memory_is_stable_over_200k_messages() -> None:
    tx, rx = interpchan.channel()
    payload = ("text" * 4, [1, 2.5, {"k": b"v" * 32}], 2**90, None)
    _traffic(tx, rx, payload, 10_000)  # warm up allocators
    gc.collect()
    refs_before = sys.getrefcount(payload)
    rss_before = _rss_bytes()
    _traffic(tx, rx, payload, 200_000 // 3)
    gc.collect()
    growth = _rss_bytes() - rss_before
    assert sys.getrefcount(payload) == refs_before
    assert growth < 8 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB"


def test_channels_are_freed_when_their_handles_go() -> None:
    before = interpchan._interpchan._live_channels()
    pairs = [interpchan.channel(4) for _ in range(1000)]
    for tx, _rx in pairs:
        tx.send(interpchan.channel())  # a channel in flight inside another
    assert interpchan._interpchan._live_channels() >= before + 2000
    del pairs, tx, _rx
    gc.collect()
    assert interpchan._interpchan._live_channels() == before


def test_sent_objects_are_not_kept_alive() -> None:
    tx, rx = interpchan.channel()
    payload = ["something"]
    before = sys.getrefcount(payload)
    for _ in range(1000):
        tx.send(payload)
    assert sys.getrefcount(payload) == before  # the channel holds Rust data, not the object
    got = [rx.recv() for _ in range(1000)]
    assert all(g == payload and g is not payload for g in got)


def test_memory_is_stable_over_200k_messages_from_a_sub_interpreter() -> None:
    tx, rx = interpchan.channel(64)
    worker = interpchan.spawn(workers.produce_many, tx, 220_000)
    tx.close()
    for _ in range(20_000):  # warm up: the interpreter and the allocators are set up by now
        rx.recv(timeout=30)
    gc.collect()
    rss_before = _rss_bytes()
    kinds: set[type] = set()
    for _ in range(200_000):
        kinds.add(type(rx.recv(timeout=30)))
    gc.collect()
    growth = _rss_bytes() - rss_before
    with pytest.raises(interpchan.ChannelClosed):
        rx.recv(timeout=30)
    assert worker.join(60) == 220_000
    assert kinds == {tuple, memoryview}
    assert growth < 8 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB"
