#!/usr/bin/env bash
# The demo command: builds and installs interpchan into a fresh virtualenv on the newest
# CPython >= 3.12 here, then runs `python -m interpchan.demo`. Usage: bash scripts/demo.sh [args]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"  # rustup's toolchain, when this shell has not loaded it
fi
command -v cargo >/dev/null || { echo "a Rust toolchain (cargo >= 1.85) is needed to build" >&2; exit 1; }
python=$(bash scripts/find-pythons.sh | tail -n 1)
[ -n "$python" ] || { echo "no CPython >= 3.12 (GIL build) found" >&2; exit 1; }
venv="$PWD/.venv-demo"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c pass 2>/dev/null \
    || [ "$("$venv/bin/python" -c 'import sys; print(sys.version)')" != "$("$python" -c 'import sys; print(sys.version)')" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
echo "building interpchan with $("$python" --version) into .venv-demo (a Rust release build; the first one takes longest)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps .
cd /  # run the installed package, not the source tree
exec "$venv/bin/python" -m interpchan.demo "$@"
