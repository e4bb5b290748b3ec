"""Functions the core-hardening tests run in peers (threads and own-GIL sub-interpreters)."""

from __future__ import annotations

import interpchan

TIMEOUT = 30.0


def send_nested_channels(tx: interpchan.Sender, n: int) -> int:
    """Sends n pairs (i, rx_i): rx_i's channel holds i, then the Receiver of a channel that holds
    -i. Each round also makes one garbage cycle (a channel holding its own Receiver), so that
    collections run meanwhile; returns n."""
    with tx:
        for i in range(n):
            outer_tx, outer_rx = interpchan.channel()
            inner_tx, inner_rx = interpchan.channel(2)
            inner_tx.send(-i)
            outer_tx.send(i)
            outer_tx.send(inner_rx)
            tx.send((i, outer_rx))
            del outer_tx, outer_rx, inner_tx, inner_rx
            garbage_tx, garbage_rx = interpchan.channel()
            garbage_tx.send((garbage_rx, interpchan.Buffer(256)))
            del garbage_tx, garbage_rx
    return n


def check_nested_channels(rx: interpchan.Receiver, n: int) -> int:
    """Receives what send_nested_channels sends; returns how many arrived whole and in order."""
    whole = 0
    with rx:
        for expected in range(n):
            i, outer = rx.recv(timeout=TIMEOUT)
            inner = outer.recv(timeout=TIMEOUT) == i and outer.recv(timeout=TIMEOUT)
            if i == expected and inner and inner.recv(timeout=TIMEOUT) == -i:
                whole += 1
    return whole
