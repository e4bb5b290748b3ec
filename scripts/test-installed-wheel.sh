#!/usr/bin/env bash
# Installs a built interpchan wheel into a fresh venv of PYTHON, with no Rust toolchain on PATH,
# and runs the test suite against the installed package from outside the source tree.
# Usage: bash scripts/test-installed-wheel.sh PYTHON WHEEL [pytest args...]
# (scripts/test-wheel.sh calls it for each CPython here and inside the Debian sid root.)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=$1
wheel=$2
shift 2
# No Rust toolchain: drop cargo's and rustup's directories from PATH; pip may only install wheels.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e '\.rustup' | paste -sd: -)
export PATH
for tool in cargo rustc; do
    if command -v "$tool" >/dev/null 2>&1; then
        echo "note: $tool is still on PATH ($(command -v "$tool")); pip is limited to wheels anyway"
    fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
echo "=== installed wheel on $("$work/venv/bin/python" -VV | head -n 1): $(basename "$wheel")"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    "$wheel[test]"
cd "$work"  # outside the checkout: its python/ directory is not on sys.path
"$work/venv/bin/python" -c 'import interpchan; print("interpchan from", interpchan.__file__)'
INTERPCHAN_TEST_INSTALLED=$(basename "$wheel") \
    "$work/venv/bin/python" -m pytest -p no:cacheprovider --rootdir "$repo" "$repo/tests" "$@"
