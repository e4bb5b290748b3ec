#!/usr/bin/env bash
# Makes, or reuses, the Debian sid root in which CI runs CPython 3.14; prints its path.
#
# CPython 3.14 reaches this Debian 12 machine only as packages of the `sid` suite, built for a
# newer glibc, so they run in a root made with debootstrap (python3.14, its headers and venv, and
# gcc to link the extension). The root lives outside the checkout, in $INTERPCHAN_SID_ROOT
# (default /var/cache/interpchan/sid-root), and is reused while it is healthy; an unhealthy or
# outdated one is made again. Needs root privileges (debootstrap, chroot).
# Usage: bash scripts/sid-root.sh            make or reuse the root, print its path
#        bash scripts/sid-root.sh --check    exit 0 if a healthy root exists (changes nothing)
set -euo pipefail
root=${INTERPCHAN_SID_ROOT:-/var/cache/interpchan/sid-root}
# Bump when the list below changes: older roots are then made again.
recipe="interpchan sid root v1: python3.14 python3.14-dev python3.14-venv gcc libc6-dev ca-certificates"
packages=(python3.14 python3.14-dev python3.14-venv gcc libc6-dev ca-certificates)

healthy() {
    [ -f "$root/.interpchan-recipe" ] && [ "$(cat "$root/.interpchan-recipe")" = "$recipe" ] \
        && chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin /bin/sh -c \
            'python3.14 -c "import ensurepip, sysconfig, venv, os, sys
sys.exit(not os.path.exists(sysconfig.get_path(\"include\") + \"/Python.h\"))" && cc --version' \
            >/dev/null 2>&1
}

if [ "${1:-}" = "--check" ]; then
    [ "$(id -u)" -eq 0 ] && [ -d "$root" ] && healthy
    exit
fi

[ "$(id -u)" -eq 0 ] || { echo "making the Debian sid root needs root privileges" >&2; exit 1; }
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9  # one CI run at a time makes or uses the root (scripts/in-sid-root.sh takes it too)

if [ -d "$root" ] && healthy; then
    echo "reusing the Debian sid root at $root" >&2
    echo "$root"
    exit 0
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
# Never delete through a mount: unmount whatever a killed run may have left (none is left by
# scripts/in-sid-root.sh, which mounts in a private namespace), and stay on this file system.
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
cp /etc/resolv.conf "$new/etc/resolv.conf"
# apt's maintainer scripts want /proc: mounted in a private mount namespace, gone when it ends.
unshare --mount --propagation private /bin/sh -euc '
    dir=$1
    shift
    mount -t proc proc "$dir/proc"
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        /bin/sh -euc "apt-get update -q && apt-get install -y -q --no-install-recommends $* && apt-get clean"
' sh "$new" "${packages[@]}" >>"$root.log" 2>&1 \
    || { tail -n 20 "$root.log" >&2; echo "installing CPython 3.14 in the root failed; log: $root.log" >&2; exit 1; }
echo "$recipe" >"$new/.interpchan-recipe"
mv "$new" "$root"
healthy || { echo "the new root at $root does not work; log: $root.log" >&2; exit 1; }
echo "made the Debian sid root in $(($(date +%s) - started))s: $(chroot "$root" python3.14 -VV | head -n 1)" >&2
echo "$root"
