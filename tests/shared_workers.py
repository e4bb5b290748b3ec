"""Module-level functions that the SharedBuffer and layout tests run in peers (threads and own-GIL
sub-interpreters). No numpy here: it cannot be imported in sub-interpreters."""

from __future__ import annotations

import os
import zlib
from typing import Any

import interpchan

TIMEOUT = 60.0

# Views kept alive on purpose until this interpreter is destroyed.
_KEPT: list[memoryview] = []

# PyBUF_WRITABLE: what a consumer passes to __buffer__ to ask for a writable view.
WRITABLE = 1


def write_refusals(view: memoryview) -> list[str]:
    """The names of the exceptions raised by each way of writing through a (non-empty) shared
    view: into the view, into a view of its SharedBuffer, asking the SharedBuffer for a writable
    buffer. "allowed" where a write went through."""
    attempts = [
        lambda: view.cast("B").__setitem__(0, 0),
        lambda: memoryview(view.obj).cast("B").__setitem__(slice(0, 1), b"\0"),
        lambda: view.obj.__buffer__(WRITABLE),
    ]
    refusals = []
    for attempt in attempts:
        try:
            attempt()
        except (TypeError, BufferError) as exc:
            refusals.append(type(exc).__name__)
        else:
            refusals.append("allowed")
    return refusals


def describe(view: memoryview) -> dict[str, Any]:
    """What a received view looks like, seen where it was received."""
    return {
        "view": type(view).__name__,
        "obj": type(view.obj).__name__,
        "format": view.format,
        "itemsize": view.itemsize,
        "shape": view.shape,
        "strides": view.strides,
        "readonly": view.readonly,
        "nbytes": view.nbytes,
        "crc": zlib.crc32(view),
    }


def inspect_shared(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """For every shared view received: send back what it looked like, how writes through it were
    refused, and its SharedBuffer (forwarded without a copy)."""
    count = 0
    with rx, tx:
        for item in rx:
            view = item
            obj = view.obj
            seen = describe(view)
            seen["len"] = len(obj)
            seen["obj_format"] = obj.format
            seen["obj_shape"] = obj.shape
            seen["refusals"] = write_refusals(view)
            seen["first"] = view.cast("B")[0] if view.nbytes else None
            tx.send((seen, obj), timeout=TIMEOUT)
            count += 1
    return count


def layout_round_trip(rx: interpchan.Receiver, tx: interpchan.Sender) -> int:
    """For every buffer view received: send back what it looked like and its contents as a list
    (where memoryview can list them), then move its Buffer back (no copy)."""
    count = 0
    with rx, tx:
        for view in rx:
            seen = describe(view)
            try:
                seen["list"] = view.tolist()
            except NotImplementedError:
                seen["list"] = None
            seen["element"] = element(view)
            buf = view.obj
            view.release()
            tx.send((seen, buf), timeout=TIMEOUT)
            count += 1
    return count


def element(view: memoryview) -> Any:
    """The last element read by a full index (mv[i, j, ...]), or None where memoryview cannot."""
    if view.nbytes == 0:
        return None
    index = tuple(n - 1 for n in view.shape)
    try:
        return view[index] if view.ndim != 1 else view[index[0]]
    except NotImplementedError:
        return None


def make_layout_buffer(nbytes: int, format: str, shape: tuple[int, ...]) -> interpchan.Buffer:
    """A Buffer with this layout whose bytes count up (it moves to the caller)."""
    buf = interpchan.Buffer(nbytes, format=format, shape=shape)
    flat = memoryview(buf).cast("B")
    flat[:] = bytes(i % 251 for i in range(nbytes))
    flat.release()
    return buf


def rss_bytes() -> int:
    """This process's resident set size, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def checksum_and_hold(
    rx: interpchan.Receiver, report: interpchan.Sender, release: interpchan.Receiver
) -> int:
    """Say ready; receive one shared view and checksum it; report; hold the view until told to
    drop it, drop it, report again. Returns this interpreter's process id (one process)."""
    with rx, report, release:
        report.send("ready", timeout=TIMEOUT)
        view = rx.recv(timeout=TIMEOUT)
        report.send((zlib.crc32(view), len(view), view.readonly, type(view.obj).__name__))
        release.recv(timeout=TIMEOUT)
        view.release()
        del view
        report.send("released", timeout=TIMEOUT)
    return os.getpid()


def hold_until_told(
    rx: interpchan.Receiver,
    report: interpchan.Sender,
    release: interpchan.Receiver,
    drop_before_return: bool,
) -> int:
    """Receive one shared view, report its checksum, wait for the word, then either drop the
    view and return, or return holding it (the interpreter is destroyed with the view alive)."""
    with rx, report, release:
        view = rx.recv(timeout=TIMEOUT)
        report.send(zlib.crc32(view), timeout=TIMEOUT)
        release.recv(timeout=TIMEOUT)
        if drop_before_return:
            view.release()
            del view
            return 0
        _KEPT.append(view)  # lives until the interpreter is destroyed
    return 1
