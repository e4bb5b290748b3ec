"""Channels over ZeroMQ: a local channel whose other end is in another process or machine.

``receiver(endpoint)`` returns a Receiver out of which come the items that remote senders push
to ``endpoint``; ``sender(endpoint)`` returns a Sender whose items are pushed to ``endpoint``.
Both are ordinary handles (clone them, send them to sub-interpreters, select on them). A Rust
thread per bridge, outside every interpreter, moves items between the channel and one ZeroMQ
socket, in the wire format described in docs/bridge.md.

>>> import interpchan.bridge, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "doc.sock")
>>> rx = interpchan.bridge.receiver(f"ipc://{path}", bind=True)
>>> tx = interpchan.bridge.sender(f"ipc://{path}")
>>> tx.send({"answer": 42})
>>> tx.close()  # the last Sender of the bridge: its stream ends
>>> list(rx)
[{'answer': 42}]
"""

from __future__ import annotations

import atexit

from . import _interpchan
from ._interpchan import Receiver, Sender

__all__ = ["DEFAULT_CAPACITY", "LINGER", "receiver", "sender"]

#: Capacity of a bridge's local channel unless given.
DEFAULT_CAPACITY = 1000
#: Seconds that interpreter exit waits, at most, for this interpreter's open bridge senders to
#: deliver what they hold and end their streams.
LINGER = 5.0

_senders: list[int] = []


def _check_bridged() -> None:
    if not hasattr(_interpchan, "_bridge_sender"):
        raise RuntimeError("interpchan was built without its 'bridge' feature (ZeroMQ)")


def receiver(
    endpoint: str, *, bind: bool = False, capacity: int | None = DEFAULT_CAPACITY
) -> Receiver:
    """Return a Receiver of the items remote bridge senders push to ``endpoint``.

    ``endpoint`` is ``tcp://host:port`` or ``ipc://path``; ``bind=True`` listens there (several
    senders may connect), otherwise connects. ``capacity`` bounds the local channel (None:
    unbounded). The stream ends (drained, then ChannelClosed) once at least one remote sender
    has sent and every remote sender that has ended its stream. If the network sends something
    that is not a valid message, or items of a stream are lost, the bridge closes its socket;
    the items received before stay receivable, then recv raises ChannelError saying why.
    """
    _check_bridged()
    rx, _ = _interpchan._bridge_receiver(endpoint, bind, capacity)
    return rx


def sender(endpoint: str, *, bind: bool = False, capacity: int | None = DEFAULT_CAPACITY) -> Sender:
    """Return a Sender whose items are pushed to the bridge receiver at ``endpoint``.

    Closing the last Sender of the bridge ends its stream, after every item sent before. Items
    holding channel ends are refused with TypeError. Sending blocks while the local channel and
    ZeroMQ's queues (1000 messages, a message being an item or a batch of items) are full. Once
    its stream has ended, the bridge keeps its connection until the receiver has closed it. At
    interpreter exit, open bridge senders deliver what they hold and end their streams, for at
    most ``LINGER`` seconds.
    """
    _check_bridged()
    tx, bridge_id = _interpchan._bridge_sender(endpoint, bind, capacity)
    _senders.append(bridge_id)
    return tx


@atexit.register
def _finish_at_exit() -> None:
    if _senders:
        left = _interpchan._bridge_finish(_senders, LINGER)
        if left:
            import sys

            print(
                f"interpchan.bridge: {left} bridge sender(s) did not deliver everything within "
                f"LINGER ({LINGER} s) at exit: what they still held is lost, and their far "
                "receivers' streams stay open",
                file=sys.stderr,
            )
