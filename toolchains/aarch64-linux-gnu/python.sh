#!/bin/sh
# Runs inside the bullseye build root: builds CPython 3.11 into /opt/python with zig, targeting
# glibc 2.31 (Debian bullseye's own Python is 3.9; onnxruntime's wheels need 3.10+).
# zig (static x86_64) compiles at native speed; configure's test programs run under qemu.
# Only the extension modules edgesay and pip need are linked: ctypes (libffi), zlib, bz2, lzma.
set -eu
SRC=$1          # the unpacked CPython source tree
JOBS=${2:-2}

# Headers and libraries of the C dependencies, apart from the root's glibc: zig brings its own
# glibc 2.31 headers and stubs, and must not see the root's libc.so.
mkdir -p /opt/deps/include /opt/deps/lib
cp -a /usr/include/zlib.h /usr/include/zconf.h /usr/include/bzlib.h /usr/include/lzma.h /usr/include/lzma \
      /usr/include/aarch64-linux-gnu/ffi.h /usr/include/aarch64-linux-gnu/ffitarget.h /opt/deps/include/
for lib in libffi libz libbz2 liblzma; do
    ln -sf /usr/lib/aarch64-linux-gnu/$lib.so /opt/deps/lib/$lib.so
done

cd "$SRC"
export CC="zig cc" CXX="zig c++" AR="zig ar" RANLIB="zig ranlib"
# zig turns __DATE__ (in getbuildinfo.c) into an error for reproducibility; allow it.
export CFLAGS="-Wno-date-time"
export CPPFLAGS="-I/opt/deps/include" LDFLAGS="-L/opt/deps/lib -Wl,-rpath-link,/usr/lib/aarch64-linux-gnu"
./configure --prefix=/opt/python --build=aarch64-unknown-linux-gnu --disable-test-modules \
    --with-ensurepip=install --without-doc-strings >/tmp/python-configure.log
make -j"$JOBS" >/tmp/python-make.log 2>&1 || { tail -40 /tmp/python-make.log; exit 1; }
make altinstall >/tmp/python-install.log 2>&1 || { tail -40 /tmp/python-install.log; exit 1; }
ln -sf python3.11 /opt/python/bin/python3
/opt/python/bin/python3 -c "import ctypes, zlib, bz2, lzma, sys; print('python', sys.version.split()[0], 'ok')"
