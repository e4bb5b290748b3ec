#!/usr/bin/env bash
# A reduced part of the Python suite under valgrind memcheck (CPython's allocator replaced by
# malloc, so valgrind sees every block); fails if any invalid read or write, use of uninitialised
# memory or bad free has interpchan in its stack. Usage: bash scripts/valgrind.sh [VENV] [TESTS...]
# (defaults: .venv-3.13 and the files below; run scripts/test.sh first to build the venv).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-3.13}
shift || true
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(tests/test_channel.py tests/test_buffers.py tests/test_items.py
    tests/test_select.py tests/test_subinterpreters.py)
report=$(mktemp --suffix=.xml)
trap 'rm -f "$report"' EXIT
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=no --show-leak-kinds=none --error-limit=no \
    --num-callers=40 --track-origins=no --xml=yes --xml-file="$report" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "${tests[@]}"
"$venv/bin/python" scripts/valgrind_check.py "$report"
