"""Root file systems the binary is started in with chroot: an empty one (the binary, /proc, /dev,
/tmp and nothing else) and a musl-only one (Debian's `musl` and `busybox-static` packages: a C
library and a shell, no glibc at all, like Alpine or OpenWrt). For the native machine and, through
qemu-user (binfmt_misc with the F flag: the emulator is opened at registration, so nothing of it
needs to be inside the root), for arm64. Needs root (chroot, mount)."""

import os
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT

PACKAGES = ROOT / "toolchains" / "debian-packages.sh"
# Debian's name for each machine.
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
MUSL_LOADER = {"x86_64": "ld-musl-x86_64.so.1", "aarch64": "ld-musl-aarch64.so.1"}
# What every run inside gets: no HOME, no passwd (the cache must find its own place).
ENV = {"PATH": "/bin:/usr/bin:/usr/local/bin", "LANG": "C.UTF-8"}


def empty_root(folder: Path, binary: Path) -> Path:
    """`folder` with the binary as /edgesay and the three mount points; nothing else."""
    for name in ("proc", "dev", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "tmp").chmod(0o1777)
    shutil.copy2(binary, folder / "edgesay")
    return folder


def musl_root(cache: Path, machine: str, binary: Path) -> Path:
    """A musl-only root for `machine` (made once in `cache`, kept: apt fetches the packages),
    with the binary as /usr/local/bin/edgesay."""
    root = cache / f"musl-{DEBIAN_ARCH[machine]}"
    if not (root / "bin" / "sh").exists():
        subprocess.run(["bash", str(PACKAGES), DEBIAN_ARCH[machine], "bookworm", str(root), "musl", "busybox-static"],
                       check=True)
        subprocess.run(["chroot", str(root), "/bin/busybox", "--install", "-s", "/bin"], check=True)
    assert not os.path.ismount(root / "dev"), f"{root}/dev is mounted: not removing anything in {root}"
    shutil.rmtree(root / "tmp", ignore_errors=True)  # the last run's unpacked binary (and its glibc)
    for name in ("proc", "dev", "tmp", "usr/local/bin"):
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    assert (root / "lib" / MUSL_LOADER[machine]).exists()
    assert not list(root.rglob("libc.so.6")) and not list(root.rglob("ld-linux*")), f"{root} has glibc"
    shutil.copy2(binary, root / "usr" / "local" / "bin" / "edgesay")
    return root


def run_in(root: Path, *args: str, stdin: bytes | None = None, timeout: float = 900,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`args` inside `root`, with only ENV (and `env`). /proc and /dev are mounted in a private
    mount namespace that ends with the run: nothing is left mounted in a folder that pytest or a
    later run removes with rmtree, which would walk into the host's /dev."""
    host = {name: shutil.which(name) or f"/usr/sbin/{name}" for name in ("unshare", "chroot", "mount")}
    script = 'm=$1 c=$2 r=$3; shift 3; "$m" -t proc proc "$r/proc" && "$m" --bind /dev "$r/dev" && exec "$c" "$r" "$@"'
    return subprocess.run([host["unshare"], "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh",
                           host["mount"], host["chroot"], str(root), *args],
                          input=stdin, capture_output=True, timeout=timeout, env={**ENV, **(env or {})})
