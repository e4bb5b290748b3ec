"""interpchan: fast, safe channels between Python interpreters (own-GIL sub-interpreters, threads).

Channels live in Rust, outside every interpreter. Sending turns an item into Rust-owned data;
receiving builds fresh objects in the receiving interpreter. ``Buffer`` memory moves with no
copy, and the sender can no longer reach it; ``Buffer.share()`` makes a read-only
``SharedBuffer`` that any number of interpreters receive with no copy.

>>> import interpchan
>>> tx, rx = interpchan.channel()
>>> tx.send({"answer": 42})
>>> rx.recv()
{'answer': 42}
"""

from ._interpchan import (
    Buffer,
    ChannelClosed,
    ChannelError,
    Empty,
    Full,
    Receiver,
    Sender,
    SharedBuffer,
    channel,
    select,
)
from ._spawn import Worker, WorkerError, spawn

__all__ = [
    "Buffer",
    "ChannelClosed",
    "ChannelError",
    "Empty",
    "Full",
    "Receiver",
    "Sender",
    "SharedBuffer",
    "Worker",
    "WorkerError",
    "channel",
    "select",
    "spawn",
]


def __getattr__(name: str) -> str:
    # __version__ comes from the installed package's metadata (Cargo.toml's version, through
    # maturin), looked up on first use so that importing interpchan, in every new interpreter
    # spawn() starts, does not pay for importlib.metadata.
    if name == "__version__":
        from importlib.metadata import version

        globals()["__version__"] = found = version("interpchan")
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
