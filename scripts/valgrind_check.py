"""Reads a valgrind memcheck XML report and fails if any memory error touches interpchan.

Usage: python scripts/valgrind_check.py REPORT.xml. An error counts when a frame of its stack
(or of its auxiliary stacks: where the block was allocated or freed) lies in interpchan's
extension module. Errors wholly inside CPython or libc (vectorised string compares reading a
word past the end, for instance) are listed but do not fail the check. Blocks still allocated at
exit (valgrind's Leak_* records) are only counted: CPython does not free everything at exit, and
leaks are checked by the suite itself (live channels, RSS over 10 million items).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter


def frames(error: ET.Element) -> list[tuple[str, str]]:
    """(function, object file) of every frame in the error's stacks."""
    return [
        (frame.findtext("fn") or "?", frame.findtext("obj") or "?")
        for stack in error.iter("stack")
        for frame in stack.findall("frame")
    ]


def main(path: str) -> int:
    reported = ET.parse(path).getroot().findall("error")
    kinds = Counter(e.findtext("kind") for e in reported)
    errors = [e for e in reported if not (e.findtext("kind") or "").startswith("Leak_")]
    ours = [e for e in errors if any("_interpchan" in obj for _, obj in frames(e))]
    print(f"valgrind memcheck: {len(reported)} records {dict(kinds)}; {len(errors)} errors")
    for error in errors:
        where = "interpchan" if error in ours else "outside interpchan"
        what = error.findtext("what") or error.findtext("xwhat/text") or "?"
        top = ", ".join(fn for fn, _ in frames(error)[:4])
        print(f"  [{where}] {error.findtext('kind')}: {what} at {top}")
    if ours:
        print(f"FAILED: {len(ours)} memory errors in interpchan code")
        return 1
    print("no memory error in interpchan code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
