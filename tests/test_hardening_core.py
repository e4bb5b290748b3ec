"""Hostile use of the core: chains of channels dropped at once, cycles of channels, fork(), and
memory running out. Each ends without a crash, a leak or a silent loss.

docs/reliability.md maps each fault to its test here.
"""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import textwrap
import threading

import hardening_workers
import pytest

import interpchan
from conftest import JOIN_TIMEOUT, Peer

MiB = 1 << 20


def _live() -> int:
    gc.collect()
    return interpchan._interpchan._live_channels()


def _run(script: str, timeout: float = 300) -> list[str]:
    """Runs script in a fresh interpreter; its stdout lines (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, timeout=timeout
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr.decode()[-3000:]}"
    return done.stdout.decode().splitlines()


# --- 1. dropping a chain of channels -------------------------------------------------------------

CHAIN = """
import sys, threading, interpchan

def chain(links, capacity, wrap):
    '''Channel i's only item is channel i+1's Receiver (each link sent on its own).'''
    tx, head = interpchan.channel(capacity)
    for _ in range(links):
        next_tx, next_rx = interpchan.channel(capacity)
        tx.send(wrap(next_rx))
        tx = next_tx
    return head

def drop_chain(links, capacity, wrap):
    head = chain(links, capacity, wrap)
    del head  # the whole chain goes here

before = interpchan._interpchan._live_channels()
"""


@pytest.mark.parametrize("capacity", [None, 1])
def test_a_100k_channel_chain_drops_in_the_main_thread(capacity: int | None) -> None:
    """Main's build overflowed the stack (SIGSEGV) from about 11 000 links."""
    lines = _run(
        CHAIN
        + f"""
drop_chain(100_000, {capacity}, lambda rx: rx)
print(interpchan._interpchan._live_channels() - before)
"""
    )
    assert lines == ["0"]


@pytest.mark.parametrize("capacity", [None, 1])
def test_a_channel_chain_drops_in_a_thread_with_a_256_kib_stack(capacity: int | None) -> None:
    """Main's build overflowed a 256 KiB thread stack from about 340 links. Links are also held
    inside 1000-deep containers (the deepest an item may be), which drop without recursion too."""
    lines = _run(
        CHAIN
        + f"""
def deep(rx):
    item = [rx]
    for _ in range(999):
        item = [item]
    return item

threading.stack_size(256 << 10)
for wrap in (lambda rx: rx, lambda rx: (None, [rx]), deep):
    t = threading.Thread(target=drop_chain, args=(20_000, {capacity}, wrap))
    t.start()
    t.join()
print(interpchan._interpchan._live_channels() - before)
"""
    )
    assert lines == ["0"]


def test_a_channel_chain_drops_in_a_sub_interpreter_on_a_256_kib_stack() -> None:
    """An own-GIL sub-interpreter, run by a thread with a 256 KiB stack, builds a 20 000-link
    chain and drops it; then it is destroyed holding a second one (dropped with its objects)."""
    source = (
        CHAIN
        + "\ndrop_chain(20_000, None, lambda rx: rx)\nkept = chain(20_000, 1, lambda rx: [rx])\n"
    )
    lines = _run(
        f"""
import sys, threading, interpchan
sys.path[:] = {sys.path!r}
from conftest import SubInterpreter

def run():
    interp = SubInterpreter()
    interp.exec({source!r})
    interp.close()

before = interpchan._interpchan._live_channels()
threading.stack_size(256 << 10)
t = threading.Thread(target=run)
t.start()
t.join()
print(interpchan._interpchan._live_channels() - before)
"""
    )
    assert lines == ["0"]


# --- 3. cycles of channels ----------------------------------------------------------------------


def test_100k_channels_holding_their_own_receiver_stay_bounded() -> None:
    """`tx.send(rx)` then dropping every handle, 100 000 times: main's build kept every channel
    (+100 000 live channels, RSS +175 MiB); now collections run by themselves."""
    lines = _run(
        """
        import interpchan

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096

        live, rss_before = interpchan._interpchan._live_channels(), rss()
        peak = 0
        for i in range(100_000):
            tx, rx = interpchan.channel()
            tx.send(rx)
            del tx, rx
            if i % 1000 == 999:
                peak = max(peak, interpchan._interpchan._live_channels() - live)
        print(peak)
        print((rss() - rss_before) >> 20)
        """
    )
    peak, rss_growth_mib = map(int, lines)
    assert peak <= 3000, f"{peak} channels alive at once"
    assert rss_growth_mib < 20, f"RSS grew by {rss_growth_mib} MiB"


