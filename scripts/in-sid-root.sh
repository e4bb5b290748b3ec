#!/usr/bin/env bash
# Runs a command inside the Debian sid root (scripts/sid-root.sh) with this checkout at /src.
#
# Usage: bash scripts/in-sid-root.sh [--toolchain] [--bind HOST_DIR:DIR] [--env NAME=VALUE] -- CMD...
#   --toolchain      also mount this machine's Rust toolchain ($CARGO_HOME, $RUSTUP_HOME) at the
#                    same paths and put cargo on PATH (the root's newer glibc runs its binaries)
#   --bind H:D       mount host directory H read-only at D inside the root (repeatable)
#   --env NAME=V     set an environment variable for CMD (repeatable)
# The checkout is read-only at /src; /tmp is a fresh tmpfs; the root's /build persists between
# runs (build cache, venvs). Every mount is made in a private mount namespace and unmounted on
# exit, also when CMD fails; the namespace itself vanishes with the process, so even a killed
# run leaves no mount behind. Runs hold the root's lock, one at a time. Needs root privileges.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${INTERPCHAN_SID_ROOT:-/var/cache/interpchan/sid-root}

if [ -z "${_INTERPCHAN_SID_NS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "running in the Debian sid root needs root privileges" >&2; exit 1; }
    bash "$repo/scripts/sid-root.sh" --check \
        || { echo "no healthy Debian sid root at $root: make it with bash scripts/sid-root.sh" >&2; exit 1; }
    exec 9>"$root.lock"
    flock 9  # held by the process below (the descriptor is inherited)
    exec unshare --mount --propagation private env _INTERPCHAN_SID_NS=1 bash "$0" "$@"
fi

toolchain=0
binds=()
envs=(HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1)
while [ $# -gt 0 ]; do
    case "$1" in
        --toolchain) toolchain=1; shift ;;
        --bind) binds+=("$2"); shift 2 ;;
        --env) envs+=("$2"); shift 2 ;;
        --) shift; break ;;
        *) echo "in-sid-root.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "in-sid-root.sh: no command given" >&2; exit 2; }

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bind() {  # bind SOURCE TARGET [ro]: TARGET is created inside the root if missing
    local src=$1 dst=$root$2
    if [ -d "$src" ]; then mkdir -p "$dst"; else [ -e "$dst" ] || : >"$dst"; fi
    mount --bind "$src" "$dst"
    mounted+=("$dst")
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$dst"; fi
}

mount -t proc proc "$root/proc"
mounted+=("$root/proc")
for dir in /dev/shm /tmp; do
    mount -t tmpfs tmpfs "$root$dir"
    mounted+=("$root$dir")
done
bind /etc/resolv.conf /etc/resolv.conf ro  # this machine's network and name servers
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    # This machine's trusted certificates (a proxy's CA, if any), for pip.
    bind /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt ro
fi
bind "$repo" /src ro
mkdir -p "$root/build"
for b in "${binds[@]}"; do
    bind "${b%%:*}" "${b#*:}" ro
done
path=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
if [ "$toolchain" -eq 1 ]; then
    cargo_home=${CARGO_HOME:-$HOME/.cargo}
    rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
    bind "$cargo_home" "$cargo_home"  # writable: cargo keeps its registry cache and locks here
    [ -d "$rustup_home" ] && bind "$rustup_home" "$rustup_home" ro
    envs+=("CARGO_HOME=$cargo_home" "RUSTUP_HOME=$rustup_home")
    path=$cargo_home/bin:$path
fi
for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL \
    PIP_EXTRA_INDEX_URL PIP_DEFAULT_TIMEOUT CARGO_TERM_COLOR; do
    [ -n "${!var:-}" ] && envs+=("$var=${!var}")
done

status=0
chroot "$root" /usr/bin/env -i "PATH=$path" "${envs[@]}" "$@" || status=$?
exit $status
