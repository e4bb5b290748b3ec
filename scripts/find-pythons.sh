#!/usr/bin/env bash
# Prints the path of every CPython >= 3.12 (GIL build) this machine provides, one per line, newest last.
set -u
declare -A seen
for ver in 3.12 3.13 3.14; do
    candidates=()
    if command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root)
        for d in "$root"/versions/"$ver".*; do
            [ -x "$d/bin/python$ver" ] && candidates+=("$d/bin/python$ver")
        done
    fi
    for p in /usr/local/bin/python$ver /usr/bin/python$ver; do
        [ -x "$p" ] && candidates+=("$p")
    done
    for p in "${candidates[@]}"; do
        # Skip free-threaded builds and broken interpreters; keep the first working one per version.
        if "$p" -c 'import sys, sysconfig; sys.exit(bool(sysconfig.get_config_var("Py_GIL_DISABLED")))' 2>/dev/null; then
            [ -z "${seen[$ver]:-}" ] && { seen[$ver]=1; echo "$p"; }
        fi
    done
done
