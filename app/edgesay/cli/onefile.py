"""Housekeeping inside the onefile binary.

The binary unpacks itself once into ~/.cache/edgesay/bin/<version>-<content hash>/ (Nuitka's
cached onefile mode) and starts from there afterwards. Each new build has a new directory, so
without this the cache would keep every binary ever run on the device (about 100 MB each).
"""

import contextlib
import shutil
from pathlib import Path


def in_binary() -> bool:
    """Whether this is the compiled binary. Asked here because this module is always compiled
    there; some of edgesay's modules are bytecode in the binary (build/options.toml), and have
    no `__compiled__` of their own."""
    return "__compiled__" in globals()


def name_process() -> None:
    """Call the process `edgesay` in ps, top and killall. The binary's program is started by the
    glibc loader it carries (build/runtime.py), so the kernel named the process after the loader."""
    if in_binary():
        # Without /proc (or with an emulator's) only the name in ps is affected.
        with contextlib.suppress(OSError):
            Path("/proc/self/comm").write_text("edgesay")


def extraction_dir() -> Path | None:
    """Where this binary unpacked itself, or None when running as a plain Python package."""
    if not in_binary():
        return None
    here = Path(__file__).resolve().parents[2]  # <extraction dir>/edgesay/cli/onefile.py
    # Only trust the layout build/options.toml asks for: never delete anything else.
    if here.parent.name != "bin" or here.parent.parent.name != "edgesay":
        return None
    return here


def remove_older_extractions() -> list[Path]:
    """Delete the unpacked copies of other builds; returns what was removed."""
    current = extraction_dir()
    if current is None:
        return []
    removed = []
    for sibling in current.parent.iterdir():
        if sibling != current and sibling.is_dir() and not sibling.is_symlink():
            # A binary of that build still running keeps its open files; a new start of it
            # simply unpacks again.
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
    return removed
