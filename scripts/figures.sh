#!/usr/bin/env bash
# Regenerates every figure the README and docs/ publish, each with its run record: the benchmark
# (docs/bench.json, the README's bench block, docs/bench.png) and docs/runs/*.json (the 10 M
# stress soak, the demo, the Pool (3.13, and 3.14 against InterpreterPoolExecutor), asyncio,
# sharing and ZeroMQ bridge benchmarks). Run it on an idle machine
# whenever the code they measure changes, then commit what it wrote.
# Usage: bash scripts/figures.sh [PYTHON]   (default: .venv-3.13/bin/python, made by test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-.venv-3.13/bin/python}
"$py" -m pip install -q -r scripts/requirements-bench.txt janus
record() { "$py" scripts/record_run.py "docs/runs/$1.json" -- "$py" "${@:2}"; }

"$py" bench/run.py --json docs/bench.json --update-readme
record stress -m tests.stress --items 10000000
record demo -m interpchan.demo
record pool bench/pool.py --rounds 5
record async bench/async_bench.py
record share bench/share_bench.py --sizes 1,64,256 --receivers 1,8
record bridge bench/bridge_bench.py --small 100000 --big 20 --repeat 5
# The Pool against concurrent.futures.InterpreterPoolExecutor, which needs CPython 3.14: in the
# Debian sid root (scripts/sid-root.sh), with the extension built there by test.sh's in-root step.
if bash scripts/sid-root.sh check; then
    bash scripts/sid-root.sh run --toolchain -- \
        bash /src/scripts/test.sh --in-root python3.14 -q tests/test_pool_bench.py
    "$py" scripts/record_run.py docs/runs/pool-3.14.json -- bash scripts/sid-root.sh run -- \
        /build/venv-python3.14/bin/python /src/bench/pool.py --rounds 5
fi
