#!/usr/bin/env bash
# The test command: builds interpchan into a virtualenv per CPython >= 3.12 on this machine and
# runs the pytest suite in each; then CPython 3.14 in the Debian sid root (scripts/test-py314.sh)
# when this machine has no 3.14 of its own and the root exists (INTERPCHAN_REQUIRE_314=1: it must).
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
pythons=$(bash scripts/find-pythons.sh)
[ -n "$pythons" ] || { echo "no CPython >= 3.12 found" >&2; exit 1; }
# Extensions left by earlier builds: a version-specific one would shadow the abi3 one built now.
rm -f python/interpchan/_interpchan.*.so
status=0
for py in $pythons; do
    ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    venv="$PWD/.venv-$ver"
    echo "=== CPython $ver ($py)"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
    VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --release -q
    "$venv/bin/python" -m pytest "$@" || status=1
done
if ! echo "$pythons" | grep -q 'python3\.14$'; then
    bash scripts/if-sid-root.sh bash scripts/test-py314.sh "$@" || status=1
fi
exit $status
