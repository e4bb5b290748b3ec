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
    assert set(report.kinds) == set(stress.KINDS) and min(report.kinds.values()) > 0


def test_stress_command_reports_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert stress.main(["--items", "3000", "--producers", "2", "--consumer-threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "lost 0, duplicated 0" in out and "RESULT: PASS" in out
