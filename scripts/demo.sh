#!/usr/bin/env bash
# The demo command: builds and installs interpchan into a fresh virtualenv on the newest
# CPython >= 3.12 here, then runs `python -m interpchan.demo`. Usage: bash scripts/demo.sh [args]
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash scripts/find-pythons.sh | tail -n 1)
[ -n "$python" ] || { echo "no CPython >= 3.12 found" >&2; exit 1; }
venv="$PWD/.venv-demo"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check .
cd /  # run the installed package, not the source tree
"$venv/bin/python" -m interpchan.demo "$@"
