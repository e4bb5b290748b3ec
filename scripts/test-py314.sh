#!/usr/bin/env bash
# Builds interpchan for CPython 3.14 inside the Debian sid root and runs the test suite there.
#
# Makes or reuses the root (scripts/sid-root.sh), mounts this checkout and the Rust toolchain
# into it (scripts/in-sid-root.sh), builds a version-specific release wheel for 3.14
# (--no-default-features: the non-abi3 build, with the Py_mod_gil slot), installs it into a venv
# in the root (/build/venv-3.14) and runs pytest on tests/ against it. Needs root privileges.
# Usage: bash scripts/test-py314.sh [pytest args...]
#        bash scripts/test-py314.sh --stubtest     (mypy.stubtest against the built extension)
set -euo pipefail

if [ -z "${_INTERPCHAN_INSIDE_SID_ROOT:-}" ]; then
    cd "$(dirname "$0")/.."
    bash scripts/sid-root.sh >/dev/null
    exec bash scripts/in-sid-root.sh --toolchain --env _INTERPCHAN_INSIDE_SID_ROOT=1 \
        -- bash /src/scripts/test-py314.sh "$@"
fi

# From here on: inside the root, the checkout read-only at /src.
venv=/build/venv-3.14
echo "=== CPython 3.14 in the Debian sid root ($(python3.14 -VV | head -n 1))"
if ! "$venv/bin/python" -c pass 2>/dev/null; then
    rm -rf "$venv"
    python3.14 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q -r /src/scripts/requirements-test.txt
export CARGO_TARGET_DIR=/build/target  # kept in the root: later runs build incrementally
cd /src
"$venv/bin/maturin" build --release --locked --no-default-features -i "$venv/bin/python" \
    -o /tmp/wheels -q
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps /tmp/wheels/interpchan-*.whl
if [ "${1:-}" = "--stubtest" ]; then
    "$venv/bin/python" -m pip install -q -r /src/scripts/requirements-tools.txt
    allow=()
    [ -f /src/scripts/stubtest-allowlist.txt ] && allow=(--allowlist /src/scripts/stubtest-allowlist.txt)
    cd /build  # the installed package, not the source tree
    exec "$venv/bin/python" -m mypy.stubtest interpchan "${allow[@]}"
fi
# From /src, as scripts/test.sh runs (pytest arguments name the same paths); the package comes from
# the venv (/src/python is not on sys.path).
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
