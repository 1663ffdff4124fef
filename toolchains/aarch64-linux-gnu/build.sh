#!/usr/bin/env bash
# `just build-arm64`: the aarch64 glibc binary, built on an x86_64 (or aarch64) Linux machine.
#
# Nuitka cannot cross-compile: it must run under an aarch64 Python. So the build runs inside a
# Debian bullseye arm64 root file system (qemu-user through binfmt_misc when the machine is not
# ARM), which fixes the glibc floor at 2.31 (Raspberry Pi OS bullseye, Ubuntu 20.04, JetPack 5).
# Python-level work runs under emulation; the C compiler is zig, a static x86_64 executable that
# runs natively inside the root and targets aarch64-linux-gnu.2.31, so the C side is not emulated.
#
# The binary does not use the device's C library: its bootstrap is a static musl executable (zig),
# and the program runs through glibc's loader and libraries carried in the payload, taken from a
# Debian bookworm arm64 root (glibc 2.36: programs built for 2.31 run on it, and its loader has
# --argv0). build/runtime.py carries them and checks that nothing else would be loaded.
#
# Everything slow is done once and kept in $EDGESAY_TOOLCHAIN_CACHE (default /var/cache/edgesay):
# the root, zig, CPython 3.11 (built from Debian's source tarball; bullseye's own Python is 3.9),
# a wheelhouse of pinned aarch64 wheels, and Nuitka's and zig's caches inside the root.
#
#   build.sh [OUT]      OUT defaults to build/out/aarch64 in the repo
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${1:-$REPO/build/out/aarch64}
CACHE=${EDGESAY_TOOLCHAIN_CACHE:-/var/cache/edgesay}
ROOT=$CACHE/bullseye-build
RUNTIME=$CACHE/bookworm-runtime
JOBS=${EDGESAY_BUILD_JOBS:-$(nproc)}

PYTHON_VERSION=3.11.2
# Debian's source tarball of CPython, from the mirror this machine's apt uses (toolchains/debian-mirror.sh).
PYTHON_URL=$("$HERE/../debian-mirror.sh")/pool/main/p/python3.11/python3.11_$PYTHON_VERSION.orig.tar.gz
PYTHON_SHA256=2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849
ZIG_VERSION=0.17.1
# What the CPython build uses from Debian: headers of the C libraries it links, and the tools.
PACKAGES=gcc,g++,make,patchelf,ccache,ca-certificates,libssl-dev,zlib1g-dev,libffi-dev,libbz2-dev,liblzma-dev,libsqlite3-dev,uuid-dev,xz-utils

started=$SECONDS
current="start"
step() { current=$*; printf 'build-arm64 [%4ds]: %s\n' $((SECONDS - started)) "$*" >&2; }
# A failed step ends with one line naming it (the failing command's own output is above it).
trap 'echo "build-arm64: failed during: $current" >&2' ERR
mkdir -p "$CACHE"

step "root file system (Debian bullseye arm64) in $ROOT"
"$HERE/root.sh" create "$ROOT" bullseye "$PACKAGES"

step "runtime root (Debian bookworm arm64: the glibc the binary carries) in $RUNTIME"
"$HERE/root.sh" create "$RUNTIME" bookworm

if [ "$(cat "$ROOT/.edgesay/zig" 2>/dev/null)" != "$ZIG_VERSION" ]; then
    step "zig $ZIG_VERSION (from PyPI's ziglang wheel, for this machine)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: "ziglang==$ZIG_VERSION" -d "$CACHE/zig"
    rm -rf "$ROOT/opt/zig" "$CACHE/zig/unpacked"
    python3 -m zipfile -e "$CACHE"/zig/ziglang-"$ZIG_VERSION"-*.whl "$CACHE/zig/unpacked"
    mv "$CACHE/zig/unpacked/ziglang" "$ROOT/opt/zig"
    chmod +x "$ROOT/opt/zig/zig"
    install -m 755 "$HERE/zig-wrapper.sh" "$ROOT/usr/local/bin/zig"
    echo "$ZIG_VERSION" > "$ROOT/.edgesay/zig"
