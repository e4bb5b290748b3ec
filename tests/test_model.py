"""Model-based test: random sequences of channel operations, each checked against a small model.

The model is the documented channel semantics in pure Python: per channel a FIFO of items, its
capacity, and how many live references each end has (open handles, and handles travelling inside
queued items). Every operation runs in one thread, so every outcome is determined: a timeout is
only ever the expected outcome, never waited for in the hope of an item. After every step the
handles' state (``closed``, ``len``, ``capacity``) is compared, and whether each end still exists
(a pickled reference to it resolves exactly while the model says it has a live reference). At the
end every handle is released and the process must hold exactly the channels the model still holds.

Two variants: every handle in the main interpreter; and receivers made in the main interpreter,
moved into an own-GIL sub-interpreter where they are used (and where handles received there
stay), so that items and handles cross between interpreters at each step.
"""

from __future__ import annotations

import gc
import pickle
from collections import deque
from typing import Any

import model_ops
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from hypothesis_profiles import examples

import interpchan
from conftest import SubInterpreter
from interpchan import _interpchan

MAX_CHANNELS = 4
MAX_HANDLES = 14
CAPACITIES = [None, 0, 1, 2, 3]
HOW = ["nowait", "timeout0", "timeout"]
UNSENDABLE = ["lambda", "lock", "generator", "reduce fails"]


class Place:
    """An interpreter that holds handles: runs model_ops functions there."""

    def call(self, name: str, *args: Any) -> tuple[Any, ...]:
        return getattr(model_ops, name)(*args)

    def close(self) -> None:
        pass


class SubPlace(Place):
    """An own-GIL sub-interpreter; outcomes come back through a channel."""

    def __init__(self) -> None:
        self.interp = SubInterpreter()
        reply_tx, self.reply_rx = interpchan.channel()
        with reply_tx:
            self.interp.exec(f"import model_ops; model_ops.set_reply({pickle.dumps(reply_tx)!r})")

    def call(self, name: str, *args: Any) -> tuple[Any, ...]:
        self.interp.exec(f"model_ops.reply_op({name!r}, *{args!r})")
        return self.reply_rx.recv_nowait()

    def close(self) -> None:
        """Destroy the interpreter: every handle it holds is released."""
        self.interp.close()
        self.reply_rx.close()


class Chan:
    """The model of one channel."""

    def __init__(self, index: int, capacity: int | None, cid: int, refs: dict[str, bytes]):
        self.index = index
        self.capacity = capacity
        self.id = cid
        self.refs = refs  # pickled references to each end, to ask whether it still exists
        self.queue: deque[tuple[Any, ...]] = deque()
        self.alive = {"S": 1, "R": 1}

    def full(self) -> bool:
        return self.capacity is not None and len(self.queue) >= self.capacity


class Handle:
    """The model of one handle: which end of which channel, where it lives, whether open."""

    def __init__(self, key: int, kind: str, chan: Chan, place: str):
        self.key, self.kind, self.chan, self.place = key, kind, chan, place
        self.open = True

    def __repr__(self) -> str:
        state = "open" if self.open else "closed"
        return f"<{self.kind}#{self.key} of channel {self.chan.index} in {self.place}, {state}>"


