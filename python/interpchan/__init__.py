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

from __future__ import annotations

from . import _exit
from ._async import select_async
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

TYPE_CHECKING = False  # typing is not imported at run time: every worker imports interpchan
if TYPE_CHECKING:
    from typing import Any

    from ._pool import Pool

__all__ = [
    "Buffer",
    "ChannelClosed",
    "ChannelError",
    "Empty",
    "Full",
    "Pool",
    "Receiver",
    "Sender",
    "SharedBuffer",
    "Worker",
    "WorkerError",
    "channel",
    "select",
    "select_async",
    "spawn",
]

_exit.install()


def __getattr__(name: str) -> Any:
    # Looked up on first use, so that importing interpchan, which every worker interpreter does,
    # stays cheap: __version__ comes from the installed package's metadata (Cargo.toml's version,
    # through maturin; importlib.metadata is slow to import), Pool brings concurrent.futures,
    # which most workers never need, and bridge (interpchan.bridge.sender(...) after a plain
    # `import interpchan`) registers an exit hook only programs that use it need.
    if name == "__version__":
        from importlib.metadata import version

        globals()["__version__"] = found = version("interpchan")
        return found
    if name == "Pool":
        from ._pool import Pool

        return Pool
    if name == "bridge":
        import importlib  # not `from . import bridge`: that looks the name up here again

        return importlib.import_module(".bridge", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # The names looked up on first use are listed too (tab completion, inspect.getmembers).
    return sorted({*globals(), *__all__, "__version__", "bridge"})