fi

if [ "$(cat "$ROOT/.edgesay/python" 2>/dev/null)" != "$PYTHON_VERSION" ]; then
    step "CPython $PYTHON_VERSION for glibc 2.31 (once; about 15 minutes under emulation)"
    tarball=$CACHE/python3.11_$PYTHON_VERSION.orig.tar.gz
    [ -s "$tarball" ] || curl -fsSL "$PYTHON_URL" -o "$tarball"
    echo "$PYTHON_SHA256  $tarball" | sha256sum -c --quiet
    rm -rf "$ROOT/build/python" && mkdir -p "$ROOT/build/python"
    tar -xzf "$tarball" -C "$ROOT/build/python" --strip-components=1
    install -m 755 "$HERE/python.sh" "$ROOT/build/python.sh"
    "$HERE/root.sh" run "$ROOT" /build/python.sh /build/python "$JOBS"
    rm -rf "$ROOT/build/python"
    echo "$PYTHON_VERSION" > "$ROOT/.edgesay/python"
fi

requirements=$(sha256sum "$HERE/requirements.txt" | cut -c1-16)
if [ "$(cat "$ROOT/.edgesay/requirements" 2>/dev/null)" != "$requirements" ]; then
    step "Python packages (pinned in requirements.txt; aarch64 wheels fetched here, cached)"
    mkdir -p "$CACHE/wheelhouse"
    grep -v '^nuitka==' "$HERE/requirements.txt" | grep -v '^#' > "$CACHE/wheelhouse/binary.txt"
    python3 -m pip download --quiet --only-binary=:all: --no-deps -d "$CACHE/wheelhouse" \
        --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --python-version 3.11 \
        --implementation cp -r "$CACHE/wheelhouse/binary.txt"
    # Nuitka comes as source only; its build is pure Python and runs inside the root.
    python3 -m pip download --quiet --no-binary :all: --no-deps -d "$CACHE/wheelhouse" \
        "$(grep '^nuitka==' "$HERE/requirements.txt")"
    cp "$HERE/requirements.txt" "$CACHE/wheelhouse/requirements.txt"
    EDGESAY_ROOT_BIND="$CACHE/wheelhouse:/wheelhouse" "$HERE/root.sh" run "$ROOT" \
        python3 -m pip install --quiet --root-user-action=ignore --disable-pip-version-check \
        --no-index --find-links /wheelhouse -r /wheelhouse/requirements.txt
    # Some wheels ship debug info (zstandard's C backend: 10.6 MB, 0.9 MB without), and the
    # binary carries what is installed here. Only files with debug sections, and never the
    # libraries auditwheel patched (*.libs/): strip breaks their program headers.
    "$HERE/root.sh" run "$ROOT" sh -c 'find /opt/python/lib/python3.11/site-packages -name "*.so*" -type f \
        -not -path "*.libs/*" | while read -r f; do
            if readelf -S "$f" 2>/dev/null | grep -q "\.debug_info"; then strip --strip-debug "$f"; fi
        done'
    echo "$requirements" > "$ROOT/.edgesay/requirements"
fi

step "Embedded voice (on the host: zstd -19 under emulation would take minutes)"
mkdir -p "$OUT"
python3 "$REPO/build/build.py" --out "$OUT" --voice-only

step "Nuitka build (Python under emulation, C through zig)"
EDGESAY_ROOT_BIND="$REPO:/src $OUT:/out $RUNTIME:/runtime" "$HERE/root.sh" run "$ROOT" \
    sh -c "cd /src && python3 build/build.py --out /out --jobs $JOBS --lto no --nuitka-arg=--zig \
        --zig /opt/zig/zig --runtime-root /runtime"
step "done: $OUT/edgesay"
