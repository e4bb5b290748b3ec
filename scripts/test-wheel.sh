#!/usr/bin/env bash
# Builds the release wheel once (abi3, cp312-abi3), checks that its platform tag is honest
# (auditwheel show) and that it keeps to the stable ABI (abi3audit), then installs it into a
# fresh venv per CPython, with no Rust toolchain on PATH, and runs the test suite against the
# installed package from outside the checkout: each CPython >= 3.12 here, and 3.14 in the Debian
# sid root when this machine has none (as scripts/test.sh).
# Usage: bash scripts/test-wheel.sh [pytest args...]
#        bash scripts/test-wheel.sh --installed PYTHON WHEEL [pytest args...]   (one CPython)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
repo=$PWD

if [ "${1:-}" = --installed ]; then
    python=$2 wheel=$3
    shift 3
    # No Rust toolchain: drop cargo's and rustup's directories from PATH; pip installs wheels only.
    PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e '\.rustup' | paste -sd: -)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$python" -m venv "$work/venv"
    echo "=== installed wheel on $("$work/venv/bin/python" -VV | head -n 1): $(basename "$wheel")"
    "$work/venv/bin/python" -m pip install -q --only-binary=:all: "$wheel[test]"
    cd "$work"  # outside the checkout: its python/ directory is not on sys.path
    "$work/venv/bin/python" -c 'import interpchan; print("interpchan from", interpchan.__file__)'
    INTERPCHAN_TEST_INSTALLED=$(basename "$wheel") \
        exec "$work/venv/bin/python" -m pytest -p no:cacheprovider --rootdir "$repo" "$repo/tests" "$@"
fi

pythons=$(find_pythons)
[ -n "$pythons" ] || { echo "no CPython >= 3.12 found" >&2; exit 1; }
newest=$(echo "$pythons" | tail -n 1)
tools="$repo/.venv-tools"
[ -x "$tools/bin/python" ] || "$newest" -m venv "$tools"
"$tools/bin/python" -m pip install -q -r scripts/requirements-tools.txt

dist="$repo/target/wheelhouse"
rm -rf "$dist"
echo "=== building the release wheel"
PYO3_PYTHON="$newest" "$tools/bin/maturin" build --release --locked -i "$newest" -o "$dist"
wheels=("$dist"/interpchan-*.whl)
[ "${#wheels[@]}" -eq 1 ] || { echo "expected one wheel, got: ${wheels[*]}" >&2; exit 1; }
wheel=${wheels[0]}

echo "=== platform tag check: auditwheel show $(basename "$wheel")"
report=$("$tools/bin/auditwheel" show "$wheel")
echo "$report"
# The most compatible tag the wheel's contents allow, and the one its name claims.
allowed=$(echo "$report" | tr '\n' ' ' | sed -n 's/.*consistent with the following platform tag: *"\([^"]*\)".*/\1/p')
claimed=$(basename "$wheel" .whl | awk -F- '{ print $NF }')
if [ -z "$allowed" ] || [ "$claimed" != "$allowed" ]; then
    echo "the wheel claims platform tag '$claimed' but auditwheel allows '$allowed'" >&2
    exit 1
fi
echo "platform tag $claimed: honest (auditwheel agrees)"
if [[ "$(basename "$wheel")" == *-abi3-* ]]; then
    echo "=== stable ABI check: abi3audit (every CPython symbol used is in the claimed abi3 version)"
    "$tools/bin/abi3audit" --strict --summary "$wheel"
fi

status=0
for py in $pythons; do
    bash scripts/test-wheel.sh --installed "$py" "$wheel" "$@" || status=1
done
if ! echo "$pythons" | grep -q 'python3\.14$'; then
    if_sid_root bash scripts/sid-root.sh run --bind "$dist:/wheels" -- \
        bash /src/scripts/test-wheel.sh --installed python3.14 "/wheels/$(basename "$wheel")" "$@" \
        || status=1
fi
exit $status
