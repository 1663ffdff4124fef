"""The binary's own C runtime: glibc's loader and libraries carried in the onefile payload.

The onefile bootstrap is a static musl executable (build/onefile_fastpath.py) and starts the
program through the loader it unpacked, so the device's C library is never used: the same binary
runs on glibc 2.27, on musl, or in an empty root. This module does the build-time half:

- `carry`: every library the program and its bundled libraries need that is not in the bundle
  (glibc's libc, libm, libpthread/libdl/librt/libutil stubs, libstdc++, libgcc_s, zlib) is
  copied from a donor root (bookworm: glibc 2.36, whose loader has `--argv0`) into
  `<dist>/RUNTIME_DIR/`, and the donor's loader becomes `<dist>/LOADER`. The loader sits beside
  the program so that /proc/self/exe (which names the loader once it runs the program) points
  into the program's own folder, which is how Nuitka finds its modules and data.
- `check`: the closure check. Every DT_NEEDED of every ELF file in the bundle must resolve
  inside the bundle the way glibc's loader looks (the object's DT_RPATH and the program's, the
  `--library-path`, DT_RUNPATH; `$ORIGIN` expanded; never the host's default directories), and
  every symbol version it asks of that library must be defined there. The build fails otherwise.

    python3 build/runtime.py check DIST       # print the unresolved, exit 1 if any
"""

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

# Inside the dist folder (and so inside the unpacked payload). The bootstrap patch reads these
# two names from here (build/onefile_fastpath.py): one source of truth.
RUNTIME_DIR = "runtime"
LOADER = "ld.so"
# The program Nuitka builds next to them.
PROGRAM = "edgesay.bin"


@dataclass(frozen=True)
class Elf:
    path: Path
    soname: str | None
    needed: list[str]
    rpath: list[str]          # DT_RPATH entries as written ($ORIGIN unexpanded)
    runpath: list[str]
    interpreter: str | None   # PT_INTERP
    version_needs: dict[str, set[str]] = field(default_factory=dict)  # file -> versions
    version_defs: set[str] = field(default_factory=set)


def read_elf(path: Path) -> Elf | None:
    """The dynamic-linking facts of `path`, or None when it is not an ELF file."""
    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                return None
            handle.seek(0)
            elf = ELFFile(handle)
            soname, needed, rpath, runpath = None, [], [], []
            needs: dict[str, set[str]] = {}
            defs: set[str] = set()
            interpreter = None
            for segment in elf.iter_segments():
                if segment.header.p_type == "PT_INTERP":
                    interpreter = segment.get_interp_name()
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    for tag in section.iter_tags():
                        kind = tag.entry.d_tag
                        if kind == "DT_NEEDED":
                            needed.append(tag.needed)
                        elif kind == "DT_SONAME":
                            soname = tag.soname
                        elif kind == "DT_RPATH":
                            rpath += tag.rpath.split(":")
                        elif kind == "DT_RUNPATH":
                            runpath += tag.runpath.split(":")
                elif isinstance(section, GNUVerNeedSection):
                    for verneed, auxiliaries in section.iter_versions():
                        needs.setdefault(verneed.name, set()).update(aux.name for aux in auxiliaries)
                elif isinstance(section, GNUVerDefSection):
                    for _verdef, auxiliaries in section.iter_versions():
                        defs.update(aux.name for aux in auxiliaries)
            return Elf(path, soname, needed, rpath, runpath, interpreter, needs, defs)
    except (OSError, ELFError):
        return None


def elf_files(root: Path) -> Iterator[Elf]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            elf = read_elf(path)
            if elf is not None:
                yield elf


def library_path(dist: Path) -> list[Path]:
    """What the bootstrap passes as the loader's `--library-path` (the same list, in C)."""
    return [dist / RUNTIME_DIR, dist]


def _expand(entries: list[str], origin: Path) -> list[Path]:
    return [Path(entry.replace("$ORIGIN", str(origin)).replace("${ORIGIN}", str(origin)))
            for entry in entries if entry]


def search_dirs(elf: Elf, program: Elf | None, dist: Path) -> list[Path]:
    """Where glibc's loader looks for `elf`'s DT_NEEDED, in order, leaving out the host's
    ld.so.cache (`--inhibit-cache`) and default directories (which the check must never rely on)."""
    if elf.runpath:
        return library_path(dist) + _expand(elf.runpath, elf.path.parent)
    dirs = _expand(elf.rpath, elf.path.parent)
    if program is not None and not program.runpath:
        dirs += _expand(program.rpath, program.path.parent)
    return dirs + library_path(dist)


def resolve(name: str, dirs: list[Path], dist: Path) -> Path | None:
    for folder in dirs:
        candidate = folder / name
        if candidate.exists() and candidate.resolve().is_relative_to(dist.resolve()):
            return candidate.resolve()
    return None


