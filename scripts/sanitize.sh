#!/usr/bin/env bash
# The Rust unit tests (the core's channels, handles, select, registry; the binding's allocation
# helpers) under AddressSanitizer (with leak detection) and ThreadSanitizer. Stable toolchain:
# RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer; TSan also rebuilds std (-Zbuild-std, needs rust-src).
# Miri needs a nightly toolchain, which cannot be had here.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(rustc -vV | sed -n 's/^host: //p')
export RUSTC_BOOTSTRAP=1
# allocator_may_return_null: the tests ask for impossible sizes on purpose (expecting None).
echo "--- AddressSanitizer + LeakSanitizer ($target)"
ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:halt_on_error=1 \
    RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
    cargo test --locked --lib --target "$target"
if rustup component list --installed 2>/dev/null | grep -q '^rust-src' \
    || rustup component add rust-src; then
    echo "--- ThreadSanitizer ($target)"
    TSAN_OPTIONS=allocator_may_return_null=1:halt_on_error=1 \
        RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
        cargo test --locked -Zbuild-std --lib --target "$target"
else
    # Said loudly, not failed: the toolchain of some machines cannot fetch components.
    echo "--- ThreadSanitizer NOT RUN: the rust-src component cannot be installed here" >&2
fi
