"""What the CPU can do, as the kernel tells every process (the auxiliary vector's HWCAP), not as a
file says: /proc/cpuinfo may be missing or lie in a container, and qemu's user emulator reports
the emulated CPU's features here. Which level a voice speaks at by default follows from it
(voice/levels.py).
"""

import ctypes
import functools
import platform
import sys

AT_HWCAP = 16
# Bits of AT_HWCAP on arm64 Linux (the kernel's arch/arm64/include/uapi/asm/hwcap.h), named as
# /proc/cpuinfo names them.
ARM64_HWCAP = {"fphp": 1 << 9, "asimdhp": 1 << 10, "asimddp": 1 << 20}


def features_from(hwcap: int, machine: str) -> frozenset[str]:
    """The features edgesay cares about, from an AT_HWCAP value on `machine`."""
    if machine not in ("aarch64", "arm64"):
        return frozenset()
    return frozenset(name for name, bit in ARM64_HWCAP.items() if hwcap & bit)


@functools.cache
def features() -> frozenset[str]:
    """This CPU's features among ARM64_HWCAP's (empty on other CPUs and systems)."""
    if not sys.platform.startswith("linux"):
        return frozenset()
    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):
        return frozenset()
    getauxval.restype, getauxval.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
    return features_from(int(getauxval(AT_HWCAP)), platform.machine())
