#!/usr/bin/env bash
# Does the abi3 build cost speed? Builds interpchan twice for one CPython (default: 3.13), the abi3
# wheel (the default) and a version-specific one (--no-default-features), installs each into a
# fresh venv, and counts with callgrind the instructions bench/abi3_workload.py executes per item.
# Instruction counts are deterministic, so the comparison is free of the machine's noise.
# Usage: bash bench/abi3_callgrind.sh [PYTHON] [N]     (needs valgrind and a Rust toolchain)
# Per item = (count with N items - count with 0 items) / N: interpreter start-up cancels out.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${1:-$(. scripts/lib.sh && find_pythons | grep 'python3\.13$' | head -n 1)}
n=${2:-100000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/build"
"$work/build/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.5,<2"

count() {  # count VENV KIND N: "total in_extension", the instructions the workload executed
    local out="$work/callgrind.out"
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$1/bin/python" "$repo/bench/abi3_workload.py" "$2" "$3" >/dev/null 2>&1
    # Self cost per object file: cost lines follow "ob=" (the object, "(id) name" the first time
    # an id appears in an ob= or cob= line, "(id)" after); the cost line after "calls=" is a
    # call's inclusive cost, counted where it was spent.
    awk '/^summary:/ { total = $2 }
        /^c?ob=/ { id = $1; sub(/^c?ob=/, "", id); if (NF > 1) name[id] = $2 }
        /^ob=/ { ob = (id ~ /^\(/) ? name[id] : id; next }
        /^calls=/ { skip = 1; next }
        /^[0-9+*-]/ { if (!skip && ob ~ /_interpchan/) ext += $NF; skip = 0 }
        END { printf "%d %d\n", total, ext }' "$out"
}

wheels=()
printf '%-18s %-8s %14s %18s\n' build item "instr/item" "in extension/item"
for build in abi3 version-specific; do
    flags=()
    [ "$build" = version-specific ] && flags=(--no-default-features)
    # One target directory per build, so each is built once and reused on later runs.
    CARGO_TARGET_DIR="$repo/target/abi3-bench-$build" PYO3_PYTHON="$python" \
        "$work/build/bin/maturin" build --release --locked -q "${flags[@]}" -i "$python" \
        -o "$work/wheels-$build" >/dev/null 2>&1
    "$python" -m venv "$work/venv-$build"
    "$work/venv-$build/bin/python" -m pip install -q --disable-pip-version-check \
        "$work/wheels-$build"/interpchan-*.whl
    wheels+=("$(basename "$work/wheels-$build"/interpchan-*.whl)")
    for kind in int tuple buffer; do
        read -r base base_ext < <(count "$work/venv-$build" "$kind" 0)
        read -r full full_ext < <(count "$work/venv-$build" "$kind" "$n")
        awk -v b="$build" -v k="$kind" -v n="$n" -v t=$((full - base)) -v e=$((full_ext - base_ext)) \
            'BEGIN { printf "%-18s %-8s %14.1f %18.1f\n", b, k, t / n, e / n }'
    done
done
echo "($("$python" -VV | head -n 1); N=$n; $(valgrind --version); ${wheels[*]})"