def check(dist: Path) -> list[str]:
    """Everything in the bundle that would load a library from outside it, or a symbol version
    its library lacks; [] when the closure is complete."""
    elves = list(elf_files(dist))
    program = next((elf for elf in elves if elf.path == dist / PROGRAM), None)
    loader = read_elf(dist / LOADER)
    problems = []
    if program is None:
        problems.append(f"no {PROGRAM} in {dist}")
    if loader is None:
        problems.append(f"no loader {LOADER} in {dist}")
    preloaded = {loader.soname} if loader and loader.soname else set()
    libraries: dict[Path, Elf | None] = {}  # libc and friends are needed by nearly every file
    for elf in elves:
        where = elf.path.relative_to(dist)
        for name in elf.needed:
            if name in preloaded:
                continue  # the loader itself, matched by its soname
            found = resolve(name, search_dirs(elf, program, dist), dist)
            if found is None:
                problems.append(f"{where}: needs {name}, which is not in the bundle")
                continue
            if found not in libraries:
                libraries[found] = read_elf(found)
            library = libraries[found]
            missing = elf.version_needs.get(name, set()) - (library.version_defs if library else set())
            if missing:
                problems.append(f"{where}: needs {', '.join(sorted(missing))} from {name}, "
                                f"which {found.relative_to(dist.resolve())} does not define")
    return problems


def donor_dirs(root: Path, loader_path: str) -> list[Path]:
    """The library directories of a Debian root, for the machine whose loader is `loader_path`
    (e.g. /lib/ld-linux-aarch64.so.1)."""
    triplet = {"ld-linux-aarch64.so.1": "aarch64-linux-gnu",
               "ld-linux-x86-64.so.2": "x86_64-linux-gnu"}[Path(loader_path).name]
    return [root / "lib" / triplet, root / "usr" / "lib" / triplet, root / "lib", root / "usr" / "lib"]


def carry(dist: Path, donor: Path) -> list[str]:
    """Copy the loader and every library the bundle needs but lacks from the Debian root `donor`
    into `dist`; returns the copied names. Libraries the bundle already has (Nuitka's copies of
    libffi, libssl, ...) stay as they are: only what would otherwise come from the device does."""
    program = read_elf(dist / PROGRAM)
    if program is None or program.interpreter is None:
        raise SystemExit(f"runtime: {dist / PROGRAM} is not a dynamically linked program")
    dirs = donor_dirs(donor, program.interpreter)
    loader = _find(Path(program.interpreter).name, dirs)
    target = dist / RUNTIME_DIR
    target.mkdir(exist_ok=True)
    shutil.copyfile(loader, dist / LOADER)
    (dist / LOADER).chmod(0o755)
    carried = [f"{LOADER} ({loader.name})"]
    loader_soname = read_elf(loader).soname  # type: ignore[union-attr]
    pending = [elf for elf in elf_files(dist) if elf.path != dist / LOADER]
    while pending:
        elf = pending.pop()
        for name in elf.needed:
            if name == loader_soname or resolve(name, search_dirs(elf, program, dist), dist):
                continue
            copy = target / name
            shutil.copyfile(_find(name, dirs), copy)  # follows the donor's symlinks
            carried.append(name)
            pending.append(read_elf(copy))  # type: ignore[arg-type]
    return carried


def _find(name: str, dirs: list[Path]) -> Path:
    for folder in dirs:
        if (folder / name).exists():
            return (folder / name).resolve()
    raise SystemExit(f"runtime: {name} is needed but not in the donor root ({', '.join(map(str, dirs))})")


def glibc_version(dist: Path) -> str | None:
    """The carried glibc's version, from the newest GLIBC_2.x its libc defines."""
    libc = read_elf(dist / RUNTIME_DIR / "libc.so.6")
    if libc is None:
        return None
    versions = [name[len("GLIBC_"):] for name in libc.version_defs if name.startswith("GLIBC_2")]
    return max(versions, key=lambda v: tuple(int(part) for part in v.split("."))) if versions else None


def minimum_kernel(dist: Path) -> str | None:
    """The oldest Linux the carried glibc runs on: its libc's NT_GNU_ABI_TAG note (glibc's
    configured minimum; 3.7.0 for aarch64, 3.2.0 for x86_64 in Debian bookworm)."""
    try:
        with (dist / RUNTIME_DIR / "libc.so.6").open("rb") as handle:
            for section in ELFFile(handle).iter_sections():
                if section.header.sh_type != "SHT_NOTE":
                    continue
                for note in section.iter_notes():  # type: ignore[attr-defined]
                    if note["n_type"] == "NT_GNU_ABI_TAG":
                        desc = note["n_desc"]
                        return f"{desc['abi_major']}.{desc['abi_minor']}.{desc['abi_tiny']}"
    except (OSError, ELFError):
        pass
    return None


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(Path(sys.argv[2]))
    for problem in problems:
        print(problem)
    print(f"closure: {'complete' if not problems else f'{len(problems)} unresolved'}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
