"""The binary's carried C runtime (build/runtime.py), on this machine's own programs: what is
carried, and that the closure check finds what would load from outside the bundle. The built
binary itself is tested in test_binary.py (`just test-binary`)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "build"))
import runtime

# A small dynamically linked program of this machine, standing in for Nuitka's edgesay.bin.
PROGRAM = Path("/usr/bin/env")
needs_program = pytest.mark.skipif(runtime.read_elf(PROGRAM) is None or runtime.read_elf(PROGRAM).interpreter is None,
                                   reason="/usr/bin/env is not a dynamic ELF program here")


def bundle(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy2(PROGRAM, folder / runtime.PROGRAM)
    return folder


@needs_program
def test_the_carried_runtime_is_complete_and_runs_the_program(tmp_path: Path) -> None:
    dist = bundle(tmp_path / "dist")
    assert runtime.check(dist) != []  # before: libc would come from the machine
    carried = runtime.carry(dist, Path("/"))
    assert "libc.so.6" in carried and (dist / runtime.LOADER).is_file()
    assert runtime.check(dist) == []
    assert runtime.glibc_version(dist) is not None and runtime.minimum_kernel(dist) is not None
    # Started the way the bootstrap starts edgesay.bin: through the carried loader.
    result = subprocess.run([str(dist / runtime.LOADER), "--library-path",
                             ":".join(map(str, runtime.library_path(dist))), "--inhibit-cache", "--argv0", "edgesay",
                             str(dist / runtime.PROGRAM), "sh", "-c", "echo ran; echo ${LD_LIBRARY_PATH:-none}"],
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=True)
    assert result.stdout.split() == ["ran", "none"]


@needs_program
def test_the_closure_check_names_what_would_come_from_the_device(tmp_path: Path) -> None:
    dist = bundle(tmp_path / "dist")
    runtime.carry(dist, Path("/"))
    (dist / runtime.RUNTIME_DIR / "libc.so.6").unlink()
    problems = runtime.check(dist)
    assert f"{runtime.PROGRAM}: needs libc.so.6, which is not in the bundle" in problems
    # A library there, but older than what is asked of it: a symbol version it does not define.
    other = runtime.read_elf(PROGRAM)
    assert other is not None
    needs = other.version_needs["libc.so.6"]
    # The loader in libc's place: it defines only its own few versions.
    shutil.copy2(dist / runtime.LOADER, dist / runtime.RUNTIME_DIR / "libc.so.6")
    problems = runtime.check(dist)
    assert any(p.startswith(f"{runtime.PROGRAM}: needs ") and "from libc.so.6" in p and
               any(version in p for version in needs) for p in problems), problems
