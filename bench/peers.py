"""Every peer, in table order: one file each (peer_*.py), all with harness.Peer's interface."""

from __future__ import annotations

from harness import BUSY, SLEEPS, SUBINTERPRETER, THREAD, Peer
from peer_cpython import InterpChannels, InterpQueues, InterpretersQueue
from peer_floor import CopyFloor
from peer_interpchan import Interpchan
from peer_multiprocessing import ProcessPipe, ProcessQueue
from peer_queue import ThreadQueue


def all_peers() -> list[Peer]:
    """Every peer (those missing on this Python are listed too, and skipped), then the floor."""
    return [
        Interpchan(SUBINTERPRETER),
        Interpchan(THREAD),
        ThreadQueue(),
        ThreadQueue(simple=True),
        ProcessQueue(),
        ProcessPipe(),
        InterpQueues(BUSY),
        InterpQueues(SLEEPS),
        InterpChannels(BUSY),
        InterpChannels(SLEEPS),
        InterpretersQueue(BUSY),
        InterpretersQueue(SLEEPS),
        CopyFloor(),
    ]
