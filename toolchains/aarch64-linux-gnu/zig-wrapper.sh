#!/bin/sh
# Installed as /usr/local/bin/zig in the aarch64 build root: zig, cross-compiling for the glibc
# floor. `zig cc ARGS` runs `zig cc -target aarch64-linux-gnu.2.31 ARGS`. zig itself is a static
# x86_64 executable, so inside the aarch64 root it runs at native speed, not under qemu.
case "$1" in
    cc|c++) tool=$1; shift; exec /opt/zig/zig "$tool" -target aarch64-linux-gnu.2.31 "$@" ;;
    *) exec /opt/zig/zig "$@" ;;
esac
