#!/usr/bin/env bash
# Runs a command for CPython 3.14 when the Debian sid root (scripts/sid-root.sh) exists. Without
# one it fails if INTERPCHAN_REQUIRE_314 is set (as .ci/run does), and otherwise says it skipped.
# Usage: bash scripts/if-sid-root.sh COMMAND [ARGS...]
#        (scripts/test.sh and scripts/test-wheel.sh run their 3.14 step through it)
set -euo pipefail
cd "$(dirname "$0")/.."
if bash scripts/sid-root.sh --check; then
    exec "$@"
elif [ -n "${INTERPCHAN_REQUIRE_314:-}" ]; then
    echo "CPython 3.14: no Debian sid root (make it with bash scripts/sid-root.sh, as root)" >&2
    exit 1
else
    echo "=== CPython 3.14: skipped (no Debian sid root; bash scripts/sid-root.sh makes one, as root)"
fi
