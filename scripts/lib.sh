# Shared by the scripts (sourced, not run): the checkout as working directory, cargo on PATH,
# the CPythons of this machine, the test requirements, and "run this in the Debian sid root".
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"  # rustup's toolchain, when this shell has not loaded it
fi

# Every CPython >= 3.12 (GIL build) here, one per line, newest last: pyenv's (also when pyenv is
# not on PATH) before /usr/local/bin and /usr/bin, the newest patch release of a version first.
find_pythons() {
    local ver p root=${PYENV_ROOT:-$HOME/.pyenv}
    for ver in 3.12 3.13 3.14; do
        for p in $(ls -d "$root"/versions/"$ver".* 2>/dev/null | sort -V -r | sed "s|\$|/bin/python$ver|") \
            /usr/local/bin/python$ver /usr/bin/python$ver; do
            [ -x "$p" ] && "$p" -c 'import sys, sysconfig
sys.exit(bool(sysconfig.get_config_var("Py_GIL_DISABLED")))' 2>/dev/null && { echo "$p"; break; }
        done
    done
    return 0
}

# pip install the build backend and the test suite's requirements (pyproject.toml's [test]
# extra, the one list) into the venv whose python is $1; $2: pyproject.toml (default ./).
install_test_requirements() {
    "$1" -c 'import sys, tomllib
with open(sys.argv[1], "rb") as f:
    p = tomllib.load(f)
print("\n".join(p["build-system"]["requires"] + p["project"]["optional-dependencies"]["test"]))' \
        "${2:-pyproject.toml}" | "$1" -m pip install -q -r /dev/stdin
}

# Runs "$@" when the Debian sid root (scripts/sid-root.sh) exists. Without one: fails if
# INTERPCHAN_REQUIRE_314 is set (as .ci/run does), else says it skipped.
if_sid_root() {
    if bash scripts/sid-root.sh check; then
        "$@"
    elif [ -n "${INTERPCHAN_REQUIRE_314:-}" ]; then
        echo "CPython 3.14: no Debian sid root (bash scripts/sid-root.sh make, as root)" >&2
        return 1
    else
        echo "=== CPython 3.14: skipped (no Debian sid root; bash scripts/sid-root.sh make, as root)"
    fi
}
