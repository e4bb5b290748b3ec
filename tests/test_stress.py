"""The stress run (tests/stress.py) at a reduced size: every item exactly once, in order, intact.

The full size is a command: python -m tests.stress --items 10000000 (see docs/reliability.md).
"""

from __future__ import annotations

import pytest

import stress


@pytest.mark.parametrize(
    "config",
    [
        dict(items=50_000, producers=4, consumer_interpreters=2, consumer_threads=2, capacity=64),
        dict(items=6_000, producers=2, consumer_interpreters=1, consumer_threads=1, capacity=0),
    ],
    ids=["4-producers-2+2-consumers", "rendezvous"],
)
def test_stress_every_item_exactly_once_in_order_and_nothing_leaked(config: dict) -> None:
    report = stress.run(**config, rss_limit_mib=64)
    assert report.ok, report.text()
    assert report.received == config["items"]
    assert report.lost == report.duplicated == report.errors == report.ack_errors == 0
    assert report.channels_after == report.channels_before
    assert report.buffers_after == report.buffers_before
    assert report.leaks == []
    assert set(report.kinds) == set(stress.KINDS) and min(report.kinds.values()) > 0


def test_stress_command_reports_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert stress.main(["--items", "3000", "--producers", "2", "--consumer-threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "lost 0, duplicated 0" in out and "RESULT: PASS" in out
    assert "live channels" in out and "live Buffers" in out


def test_each_leak_fails_the_run_on_its_own() -> None:
    """A channel count one lower cannot hide RSS growth (no signed sum), and a Buffer left alive
    fails however the rest looks."""
    report = stress.Report(
        items=0, producers=1, consumer_interpreters=1, consumer_threads=0, capacity=1
    )
    report.rss_limit = 1 << 20
    assert report.leaks == []
    report.channels_before, report.channels_after = 1, 0
    report.rss_first_half, report.rss_second_half = 0, 2 << 20
    assert len(report.leaks) == 2 and not report.ok
    report.channels_after, report.rss_second_half = 1, 0
    report.buffers_after = 1
    assert report.leaks == ["live Buffers 0 before, 1 after"] and not report.ok


def test_payload_check_tells_set_from_frozenset_and_bool_from_int() -> None:
    want = stress.expected(1, 8, "container", stress.check_of(1, 8))
    assert stress.same(want, stress.expected(1, 8, "container", stress.check_of(1, 8)))
    swapped = dict(want, set=frozenset(want["set"]))
    assert swapped == want and not stress.same(swapped, want)
    deep = dict(want, list=[1, 8, [want["list"][2][0], [want["list"][2][1][0]]]])
    assert not stress.same(deep, want)  # a tuple turned list, deep down
    assert not stress.same([1], [True]) and not stress.same({"a": 1}, {"a": 1.0})
