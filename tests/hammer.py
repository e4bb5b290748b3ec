"""Participants of the thread hammer (test_threads_hammer.py), run by threads and sub-interpreters.

Each participant sends tagged items ``(participant, seq)`` through many kinds of handle (the
shared one, clones, unpickled copies, clones other threads publish and close under it), receives
as it goes through as many kinds, then drains until the channel closes. Tags come back in the
order this participant received them, so the test can account for every item and check order.
"""

from __future__ import annotations

import dataclasses
import pickle
import struct
import threading
from typing import Any

import interpchan

# A safety net only (a TimeoutError instead of a hang): no test waits for it to pass.
LONG = 60.0

TAG = struct.Struct("<qq")


@dataclasses.dataclass(frozen=True)
class Tag:
    """A user class: sent by pickle."""

    who: int
    seq: int


def make_item(who: int, seq: int) -> Any:
    """Item number seq of participant who, in one of six shapes that all carry its tag."""
    shape = seq % 6
    if shape == 0:
        buf = interpchan.Buffer(TAG.size)
        TAG.pack_into(buf, 0, who, seq)
        return buf
    if shape == 1:
        return {"tag": [who, seq]}
    if shape == 2:
        return (who, seq)
    if shape == 3:
        return [who, seq]
    if shape == 4:
        return f"{who}:{seq}"
    return Tag(who, seq)


def tag_of(item: Any) -> tuple[int, int]:
    """The tag a received item carries (inverse of make_item)."""
    if isinstance(item, memoryview):
        with item:
            who, seq = TAG.unpack(item)
        return (who, seq)
    if isinstance(item, dict):
        who, seq = item["tag"]
        return (who, seq)
    if isinstance(item, (tuple, list)):
        who, seq = item
        return (who, seq)
    if isinstance(item, str):
        who, seq = item.split(":")
        return (int(who), int(seq))
    assert isinstance(item, Tag), item
    return (item.who, item.seq)


class Board:
    """Clones that threads publish for the others to use; their owner closes them at any time."""

    def __init__(self, size: int) -> None:
        self.slots: list[tuple[interpchan.Sender, interpchan.Receiver] | None] = [None] * size
        self.lock = threading.Lock()

    def borrow(self, index: int) -> tuple[interpchan.Sender, interpchan.Receiver] | None:
        return self.slots[index % len(self.slots)]

    def publish(self, index: int, pair: tuple[interpchan.Sender, interpchan.Receiver]) -> None:
        """Puts pair in slot index, closing the pair it replaces (perhaps in use elsewhere)."""
        with self.lock:
            old = self.slots[index]
            self.slots[index] = pair
        if old is not None:
            for handle in old:
                handle.close()

    def close_all(self) -> None:
        with self.lock:
            pairs, self.slots = self.slots, [None] * len(self.slots)
        for pair in pairs:
            for handle in pair or ():
                handle.close()


Pair = tuple[interpchan.Sender, interpchan.Receiver]


def _send_once(way: int, tx: interpchan.Sender, borrowed: Pair | None, item: Any) -> bool:
    """Sends item through the handle `way` picks; False if that handle was closed under us."""
    made: interpchan.Sender | None = None
    handle = tx
    if way == 1:
        handle = made = tx.clone()
    elif way == 2:
        handle = made = pickle.loads(pickle.dumps(tx))
    elif way == 3 and borrowed is not None:
        handle = borrowed[0]  # another thread's clone: it may be closed at any moment
    try:
        if way in (0, 3):
            try:
                handle.send_nowait(item)
            except interpchan.Full:
                handle.send(item, timeout=LONG)
        else:
            handle.send(item, timeout=LONG)
        return True
    except interpchan.ChannelClosed:
        assert borrowed is not None and handle is borrowed[0], "only a borrowed clone closes"
        return False
    finally:
        if made is not None:
            made.close()


def _receive_one(way: int, rx: interpchan.Receiver, borrowed: Pair | None) -> Any:
    """At most one item, taken without waiting through the handle `way` picks; None if none,
    ChannelClosed if that handle was a borrowed clone its owner closed (nothing is taken)."""
    made: interpchan.Receiver | None = None
    try:
        if way == 0:
            return rx.recv_nowait()
        if way == 1:
            return rx.recv(timeout=0)
        if way == 2:
            made = rx.clone()
            return made.recv_nowait()
        if way == 3:
            made = pickle.loads(pickle.dumps(rx))
            return made.recv(timeout=0)
        if way == 4:
            return interpchan.select([rx], timeout=0)[1]
        handle = borrowed[1] if borrowed is not None else rx
        try:
            return handle.recv_nowait()
        except interpchan.ChannelClosed:
            assert handle is not rx, "only a borrowed clone closes"
            return interpchan.ChannelClosed
    except (interpchan.Empty, TimeoutError):
        return None
    finally:
        if made is not None:
            made.close()


def participant(
    who: int,
    tx: interpchan.Sender,
    rx: interpchan.Receiver,
    n: int,
    done: interpchan.Sender,
    board: Board | None = None,
    own_handles: bool = False,
) -> tuple[list[tuple[int, int]], int]:
    """Sends n tagged items, receiving as it goes; tells `done`, then drains until closed.

    Returns the tags received, in order, and how many calls a borrowed clone refused because
    its owner had closed it (a refused send is made again through the shared handle).
    `own_handles`: tx, rx and done are this participant's alone (in a sub-interpreter) and it
    closes them; otherwise they are shared.
    """
    got: list[tuple[int, int]] = []
    refused = 0
    borrowed: Pair | None = None  # held for a whole round, while its owner may close it
    try:
        for seq in range(n):
            if board is not None and seq % 4 == 0:
                board.publish(who % len(board.slots), (tx.clone(), rx.clone()))
            item = make_item(who, seq)
            # Sent exactly once: a closed borrowed clone hands the item back (a Buffer unmoved).
            if not _send_once(seq % 4, tx, borrowed, item):
                refused += 1
                assert _send_once(0, tx, None, item)
            if isinstance(item, interpchan.Buffer):
                assert item.moved
            # One receive per send (or an empty channel) keeps the channel from filling up while
            # every participant is in send: that is what makes this loop deadlock-free.
            received = _receive_one(seq % 6, rx, borrowed)
            if received is interpchan.ChannelClosed:
                refused += 1
                received = _receive_one(0, rx, None)
            if received is not None:
                got.append(tag_of(received))
            borrowed = board.borrow(who + 1 + seq) if board is not None else None
    finally:
        done.send(who)  # even after a failure, so that the test ends (and reports it)
    if own_handles:
        tx.close()
        done.close()
    # Drain through a handle nobody else closes: it ends once every Sender is gone.
    with rx.clone() as mine:
        if who % 2:
            got.extend(tag_of(item) for item in mine)
        else:
            while True:
                try:
                    got.append(tag_of(mine.recv(timeout=LONG)))
                except interpchan.ChannelClosed:
                    break
    if own_handles:
        rx.close()
    return got, refused


def first_pickled_sends(tx: interpchan.Sender, threads: int) -> int:
    """In a fresh interpreter, `threads` threads send their first pickled item all at once (the
    module imports pickle on first use). Returns how many sent."""
    barrier = threading.Barrier(threads)
    sent: list[int] = []

    def one(who: int) -> None:
        barrier.wait()
        tx.send(Tag(who, 0))
        sent.append(who)

    workers = [threading.Thread(target=one, args=(who,)) for who in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    tx.close()
    return len(sent)