class ChannelModel(RuleBasedStateMachine):
    """Drives the API at random; in this class every handle is in the main interpreter."""

    RECEIVER_PLACE = "main"
    collected = False

    def __init__(self) -> None:
        super().__init__()
        if not ChannelModel.collected:  # garbage of earlier tests must not vanish during ours
            gc.collect()
            ChannelModel.collected = True
        self.baseline = _interpchan._live_channels()
        self.places: dict[str, Place] = {"main": Place()}
        if self.RECEIVER_PLACE != "main":
            self.places[self.RECEIVER_PLACE] = SubPlace()
        self.chans: list[Chan] = []
        self.handles: dict[int, Handle] = {}
        self.next_key = 0
        self.counter = 0

    # -- the model -------------------------------------------------------------------------

    def key(self, reserve: int = 1) -> int:
        key = self.next_key
        self.next_key += reserve
        return key

    def add_handle(self, kind: str, chan: Chan, place: str, key: int | None = None) -> Handle:
        h = Handle(self.key() if key is None else key, kind, chan, place)
        self.handles[h.key] = h
        return h

    def release(self, kind: str, chan: Chan) -> None:
        """One reference to an end goes; once no receiver remains, queued items are dropped."""
        chan.alive[kind] -= 1
        assert chan.alive[kind] >= 0
        if kind == "R" and chan.alive["R"] == 0:
            dropped = list(chan.queue)
            chan.queue.clear()
            for value in dropped:
                if value[0] == "end":
                    self.release(value[1], self.chans[value[2]])

    def received(self, value: tuple[Any, ...], place: str, key: int) -> tuple[Any, ...]:
        """What the operations report for a received model value (handles become handles)."""
        if value[0] == "int":
            return value
        if value[0] == "buf":
            return ("view", value[1], True, False)
        chan = self.chans[value[2]]
        self.add_handle(value[1], chan, place, key)
        return ("handle", value[1], chan.id)

    def of(self, kind: str, place: str | None = None) -> list[Handle]:
        return [
            h
            for _, h in sorted(self.handles.items())
            if h.kind == kind and (place is None or h.place == place)
        ]

    def call(self, h: Handle, name: str, *args: Any) -> tuple[Any, ...]:
        return self.places[h.place].call(name, h.key, *args)

    # -- rules -----------------------------------------------------------------------------

    @initialize(capacity=st.sampled_from(CAPACITIES))
    def first_channel(self, capacity: int | None) -> None:
        self.new_channel(capacity)

    @precondition(lambda self: len(self.chans) < MAX_CHANNELS or not self.handles)
    @rule(capacity=st.sampled_from(CAPACITIES))
    def new_channel(self, capacity: int | None) -> None:
        tx_key, rx_key = self.key(), self.key()
        main = self.places["main"]
        outcome = main.call("new_channel", tx_key, rx_key, capacity)
        assert outcome[0] == "ok"
        refs = {"S": main.call("export", tx_key)[1], "R": main.call("export", rx_key)[1]}
        chan = Chan(len(self.chans), capacity, outcome[1], refs)
        self.chans.append(chan)
        self.add_handle("S", chan, "main", tx_key)
        place = self.RECEIVER_PLACE
        if place != "main":  # move the receiver: adopt its reference there, drop it here
            assert self.places[place].call("adopt", rx_key, refs["R"]) == ("ok", "R")
            main.call("drop", rx_key)
        self.add_handle("R", chan, place, rx_key)

    @precondition(lambda self: self.of("S"))
    @rule(
        data=st.data(),
        how=st.sampled_from(HOW),
        what=st.sampled_from(["int", "int", "int", "handle", "buffer", "unsendable"]),
    )
    def send(self, data: st.DataObject, how: str, what: str) -> None:
        h = data.draw(st.sampled_from(self.of("S")), label="sender")
        chan = h.chan
        target = None
        if what == "int":
            self.counter += 1
            spec: tuple[Any, ...] = ("int", self.counter)
            value: tuple[Any, ...] = spec
        elif what == "handle":
            here = [x for _, x in sorted(self.handles.items()) if x.place == h.place]
            target = data.draw(st.sampled_from(here), label="handle sent")
            spec = ("handle", target.key)
            value = ("end", target.kind, target.chan.index)
        elif what == "buffer":
            payload = data.draw(st.binary(max_size=16), label="buffer bytes")
            spec = ("buffer", payload)
            value = ("buf", payload)
        else:
            spec = ("unsendable", data.draw(st.sampled_from(UNSENDABLE), label="unsendable"))
        if what == "unsendable" or (target is not None and not target.open):
            expected: tuple[Any, ...] = ("err", "TypeError")
        elif not h.open or chan.alive["R"] == 0:
            expected = ("err", "ChannelClosed")
        elif chan.full():
            expected = ("err", "Full" if how == "nowait" else "TimeoutError")
        else:
            expected = ("ok", None)
            chan.queue.append(value)
            if target is not None:
                target.chan.alive[target.kind] += 1
        if what in ("buffer", "unsendable"):
            expected = (*expected, expected[0] == "ok")  # moved only if sent
        assert self.call(h, "send", how, spec) == expected

    @precondition(lambda self: self.of("R"))
    @rule(data=st.data(), how=st.sampled_from(HOW))
    def recv(self, data: st.DataObject, how: str) -> None:
        h = data.draw(st.sampled_from(self.of("R")), label="receiver")
        chan = h.chan
        new_key = self.key()
        if not h.open:
            expected: tuple[Any, ...] = ("err", "ChannelClosed")
        elif chan.queue:
            expected = ("ok", self.received(chan.queue.popleft(), h.place, new_key))
        elif chan.alive["S"] == 0:
            expected = ("err", "ChannelClosed")
        else:
            expected = ("err", "Empty" if how == "nowait" else "TimeoutError")
        assert self.call(h, "recv", how, new_key) == expected

    @precondition(lambda self: self.of("R"))
    @rule(data=st.data())
    def select(self, data: st.DataObject) -> None:
        place = data.draw(st.sampled_from(sorted({h.place for h in self.of("R")})))
        chosen = data.draw(
            st.lists(st.sampled_from(self.of("R", place)), min_size=1, max_size=3),
            label="receivers",
        )
        # select picks at random among ready channels (test_select.py checks it is fair);
        # the model keeps one ready channel so that its state, and so every later draw,
        # is the same when Hypothesis replays the steps.
        first_ready = next((h.chan for h in chosen if h.open and h.chan.queue), None)
        chosen = [h for h in chosen if not (h.open and h.chan.queue) or h.chan is first_ready]
        new_key = self.key()
        outcome = self.places[place].call("select", [h.key for h in chosen], new_key)
        ready = [i for i, h in enumerate(chosen) if h.open and h.chan.queue]
        if ready:
            assert outcome[0] == "ok", outcome
            index, got = outcome[1]
            assert index in ready  # any handle of the ready channel may be picked
            h = chosen[index]
            assert got == self.received(h.chan.queue.popleft(), place, new_key)
        elif all(not h.open or h.chan.alive["S"] == 0 for h in chosen):
            assert outcome == ("err", "ChannelClosed")
        else:
            assert outcome == ("err", "TimeoutError")

    def drainable(self) -> list[Handle]:
        """Receivers whose iteration ends without waiting: closed, or no sender remains."""
        return [h for h in self.of("R") if not h.open or h.chan.alive["S"] == 0]

    @precondition(lambda self: self.drainable())
    @rule(data=st.data())
    def drain(self, data: st.DataObject) -> None:
        h = data.draw(st.sampled_from(self.drainable()), label="receiver")
        first = self.key(reserve=len(h.chan.queue) + 1)
        expected = []
        if h.open:
            expected = [
                self.received(v, h.place, first + i) for i, v in enumerate(list(h.chan.queue))
            ]
            h.chan.queue.clear()
        assert self.call(h, "drain", first) == ("ok", expected)

    @precondition(lambda self: self.handles and len(self.handles) < MAX_HANDLES)
    @rule(data=st.data())
    def clone(self, data: st.DataObject) -> None:
        h = data.draw(st.sampled_from(sorted(self.handles.values(), key=lambda x: x.key)))
        new_key = self.key()
        if h.open:
            expected: tuple[Any, ...] = ("ok", None)
            self.add_handle(h.kind, h.chan, h.place, new_key)
            h.chan.alive[h.kind] += 1
        else:
            expected = ("err", "ChannelClosed")
        assert self.call(h, "clone", new_key) == expected

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), how=st.sampled_from(["close", "twice", "with"]))
    def close(self, data: st.DataObject, how: str) -> None:
        h = data.draw(st.sampled_from(sorted(self.handles.values(), key=lambda x: x.key)))
        if h.open:
            h.open = False
            self.release(h.kind, h.chan)
        assert self.call(h, "close", how) == ("ok", None)

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        h = data.draw(st.sampled_from(sorted(self.handles.values(), key=lambda x: x.key)))
        del self.handles[h.key]
        if h.open:
            self.release(h.kind, h.chan)
        assert self.call(h, "drop") == ("ok", None)

    @precondition(lambda self: self.handles and len(self.handles) < MAX_HANDLES)
    @rule(data=st.data())
    def pickle_to(self, data: st.DataObject) -> None:
        """pickle.dumps a handle where it is, pickle.loads it in some interpreter."""
        h = data.draw(st.sampled_from(sorted(self.handles.values(), key=lambda x: x.key)))
        place = data.draw(st.sampled_from(sorted(self.places)), label="to")
        outcome = self.call(h, "export")
        if not h.open:
            assert outcome == ("err", "ChannelClosed")
            return
        assert outcome[0] == "ok"
        new_key = self.key()
        assert self.places[place].call("adopt", new_key, outcome[1]) == ("ok", h.kind)
        self.add_handle(h.kind, h.chan, place, new_key)
        h.chan.alive[h.kind] += 1

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def handles_report_the_model(self) -> None:
        for name, place in self.places.items():
            here = [h for _, h in sorted(self.handles.items()) if h.place == name]
            expected = []
            for h in here:
                chan = h.chan
                if h.kind == "S":
                    closed = not h.open or chan.alive["R"] == 0
                else:
                    closed = not h.open or chan.alive["S"] == 0
                size = len(chan.queue) if h.open else 0
                expected.append((h.kind, closed, size, chan.capacity, True, chan.id))
            assert place.call("states", [h.key for h in here]) == ("ok", expected)

    @invariant()
    def ends_exist_exactly_while_referenced(self) -> None:
        main = self.places["main"]
        probe = self.key()
        for chan in self.chans:
            for kind in "SR":
                outcome = main.call("adopt", probe, chan.refs[kind])
                if chan.alive[kind] > 0:
                    assert outcome == ("ok", kind), (chan.index, kind)
                    main.call("drop", probe)
                else:
                    assert outcome == ("err", "ChannelClosed"), (chan.index, kind)

    def teardown(self) -> None:
        for name in sorted(self.places, reverse=True):  # the sub-interpreter first
            self.places[name].close()
            for h in [h for h in self.handles.values() if h.place == name]:
                del self.handles[h.key]
                if h.open:
                    self.release(h.kind, h.chan)
            if name != "main":
                self.ends_exist_exactly_while_referenced()
        model_ops.HANDLES.clear()
        self.ends_exist_exactly_while_referenced()
        # Only channels kept alive by a handle queued in their own queue (directly or round a
        # ring of channels) remain: a reference cycle, as in Go. Nothing else may be left.
        kept = sum(1 for chan in self.chans if chan.alive["S"] or chan.alive["R"])
        assert _interpchan._live_channels() - self.baseline == kept


class ChannelModelWithSubinterpreter(ChannelModel):
    """The same, with every receiver in an own-GIL sub-interpreter."""

    RECEIVER_PLACE = "sub"


STEPS = 40

TestChannelModel = ChannelModel.TestCase
TestChannelModel.settings = settings(max_examples=examples(150), stateful_step_count=STEPS)

TestChannelModelWithSubinterpreter = ChannelModelWithSubinterpreter.TestCase
TestChannelModelWithSubinterpreter.settings = settings(
    max_examples=examples(40), stateful_step_count=STEPS
)


def test_a_wrong_model_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine is not vacuous: a model off by one on capacity fails against the real thing."""
    monkeypatch.setattr(
        Chan, "full", lambda self: self.capacity is not None and len(self.queue) > self.capacity
    )
    quick = settings(max_examples=200, stateful_step_count=STEPS, phases=[Phase.generate])
    with pytest.raises(AssertionError):
        run_state_machine_as_test(ChannelModel, settings=quick)
