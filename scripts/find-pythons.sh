#!/usr/bin/env bash
# Prints the path of every CPython >= 3.12 (GIL build) this machine provides, one per line, newest last.
set -u
declare -A seen
# pyenv's versions are found even when pyenv itself is not on PATH (non-interactive shells, CI).
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
if command -v pyenv >/dev/null 2>&1; then
    pyenv_root=$(pyenv root)
fi
for ver in 3.12 3.13 3.14; do
    candidates=()
    # The newest patch release of each minor version first.
    while IFS= read -r d; do
        [ -x "$d/bin/python$ver" ] && candidates+=("$d/bin/python$ver")
    done < <(ls -d "$pyenv_root"/versions/"$ver".* 2>/dev/null | sort -V -r)
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
