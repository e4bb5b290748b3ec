#!/usr/bin/env bash
# The test command: builds interpchan into a virtualenv per CPython >= 3.12 on this machine and
# runs the pytest suite in each. Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
pythons=$(bash scripts/find-pythons.sh)
[ -n "$pythons" ] || { echo "no CPython >= 3.12 found" >&2; exit 1; }
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
exit $status