def test_channels_holding_each_others_receivers_are_freed_with_their_buffers() -> None:
    """Two channels each holding the other's Receiver and a 32 MiB Buffer: unreachable once the
    handles go, and a collection frees both channels and both Buffers."""
    lines = _run(
        """
        import gc, interpchan

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096

        live = interpchan._interpchan._live_channels()
        a_tx, a_rx = interpchan.channel()
        b_tx, b_rx = interpchan.channel(4)
        for tx, rx in ((a_tx, b_rx), (b_tx, a_rx)):
            buf = interpchan.Buffer(32 << 20)
            memoryview(buf)[:] = b"\\x5a" * (32 << 20)  # every page in RSS
            tx.send((rx, buf))
        del tx, rx, buf
        full = rss()
        del a_tx, a_rx, b_tx, b_rx
        gc.collect()
        print(interpchan._interpchan._live_channels() - live)
        print(interpchan._interpchan._collect())
        print(interpchan._interpchan._live_channels() - live)
        print((full - rss()) >> 20)
        """
    )
    before, found, after, freed_mib = map(int, lines)
    assert (before, found, after) == (2, 2, 0)
    assert freed_mib >= 56, f"only {freed_mib} MiB freed"


def test_a_reachable_chain_is_not_collected() -> None:
    """Channels reachable only through other channels' queues, from a live handle: collections
    leave them alone, and every item arrives, in order."""
    live = _live()
    head_tx, head = interpchan.channel()
    tx = head_tx
    for depth in range(50):
        next_tx, next_rx = interpchan.channel(None if depth % 2 else 3)
        tx.send(depth)
        tx.send([{"next": next_rx}])
        tx = next_tx
    tx.send("end")
    del tx, next_tx, next_rx, head_tx
    assert interpchan._interpchan._collect() == 0
    rx = head
    for depth in range(50):
        assert rx.recv(timeout=5) == depth
        [holder] = rx.recv(timeout=5)
        rx = holder["next"]
        assert interpchan._interpchan._collect() == 0
    assert rx.recv(timeout=5) == "end"
    del rx, head, holder
    assert _live() == live


def test_a_cycle_kept_by_a_handle_is_not_collected() -> None:
    """Two channels holding each other's Receivers are garbage only if nothing outside holds
    them: here a handle on one of them does, so both stay, with their items."""
    a_tx, a_rx = interpchan.channel()
    b_tx, b_rx = interpchan.channel(2)
    a_tx.send(b_rx)
    a_tx.send("a")
    b_tx.send(a_rx.clone())
    b_tx.send("b")
    del b_tx, b_rx
    assert interpchan._interpchan._collect() == 0
    b = a_rx.recv(timeout=5)
    a_again = b.recv(timeout=5)
    assert (a_rx.recv(timeout=5), b.recv(timeout=5)) == ("a", "b")
    a_rx.close()
    a_tx.send("later")  # the handle received through the cycle still works
    assert a_again.recv(timeout=5) == "later"


def test_a_pickled_reference_does_not_keep_a_collected_channel() -> None:
    """A pickled reference is weak (it never keeps a channel alive): once the channel is found
    unreachable, the reference no longer resolves to it."""
    tx, rx = interpchan.channel()
    reference = pickle.dumps(rx)
    tx.send(rx)
    del tx, rx
    assert interpchan._interpchan._collect() == 1
    with pytest.raises(interpchan.ChannelClosed):
        pickle.loads(reference)


def test_collections_under_concurrent_senders_and_receivers(concurrent_peer: Peer) -> None:
    """A peer sends channels holding channels while another receives them and the main thread
    collects in a loop (collections also run by themselves, from the garbage cycles the sender
    makes): every nested item arrives, and the garbage is freed."""
    n = 3000
    live = _live()
    tx, rx = interpchan.channel(16)
    tasks = [
        concurrent_peer.run(hardening_workers.send_nested_channels, tx, n),
        concurrent_peer.run(hardening_workers.check_nested_channels, rx, n),
    ]
    del tx, rx
    done = threading.Event()
    results: list[object] = []
    collections = 0

    def finish() -> None:
        try:
            results.extend(task.join(JOIN_TIMEOUT) for task in tasks)
        except BaseException as exc:
            results.append(exc)
        finally:
            done.set()

    finisher = threading.Thread(target=finish)
    finisher.start()
    while True:  # at least once, however soon the peers finish
        interpchan._interpchan._collect()
        collections += 1
        if done.is_set():
            break
    finisher.join()
    assert results == [n, n]
    tasks.clear()  # a spawned worker holds its result channel
    interpchan._interpchan._collect()
    assert _live() == live
    assert collections > 0


# --- 4. fork() ----------------------------------------------------------------------------------

FORK_CHILD_CHECKS = """
def child_checks(tx, rx, reference):
    '''What a child sees of the channels it inherited; a list of problems (empty: all good).'''
    problems = []

    def closed(name, call):
        try:
            call()
        except interpchan.ChannelClosed:
            return
        except BaseException as exc:
            problems.append(f"{name}: {exc!r}")
            return
        problems.append(f"{name}: no error")

    closed("send", lambda: tx.send("from the child"))
    closed("send_nowait", lambda: tx.send_nowait("from the child"))
    closed("recv", lambda: rx.recv(timeout=0.5))
    closed("recv_nowait", rx.recv_nowait)
    closed("select", lambda: interpchan.select([rx], timeout=0.5))
    closed("clone", tx.clone)
    closed("pickle", lambda: pickle.dumps(rx))
    closed("parent reference", lambda: pickle.loads(reference))
    if list(rx) != []:
        problems.append("iteration yielded items")
    if not (tx.closed and rx.closed):
        problems.append("not closed")
    if len(tx) or len(rx):
        problems.append(f"len {len(tx)} {len(rx)}")
    tx.close()
    rx.close()
    new_tx, new_rx = interpchan.channel(1)
    new_tx.send(("new", [1, 2]))
    if new_rx.recv(timeout=5) != ("new", [1, 2]):
        problems.append("a new channel does not work")
    del tx, rx, new_tx, new_rx
    gc.collect()
    return problems
"""


