#!/usr/bin/env bash
# The Debian sid root in which CI runs CPython 3.14 (release and debug builds): make it, check
# it, run a command in it.
#
# CPython 3.14 reaches this Debian 12 machine only as packages of the `sid` suite, built for a
# newer glibc, so they run in a root made with debootstrap. It lives outside the checkout, in
# $INTERPCHAN_SID_ROOT (default /var/cache/interpchan/sid-root), and is reused while healthy; a
# root that lacks some of the packages below gets them, a broken one is made again.
# Needs root privileges (debootstrap, chroot, mount namespaces).
# Usage: bash scripts/sid-root.sh make     make or reuse the root, print its path
#        bash scripts/sid-root.sh check    exit 0 if a healthy root exists (changes nothing)
#        bash scripts/sid-root.sh run [--toolchain] [--bind HOST_DIR:DIR] [--env NAME=VALUE] -- CMD...
#   run: CMD in the root with this checkout read-only at /src, a fresh /tmp, and /build kept
#   between runs (build cache, venvs); --toolchain mounts this machine's Rust toolchain
#   ($CARGO_HOME, $RUSTUP_HOME) at the same paths and puts cargo on PATH; --bind mounts a host
#   directory read-only (repeatable); --env sets a variable for CMD (repeatable). Mounts are made
#   in a private mount namespace, so even a killed run leaves none behind. One run at a time
#   (the root's lock).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${INTERPCHAN_SID_ROOT:-/var/cache/interpchan/sid-root}
packages=(python3.14 python3.14-dev python3.14-venv python3.14-dbg gcc g++ libc6-dev ca-certificates)

