#!/usr/bin/env bash
# The demo command: builds and installs interpchan into a fresh venv (.venv-demo) on the newest
# CPython >= 3.12 here, then runs `python -m interpchan.demo`. Usage: bash scripts/demo.sh [args]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v cargo >/dev/null || { echo "a Rust toolchain (cargo >= 1.85) is needed to build" >&2; exit 1; }
python=$(find_pythons | tail -n 1)
[ -n "$python" ] || { echo "no CPython >= 3.12 (GIL build) found" >&2; exit 1; }
venv="$PWD/.venv-demo"
version() { "$1" -c 'import sys; print(sys.version)' 2>/dev/null; }
[ "$(version "$venv/bin/python")" = "$(version "$python")" ] || { rm -rf "$venv" && "$python" -m venv "$venv"; }
echo "building interpchan with $("$python" --version) into .venv-demo (a Rust release build; the first one takes longest)"
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps .
cd /  # run the installed package, not the source tree
exec "$venv/bin/python" -m interpchan.demo "$@"
