"""Trust model: a pickled handle reaches its channel end only with that end's unguessable token.

A reference is 33 bytes: kind (b"S" or b"R"), process nonce (8), channel id (8), token (16).
Ids are sequential, so guessable; tokens are 128 random bits from the OS, one per channel end.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

import interpchan
from conftest import SubInterpreter

restore = interpchan._interpchan._restore


def _reference(handle: interpchan.Sender | interpchan.Receiver) -> bytes:
    func, (reference,) = handle.__reduce__()
    assert func is restore and len(reference) == 33
    return reference


def _with(
    reference: bytes,
    *,
    code: bytes = b"",
    process: bytes = b"",
    id: bytes = b"",
    token: bytes = b"",
) -> bytes:
    """reference with some of its fields replaced."""
    return (
        (code or reference[:1])
        + (process or reference[1:9])
        + (id or reference[9:17])
        + (token or reference[17:])
    )


def _refused(reference: bytes) -> None:
    with pytest.raises(interpchan.ChannelClosed, match="gone"):
        restore(reference)


def _untouched(tx: interpchan.Sender, rx: interpchan.Receiver) -> None:
    """The channel has exactly the handles we made: closing ours closes it."""
    tx.send("still ours")
    assert len(rx) == 1 and rx.recv(timeout=5) == "still ours"
    tx.close()
    assert rx.closed  # no Sender was made behind our back


def test_each_end_has_its_own_token() -> None:
    tx, rx = interpchan.channel()
    sender_ref, receiver_ref = _reference(tx), _reference(rx)
    assert sender_ref[:17] == b"S" + receiver_ref[1:17]  # same process and channel id
    assert sender_ref[17:] != receiver_ref[17:]
    assert _reference(tx.clone())[17:] == sender_ref[17:]  # one token per end, not per handle


def test_a_sender_reference_does_not_reach_the_receiver() -> None:
    tx, rx = interpchan.channel()
    _refused(_with(_reference(tx), code=b"R"))
    _untouched(tx, rx)


def test_a_receiver_reference_does_not_reach_the_sender() -> None:
    tx, rx = interpchan.channel()
    tx.send("queued")
    _refused(_with(_reference(rx), code=b"S"))
    rx.close()
    assert tx.closed  # no Receiver was made behind our back


def test_guessed_tokens_are_refused() -> None:
    tx, rx = interpchan.channel()
    reference = _reference(tx)
    token = int.from_bytes(reference[17:], "little")
    guesses = [bytes(16), b"\xff" * 16]
    guesses += [(token ^ (1 << bit)).to_bytes(16, "little") for bit in range(128)]
    guesses += [os.urandom(16) for _ in range(2000)]
    for guess in guesses:
        _refused(_with(reference, token=guess))
    _untouched(tx, rx)


def test_another_channels_token_does_not_open_this_channel() -> None:
    tx, rx = interpchan.channel()
    other_tx, _other_rx = interpchan.channel()
    _refused(_with(_reference(other_tx), id=_reference(tx)[9:17]))  # its token, our id
    _refused(_with(_reference(tx), id=_reference(other_tx)[9:17]))  # our token, its id
    _untouched(tx, rx)


def test_a_reference_from_another_process_is_refused_even_with_this_process_nonce() -> None:
    """The other process numbers its channels from 1 too: give its reference our nonce and the id
    of a live channel of ours, and the token still does not match."""
    tx, rx = interpchan.channel()
    ours = _reference(tx)
    our_id = int.from_bytes(ours[9:17], "little")
    script = (
        "import interpchan, pickle, sys\n"
        f"while True:\n"
        "    tx, rx = interpchan.channel()\n"
        f"    if tx.__reduce__()[1][0][9:17] == {ours[9:17]!r}:\n"
        "        break\n"
        "sys.stdout.buffer.write(tx.__reduce__()[1][0])\n"
    )
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr
    theirs = made.stdout
    assert int.from_bytes(theirs[9:17], "little") == our_id
    with pytest.raises(interpchan.ChannelClosed, match="another process"):
        restore(theirs)
    _refused(_with(theirs, process=ours[1:9]))
    _untouched(tx, rx)


def test_references_die_with_their_end_and_are_never_reused() -> None:
    tx, rx = interpchan.channel()
    old = _reference(tx)
    tx.close()
    _refused(old)
    newer = [interpchan.channel() for _ in range(100)]  # ids only ever grow
    assert all(_reference(t)[9:17] != old[9:17] for t, _ in newer)
    _refused(old)
    assert rx.closed


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "S" * 33,
        bytearray(33),
        memoryview(bytes(33)),
        b"",
        bytes(32),
        bytes(34),
        b"X" + bytes(32),
    ],
    ids=["None", "str", "bytearray", "memoryview", "empty", "short", "long", "unknown-kind"],
)
def test_malformed_references_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="not a channel handle reference"):
        restore(bad)


def test_forged_references_are_refused_in_a_sub_interpreter() -> None:
    tx, rx = interpchan.channel()
    forged = [
        _with(_reference(tx), code=b"R"),
        _with(_reference(tx), token=bytes(16)),
        _with(_reference(rx), token=os.urandom(16)),
    ]
    with SubInterpreter() as interp:
        interp.exec(
            "import interpchan, pickle\n"
            f"tx = pickle.loads({pickle.dumps(tx)!r})\n"
            f"for reference in {forged!r}:\n"
            "    try:\n"
            "        interpchan._interpchan._restore(reference)\n"
            "    except interpchan.ChannelClosed:\n"
            "        tx.send('refused')\n"
            "    else:\n"
            "        tx.send('ACCEPTED')\n"
        )
    assert [rx.recv(timeout=5) for _ in forged] == ["refused"] * len(forged)
    _untouched(tx, rx)