healthy() {  # every package installed, CPython 3.14 with its headers and venv, C and C++ compilers (libzmq)
    chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin /bin/sh -c '
        status=$(dpkg-query -W -f="\${Status}\n" "$@") || exit 1
        echo "$status" | grep -qvx "install ok installed" && exit 1
        python3.14 -c "import ensurepip, sysconfig, venv, os, sys
sys.exit(not os.path.exists(sysconfig.get_path(\"include\") + \"/Python.h\"))" && cc --version && c++ --version
    ' sh "${packages[@]}" >/dev/null 2>&1
}

apt_install() {  # apt_install DIR: the packages, with /proc mounted in a private namespace
    unshare --mount --propagation private /bin/sh -euc '
        dir=$1
        shift
        mount -t proc proc "$dir/proc"
        cp /etc/resolv.conf "$dir/etc/resolv.conf"
        chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
            /bin/sh -euc "apt-get update -q && apt-get install -y -q --no-install-recommends $* && apt-get clean"
    ' sh "$1" "${packages[@]}" >>"$root.log" 2>&1 \
        || { tail -n 20 "$root.log" >&2; echo "installing CPython 3.14 in $1 failed; log: $root.log" >&2; exit 1; }
}

make_root() {
    [ "$(id -u)" -eq 0 ] || { echo "making the Debian sid root needs root privileges" >&2; exit 1; }
    mkdir -p "$(dirname "$root")"
    exec 9>"$root.lock"
    flock 9  # one CI run at a time makes or uses the root
    if [ -d "$root" ] && healthy; then
        echo "reusing the Debian sid root at $root" >&2
        echo "$root"
        return
    fi
    if [ -d "$root" ] && chroot "$root" /usr/bin/python3.14 -c pass 2>/dev/null; then
        echo "adding packages to the Debian sid root at $root: ${packages[*]}" >&2
        apt_install "$root"
        healthy || { echo "the root at $root does not work; log: $root.log" >&2; exit 1; }
        echo "$root"
        return
    fi
    # The mirror this machine's own apt sources use (deb822 or one-line format).
    mirror=${INTERPCHAN_DEBIAN_MIRROR:-}
    if [ -z "$mirror" ]; then
        mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
            | awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
    fi
    if [ -z "$mirror" ]; then
        mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }')
    fi
    mirror=${mirror:-http://deb.debian.org/debian}

    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
    fi

    new="$root.new"
    # Never delete through a mount: unmount whatever a killed run may have left (`run` leaves
    # none: it mounts in a private namespace), and stay on this file system.
    for dir in "$root" "$new"; do
        awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo \
            | sort -r | while read -r m; do umount "$m" || umount -l "$m"; done
        rm -rf --one-file-system "$dir"
    done

    started=$(date +%s)
    echo "making the Debian sid root at $root from $mirror (takes a few minutes)" >&2
    debootstrap --variant=minbase sid "$new" "$mirror" >"$root.log" 2>&1 \
        || { tail -n 20 "$root.log" >&2; echo "debootstrap failed; log: $root.log" >&2; exit 1; }
    # The mirror may be a frozen snapshot whose Release file is past its Valid-Until date; signatures
    # are still checked.
    echo 'Acquire::Check-Valid-Until "false";' >"$new/etc/apt/apt.conf.d/99interpchan"
    apt_install "$new"
    mv "$new" "$root"
    healthy || { echo "the new root at $root does not work; log: $root.log" >&2; exit 1; }
    echo "made the Debian sid root in $(($(date +%s) - started))s: $(chroot "$root" python3.14 -VV | head -n 1)" >&2
    echo "$root"
}

run_in_root() {
    if [ -z "${_INTERPCHAN_SID_NS:-}" ]; then
        [ "$(id -u)" -eq 0 ] || { echo "running in the Debian sid root needs root privileges" >&2; exit 1; }
        healthy || { echo "no healthy Debian sid root at $root: bash scripts/sid-root.sh make" >&2; exit 1; }
        exec 9>"$root.lock"
        flock 9  # held by the process below (the descriptor is inherited)
        exec unshare --mount --propagation private env _INTERPCHAN_SID_NS=1 bash "$0" run "$@"
    fi
    local toolchain=0 binds=() mounted=() b path var status=0
    local envs=(HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1)
    while [ $# -gt 0 ]; do
        case "$1" in
            --toolchain) toolchain=1; shift ;;
            --bind) binds+=("$2"); shift 2 ;;
            --env) envs+=("$2"); shift 2 ;;
            --) shift; break ;;
            *) echo "sid-root.sh run: unknown option $1" >&2; exit 2 ;;
        esac
    done
    [ $# -gt 0 ] || { echo "sid-root.sh run: no command given" >&2; exit 2; }
    bind() {  # bind SOURCE TARGET [ro]: TARGET is created inside the root if missing
        local src=$1 dst=$root$2
        if [ -d "$src" ]; then mkdir -p "$dst"; else [ -e "$dst" ] || : >"$dst"; fi
        mount --bind "$src" "$dst"
        [ "${3:-}" != ro ] || mount -o remount,bind,ro "$dst"
    }
    # Everything below is mounted in this private namespace: gone when the process ends.
    mount -t proc proc "$root/proc"
    mount -t tmpfs tmpfs "$root/dev/shm"
    mount -t tmpfs tmpfs "$root/tmp"
    bind /etc/resolv.conf /etc/resolv.conf ro  # this machine's name servers
    # This machine's trusted certificates (a proxy's CA, if any), for pip.
    [ ! -f /etc/ssl/certs/ca-certificates.crt ] \
        || bind /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt ro
    bind "$repo" /src ro
    mkdir -p "$root/build"
    for b in "${binds[@]}"; do bind "${b%%:*}" "${b#*:}" ro; done
    path=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
    if [ "$toolchain" -eq 1 ]; then
        local cargo_home=${CARGO_HOME:-$HOME/.cargo} rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
        bind "$cargo_home" "$cargo_home"  # writable: cargo keeps its registry cache and locks here
        [ ! -d "$rustup_home" ] || bind "$rustup_home" "$rustup_home" ro
        envs+=("CARGO_HOME=$cargo_home" "RUSTUP_HOME=$rustup_home")
        path=$cargo_home/bin:$path
    fi
    for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL \
        PIP_EXTRA_INDEX_URL PIP_DEFAULT_TIMEOUT CARGO_TERM_COLOR CI; do
        [ -z "${!var:-}" ] || envs+=("$var=${!var}")
    done
    exec chroot "$root" /usr/bin/env -i "PATH=$path" "${envs[@]}" "$@"
}

case "${1:-}" in
    make) make_root ;;
    check) [ "$(id -u)" -eq 0 ] && [ -d "$root" ] && healthy ;;
    run) shift; run_in_root "$@" ;;
    *) echo "usage: bash scripts/sid-root.sh make | check | run [options] -- CMD..." >&2; exit 2 ;;
esac
