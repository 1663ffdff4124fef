"""The glibc floor of a set of ELF files: the highest GLIBC_x.y symbol version any of them needs.

Reads the version-needs section with pyelftools (build/runtime.py's read_elf), so it works on
aarch64 files from an x86_64 machine (no cross objdump), and on the unpacked payload of a onefile
build.

    python3 build/elf_floor.py FILE_OR_DIR...
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from runtime import read_elf


@dataclass(frozen=True)
class Floor:
    highest: str | None                 # e.g. "2.31"; None when nothing needs glibc
    by_file: dict[str, str]             # file name -> the highest version it needs


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def glibc_needs(path: Path) -> list[str]:
    """GLIBC versions `path` asks for; [] for non-ELF files and ELF files without version needs."""
    elf = read_elf(path)
    if elf is None:
        return []
    return [version[len("GLIBC_"):] for versions in elf.version_needs.values() for version in versions
            if version.startswith("GLIBC_2")]


def glibc_floor(paths: list[Path]) -> Floor:
    by_file = {}
    for path in paths:
        if path.is_file() and not path.is_symlink():
            needs = glibc_needs(path)
            if needs:
                by_file[path.name] = max(needs, key=_key)
    highest = max(by_file.values(), key=_key) if by_file else None
    return Floor(highest, dict(sorted(by_file.items(), key=lambda item: _key(item[1]), reverse=True)))


def main() -> int:
    files: list[Path] = []
    for name in sys.argv[1:]:
        root = Path(name)
        files += sorted(root.rglob("*")) if root.is_dir() else [root]
    floor = glibc_floor(files)
    for name, version in floor.by_file.items():
        print(f"{version:>6}  {name}")
    print(f"glibc floor: {floor.highest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
