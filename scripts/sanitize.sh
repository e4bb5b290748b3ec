#!/usr/bin/env bash
# Sanitizers: the Rust unit tests under AddressSanitizer (with leak detection) and
# ThreadSanitizer, then the binding itself: the item, buffer, handle and channel tests of the
# Python suite against an AddressSanitizer build of the extension.
# Stable toolchain: RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer; TSan also rebuilds std (-Zbuild-std,
# needs the rust-src component). Miri needs a nightly toolchain, which cannot be had here.
# Under CI (CI=true) a component that cannot be installed fails the run; elsewhere it is said.
# Usage: bash scripts/sanitize.sh [PYTHON]   (the CPython for the Python part; default: newest)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
target=$(rustc -vV | sed -n 's/^host: //p')
export RUSTC_BOOTSTRAP=1
python=${1:-$(find_pythons | tail -n 1)}
export PYO3_PYTHON=${PYO3_PYTHON:-$python}  # the default python3 may be older than 3.12
missing() {
    if [ "${CI:-}" = true ]; then
        echo "sanitize.sh: $1 (required under CI)" >&2
        exit 1
    fi
    echo "--- NOT RUN: $1" >&2
}

# allocator_may_return_null: the tests ask for impossible sizes on purpose (expecting None).
# Without the bridge feature here (every step below): its C++ libzmq is not instrumented, its own
# code is safe Rust, and building libzmq once more per target directory would only add time.
echo "--- Rust unit tests, AddressSanitizer + LeakSanitizer ($target)"
ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:halt_on_error=1 \
    RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
    cargo test --locked --lib --target "$target" --no-default-features --features abi3

if rustup component list --installed 2>/dev/null | grep -q '^rust-src' || rustup component add rust-src; then
    echo "--- Rust unit tests, ThreadSanitizer ($target)"
    TSAN_OPTIONS=allocator_may_return_null=1:halt_on_error=1 \
        RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
        cargo test --locked -Zbuild-std --lib --target "$target" --no-default-features --features abi3
else
    missing "ThreadSanitizer: the rust-src component cannot be installed here"
fi

# The runtime the instrumented extension calls into: a cdylib does not carry it, and CPython is
# not linked against it, so it is preloaded. gcc's libasan speaks the same interface version
# (__asan_version_mismatch_check_v8) as the code rustc's LLVM emits.
libasan=$(cc -print-file-name=libasan.so)
if [ "$libasan" = libasan.so ] || [ ! -e "$libasan" ]; then
    missing "the Python suite under AddressSanitizer: no libasan.so (apt-get install libgcc-12-dev)"
    exit 0
fi
venv="$PWD/.venv-asan"
"$venv/bin/python" -c pass 2>/dev/null || { rm -rf "$venv" && "$python" -m venv "$venv"; }
install_test_requirements "$venv/bin/python"
echo "--- Python suite against an AddressSanitizer build of the extension ($("$venv/bin/python" -V), $libasan)"
# A wheel installed into the venv (not maturin develop, whose extension in python/ the other
# venvs would load). --target: the sanitizer flags reach the extension only, not build scripts.
rm -rf target/asan-py/wheels
RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan-py "$venv/bin/maturin" build -q \
    --locked --target "$target" -i "$venv/bin/python" -o target/asan-py/wheels \
    --no-default-features --features abi3
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps target/asan-py/wheels/*.whl
# PYTHONMALLOC=malloc: every object is its own malloc block, so ASan sees overflows and uses
# after free of Python objects too (pymalloc's arenas hide them). detect_leaks=0: CPython does
# not free everything at exit, so LeakSanitizer would report CPython's own blocks; leaks are
# checked by tests/test_refcounts.py (debug build) and the live channel and Buffer counts.
# allocator_may_return_null: the tests ask for impossible sizes on purpose (MemoryError).
LD_PRELOAD="$libasan" PYTHONMALLOC=malloc \
    ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1 \
    exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_items.py tests/test_buffers.py \
    tests/test_channel.py tests/test_trust.py tests/test_bad_input.py tests/test_select.py \
    tests/test_subinterpreters.py