def test_a_forked_child_sees_inherited_channels_closed_and_the_parent_is_unaffected() -> None:
    """In the child every operation on an inherited handle raises ChannelClosed (main's build let
    sends 'succeed' into the child's private copy), and references pickled by the parent are
    refused. A thread of the parent is blocked in recv on the channel at the moment of fork."""
    lines = _run(
        "import gc, os, pickle, threading, warnings, interpchan\n"
        + FORK_CHILD_CHECKS
        + """
warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
tx, rx = interpchan.channel(4)
tx.send("queued before the fork")
reference = pickle.dumps(tx)
other_tx, other_rx = interpchan.channel(0)
blocked = threading.Thread(target=other_rx.recv)
blocked.start()
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        problems = child_checks(tx, rx, reference)
        del other_tx, other_rx
        gc.collect()
        os.write(write_end, repr(problems).encode())
    finally:
        os._exit(0)
os.close(write_end)
with os.fdopen(read_end) as f:
    print(f.read())
assert os.waitpid(pid, 0)[1] == 0
print(rx.recv(timeout=5), len(rx))
tx.send("parent still sends")
print(rx.recv(timeout=5))
assert pickle.loads(reference).closed is False
other_tx.send("wake")
blocked.join()
"""
    )
    assert lines == ["[]", "queued before the fork 0", "parent still sends"]


def test_a_send_in_a_multiprocessing_fork_child_raises_channel_closed() -> None:
    """multiprocessing with the fork start method: a send in the child raises ChannelClosed
    instead of silently going to the child's private copy; the parent gets nothing."""
    lines = _run(
        """
        import multiprocessing, interpchan

        def child(tx, results):
            try:
                tx.send("from the child")
                results.send("sent")
            except interpchan.ChannelClosed as exc:
                results.send("ChannelClosed")

        if __name__ == "__main__":
            tx, rx = interpchan.channel()
            ctx = multiprocessing.get_context("fork")
            parent_end, child_end = ctx.Pipe()
            process = ctx.Process(target=child, args=(tx, child_end))
            process.start()
            print(parent_end.recv())
            process.join()
            print(process.exitcode, len(rx))
            tx.send("parent")
            print(rx.recv_nowait())
        """
    )
    assert lines == ["ChannelClosed", "0 0", "parent"]


# --- 2. memory running out ----------------------------------------------------------------------

CAPPED = """
import resource, interpchan

def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

resource.setrlimit(resource.RLIMIT_AS, (vm_size() + (MARGIN_MIB << 20), resource.RLIM_INFINITY))
"""


def test_a_bounded_channel_whose_slots_cannot_be_allocated_raises_memory_error() -> None:
    """Its slots are allocated up front (40 bytes each): 2**20 of them do not fit in the 24 MiB
    left. Main's build aborted the process ("memory allocation ... failed")."""
    lines = _run(
        "MARGIN_MIB = 24\n"
        + CAPPED
        + """
for _ in range(3):
    try:
        interpchan.channel(1 << 20)
    except MemoryError:
        print("MemoryError")
tx, rx = interpchan.channel(8)
tx.send("small channels still work")
print(rx.recv())
"""
    )
    assert lines == ["MemoryError"] * 3 + ["small channels still work"]


def test_filling_an_unbounded_channel_ends_in_memory_error_not_an_abort() -> None:
    """Sends until memory runs out end in MemoryError (main's build aborted); every item queued
    before it is received, in order; once they are, sends work again."""
    lines = _run(
        "MARGIN_MIB = 48\n"
        + CAPPED
        + """
tx, rx = interpchan.channel()
try:
    i = 0
    while True:
        tx.send(i)
        i += 1
except MemoryError:
    pass
queued = len(rx)
print(queued > 100_000, all(rx.recv_nowait() == i for i in range(queued)), len(rx))
tx.send("room again")
print(rx.recv_nowait())
try:
    interpchan.channel()
except MemoryError:
    print("no new channel")
"""
    )
    assert lines == ["True True 0", "room again"]


def test_sending_a_dict_too_big_to_walk_raises_memory_error() -> None:
    """Sending a dict first takes a reference to every pair (16 bytes each): 2 million pairs do
    not fit in the 24 MiB left. Main's build aborted; now MemoryError, nothing enqueued."""
    lines = _run(
        "MARGIN_MIB = 24\nbig = dict.fromkeys(range(2_000_000))\n"
        + CAPPED
        + """
tx, rx = interpchan.channel()
try:
    tx.send(big)
except MemoryError:
    print("MemoryError", len(rx))
tx.send({"small": 1})
print(rx.recv_nowait())
"""
    )
    assert lines == ["MemoryError 0", "{'small': 1}"]
