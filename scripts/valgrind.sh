#!/usr/bin/env bash
# Part of the Python suite under valgrind memcheck, CPython's allocator replaced by malloc so
# that valgrind sees every block. Any invalid read or write, use of uninitialised memory or bad
# free fails the run, wherever it lands (interpchan, CPython or libc), except the known false
# positives in scripts/valgrind.supp. Blocks left allocated at exit are not errors here (CPython
# does not free everything at exit): leaks are checked by tests/test_refcounts.py on a debug
# CPython and by the live channel and Buffer counts.
# Usage: bash scripts/valgrind.sh [VENV] [TESTS...]   (default: .venv-3.13, the files below;
#        scripts/test.sh builds the venv)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
venv=${1:-.venv-3.13}
shift || true
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(tests/test_channel.py tests/test_buffers.py tests/test_items.py
    tests/test_select.py tests/test_subinterpreters.py tests/test_trust.py tests/test_bad_input.py
    tests/test_lifecycle.py)
PYTHONMALLOC=malloc exec valgrind --tool=memcheck --error-exitcode=99 --exit-on-first-error=no \
    --suppressions=scripts/valgrind.supp --leak-check=no --num-callers=40 --track-origins=no \
    --show-error-list=yes "$venv/bin/python" -m pytest -q -p no:cacheprovider "${tests[@]}"
