#!/usr/bin/env bash
# The test command: builds interpchan into a venv per CPython >= 3.12 here (.venv-3.12, ...) and
# runs the pytest suite in each, then CPython 3.14 in the Debian sid root (scripts/sid-root.sh)
# when this machine has no 3.14 of its own and the root exists (INTERPCHAN_REQUIRE_314=1: it must).
# Usage: bash scripts/test.sh [pytest args...]
#        bash scripts/test.sh --stubtest        mypy.stubtest against the extension on each CPython
#        bash scripts/test.sh --dbg [args...]   the suite on CPython 3.14's debug build (Py_DEBUG:
#            reference counts and thread states checked on every C-API call) in the sid root,
#            with PYTHONMALLOC=debug and -X dev
#        bash scripts/test.sh --in-root PYTHON [--stubtest | pytest args...]   (inside the root:
#            build a version-specific extension for PYTHON into /build/venv-PYTHON, then test)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --in-root ]; then
    python=$2
    shift 2
    venv=/build/venv-$python
    "$venv/bin/python" -c pass 2>/dev/null || { rm -rf "$venv" && "$python" -m venv "$venv"; }
    install_test_requirements "$venv/bin/python"
    echo "=== $("$venv/bin/python" -VV | head -n 1) in the Debian sid root"
    # A version-specific build (not abi3, with the ZeroMQ bridge), in its own target directory per
    # interpreter, kept in the root so that later runs build incrementally.
    CARGO_TARGET_DIR=/build/target-$python "$venv/bin/maturin" build -q --locked --release \
        --no-default-features --features bridge -i "$venv/bin/python" -o "/tmp/wheels"
    "$venv/bin/python" -m pip install -q --force-reinstall --no-deps /tmp/wheels/interpchan-*.whl
    if [ "${1:-}" = --stubtest ]; then
        "$venv/bin/python" -m pip install -q -r scripts/requirements-tools.txt
        cd /build  # the installed package, not the source tree
        exec "$venv/bin/python" -m mypy.stubtest interpchan
    fi
    # From /src, as on the host (pytest arguments name the same paths); the package comes from the
    # venv (/src/python is not on sys.path).
    [[ "$python" != *d ]] || export PYTHONMALLOC=debug PYTHONDEVMODE=1
    exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
fi

in_root() {  # in_root PYTHON ARGS...: the --in-root step inside the sid root
    bash scripts/sid-root.sh run --toolchain -- bash /src/scripts/test.sh --in-root "$@"
}
if [ "${1:-}" = --dbg ]; then
    shift
    bash scripts/sid-root.sh make >/dev/null
    in_root python3.14d "$@"
    exit
fi

pythons=$(find_pythons)
[ -n "$pythons" ] || { echo "no CPython >= 3.12 found" >&2; exit 1; }
# Extensions left by earlier builds: a version-specific one would shadow the abi3 one built now.
[ "${1:-}" = --stubtest ] || rm -f python/interpchan/_interpchan.*.so
status=0
for py in $pythons; do
    ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    venv="$PWD/.venv-$ver"
    echo "=== CPython $ver ($py)"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    if [ "${1:-}" = --stubtest ]; then
        "$venv/bin/python" -m pip install -q -r scripts/requirements-tools.txt
        "$venv/bin/python" -m mypy.stubtest interpchan || status=1
    else
        install_test_requirements "$venv/bin/python"
        VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --release -q
        "$venv/bin/python" -m pytest "$@" || status=1
    fi
done
if ! echo "$pythons" | grep -q 'python3\.14$'; then
    if_sid_root in_root python3.14 "$@" || status=1
fi
exit $status
