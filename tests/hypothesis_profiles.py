"""Hypothesis settings for the model and fuzz tests: a short deterministic run by default.

``HYPOTHESIS_PROFILE=ci`` (the default): derandomized (the same examples every run), no example
database, a bounded number of examples so that CI spends seconds. ``HYPOTHESIS_PROFILE=long``:
random examples, ``LONG_FACTOR`` times as many; ``HYPOTHESIS_EXAMPLES=N`` sets N exactly.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
LONG_FACTOR = 100

_common = {
    "deadline": None,  # timing is no part of these tests
    "database": None,  # nothing written into the tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,  # a failure prints how to reproduce it
}
settings.register_profile("ci", derandomize=True, **_common)
settings.register_profile("long", **_common)
settings.load_profile(PROFILE)


def examples(ci: int) -> int:
    """How many examples a test runs: ``ci`` in the ci profile, more in the long one."""
    exact = os.environ.get("HYPOTHESIS_EXAMPLES")
    if exact:
        return int(exact)
    return ci * LONG_FACTOR if PROFILE == "long" else ci


def report(name: str, counts: Counter[str]) -> None:
    """With ``HYPOTHESIS_REPORT=1``: print what a test module tried (past pytest's capture)."""
    if os.environ.get("HYPOTHESIS_REPORT"):
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        print(f"\n[{name}] profile {PROFILE}: {shown}", file=sys.__stderr__)
