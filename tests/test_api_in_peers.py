"""The whole API, error paths included, behaves the same in threads and own-GIL sub-interpreters."""

from __future__ import annotations

import workers


def test_api_tour_in_a_peer(peer) -> None:
    """Each peer has its own classes; the exceptions are still the documented ones."""
    seen = peer.run(workers.api_tour).join()
    assert seen == {
        "hierarchy": True,
        "bad capacities": ["ValueError", "TypeError", "TypeError"],
        "capacity": (1, 1, None),
        "len": (1, 1),
        "full": True,
        "send timeout": "TimeoutError",
        "first": 10**30,
        "empty": True,
        "recv timeout": "TimeoutError",
        "negative timeout": "ValueError",
        "unsendable": (True, 0),
        "bad buffers": ("ValueError", "TypeError"),
        "live view": ("BufferError", False, 0),
        "moved": (True, 0, "ValueError"),
        "received view": (b"abcd", False, True),
        "select": (True, "selected"),
        "select timeout": "TimeoutError",
        "after close": (True, True, "ChannelClosed"),
        "restored": "by a restored handle",
        "drained": (["by a clone"], True, "ChannelClosed"),
        "select all closed": "ChannelClosed",
        "receiver dropped": (True, "ChannelClosed"),
    }
