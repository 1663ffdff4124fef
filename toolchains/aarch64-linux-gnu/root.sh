#!/usr/bin/env bash
# Creates, once, an aarch64 Debian root file system on an x86_64 Linux machine without Docker,
# and runs commands inside it. The kernel hands aarch64 executables to qemu-user (binfmt_misc),
# so `chroot ROOT python3` runs aarch64 Python. Used by the build root (bullseye, glibc 2.31:
# the floor we promise) and by the bare test roots (no Python at all).
#
#   root.sh create DIR SUITE [PACKAGES]   debootstrap minbase + PACKAGES (comma-separated)
#   root.sh run DIR COMMAND...            run COMMAND inside DIR with /proc, /dev and the CA bundle;
#                                         EDGESAY_ROOT_BIND="HOST:GUEST ..." bind-mounts more
#
# Each step leaves a stamp in DIR/.edgesay/, so re-running resumes instead of starting over.
set -euo pipefail

# The Debian mirror: $EDGESAY_DEBIAN_MIRROR or the one this machine's apt uses (no host in the repo).
MIRROR=$("$(dirname "$0")/../debian-mirror.sh")

need_binfmt() {
    if [ "$(uname -m)" = aarch64 ]; then return; fi
    if ! command -v debootstrap >/dev/null || [ ! -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] \
        && [ ! -e /usr/bin/qemu-aarch64-static ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static debootstrap binfmt-support >/dev/null
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        update-binfmts --enable qemu-aarch64
    fi
}

create() {
    local dir=$1 suite=$2 packages=${3:-}
    need_binfmt
    mkdir -p "$dir/.edgesay"
    if [ ! -e "$dir/.edgesay/debootstrap" ]; then
        command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
        # --foreign would need a second stage; with binfmt in place one pass works.
        debootstrap --arch=arm64 --variant=minbase ${packages:+--include="$packages"} \
            "$suite" "$dir" "$MIRROR"
        touch "$dir/.edgesay/debootstrap"
    fi
}

run() {
    local dir=$1; shift
    need_binfmt
    # The mounts below live in a private mount namespace (the same process, re-run by unshare):
    # they end with it, so no /dev stays bound inside a root that a later `rm -rf` may walk.
    if [ -z "${EDGESAY_ROOT_NAMESPACE:-}" ]; then
        EDGESAY_ROOT_NAMESPACE=1 exec unshare --mount --propagation private "$0" run "$dir" "$@"
    fi
    # Not /sys: onnxruntime's cpuinfo reads the host's x86 cache topology from it and
    # crashes under qemu (../shared notes); without it onnxruntime warns and works.
    mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
    mountpoint -q "$dir/dev" || mount --bind /dev "$dir/dev"
    if [ -e /etc/ssl/certs/ca-certificates.crt ]; then
        mkdir -p "$dir/etc/ssl/certs"
        cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
    fi
    cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
    local bound=() pair
    for pair in ${EDGESAY_ROOT_BIND:-}; do
        mkdir -p "$dir${pair#*:}"
        mountpoint -q "$dir${pair#*:}" || mount --bind "${pair%%:*}" "$dir${pair#*:}"
        bound+=("$dir${pair#*:}")
    done
    local status=0
    chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH=/opt/python/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@" || status=$?
    for pair in "${bound[@]}"; do umount "$pair" 2>/dev/null || true; done
    umount "$dir/dev" "$dir/proc" 2>/dev/null || true
    return $status
}

case ${1:-} in
    create) shift; create "$@" ;;
    run) shift; run "$@" ;;
    *) echo "usage: root.sh create DIR SUITE [PACKAGES] | root.sh run DIR COMMAND..." >&2; exit 2 ;;
esac
