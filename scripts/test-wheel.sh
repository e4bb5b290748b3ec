#!/usr/bin/env bash
# Builds the release wheel once (maturin build --release: abi3, cp312-abi3), checks that its
# platform tag is honest (auditwheel show) and that it keeps to the stable ABI (abi3audit), then installs it into a fresh venv per CPython, with no
# Rust toolchain on PATH, and runs the test suite against the installed package: each CPython
# >= 3.12 on this machine, and 3.14 in the Debian sid root when this machine has no 3.14 of its
# own (skipped if no sid root exists, unless INTERPCHAN_REQUIRE_314 is set).
# Usage: bash scripts/test-wheel.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi
pythons=$(bash scripts/find-pythons.sh)
[ -n "$pythons" ] || { echo "no CPython >= 3.12 found" >&2; exit 1; }
newest=$(echo "$pythons" | tail -n 1)
tools="$repo/.venv-tools"
[ -x "$tools/bin/python" ] || "$newest" -m venv "$tools"
"$tools/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-wheel.txt

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
    bash scripts/test-installed-wheel.sh "$py" "$wheel" "$@" || status=1
done
if ! echo "$pythons" | grep -q 'python3\.14$'; then
    bash scripts/if-sid-root.sh bash scripts/in-sid-root.sh --bind "$dist:/wheels" -- \
        bash /src/scripts/test-installed-wheel.sh python3.14 "/wheels/$(basename "$wheel")" "$@" \
        || status=1
fi
exit $status
