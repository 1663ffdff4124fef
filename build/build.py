"""Build the edgesay binary with Nuitka for the machine (or build root) this Python runs on.

    python3 build/build.py [--out DIR] [--bundle FILE] [--jobs N] [--lto yes|no|auto]
                           [--runtime-root ROOT] [--zig ZIG]

Reads build/options.toml (the only place with Nuitka options), trims the default voice bundle to
the levels the binary embeds, names the build (version + content hash: the onefile extraction
cache directory), runs Nuitka, and leaves in DIR (default build/out/<machine>):

    edgesay        the binary
    report.xml     Nuitka's compilation report (modules, data files, DLLs, timings)
    build.json     what was built: id, seconds, size, Python, machine, the carried glibc

The binary uses nothing of the device's C library: its bootstrap is a static musl executable
(built with zig), and the program runs through glibc's loader and libraries taken from ROOT
(a Debian root, `/` for this machine) and carried in the payload (build/runtime.py).
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "app"))
sys.path.insert(0, str(REPO / "build"))

from edgesay import __version__  # noqa: E402
from edgesay.system.paths import DATA, EMBEDDED_BUNDLE, ESPEAK_LIBRARY, espeak_library  # noqa: E402
from edgesay.voice import formats, levels  # noqa: E402
from edgesay.voice.bundle import Bundle, subset  # noqa: E402
from elf_floor import glibc_floor  # noqa: E402
from onefile_fastpath import patched_nuitka  # noqa: E402
from runtime import LOADER, RUNTIME_DIR, glibc_version, minimum_kernel, read_elf  # noqa: E402

# Installed packages whose versions go into the build id: a new onnxruntime is a new binary.
PINNED = ("nuitka", "numpy", "onnxruntime", "onnx", "zstandard", "piper-tts", "textual",
          "wyoming", "aiohttp", "zeroconf", "defusedxml")


def options_table() -> dict[str, object]:
    return tomllib.loads((REPO / "build" / "options.toml").read_text())["nuitka"]


# The levels of the default voice the binary embeds: those the table of levels marks in_binary.
LEVELS = [level.name for level in levels.LEVELS if level.in_binary]


def build_id(voice: Path) -> str:
    """Version + a hash of everything that goes into the binary."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "app" / "edgesay").rglob("*")):  # the embedded voice is hashed below
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".edgesay":
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    for path in (REPO / "build" / "options.toml", REPO / "build" / "nuitka-package.config.yml",
                 REPO / "build" / "onefile_fastpath.py", REPO / "build" / "runtime.py",
                 REPO / "build" / "runtime_plugin.py", voice, espeak_library()):
        digest.update(path.read_bytes())
    for name in PINNED:
        digest.update(f"{name}=={_version(name)}".encode())
    digest.update(f"{platform.machine()} {sys.version}".encode())
    return f"{__version__}-{digest.hexdigest()[:12]}"


def nuitka_arguments(options: dict[str, object], fill: dict[str, str]) -> list[str]:
    args = []
    for key, value in options.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is True:
                args.append(f"--{key}")
            elif item is not False:
                text = str(item)
                for name, replacement in fill.items():
                    text = text.replace("{" + name + "}", replacement)
                args.append(f"--{key}={text}")
    return args




# Pygments' lexers and styles that stay in the binary: its name tables, and what Rich needs to
# show a Python traceback. Nuitka takes every one of the 263 lexers and 49 styles (1 MB compressed)
# because Pygments finds them by name at run time; edgesay's TUI highlights no code.
PYGMENTS_KEPT = {"_mapping", "python", "default"}


def pygments_left_out() -> list[str]:
    """`--nofollow-import-to` for each Pygments lexer and style module not in PYGMENTS_KEPT
    (listed one by one: a pattern would also drop the name tables, which Nuitka then refuses to
    include)."""
    import pygments

    root = Path(pygments.__file__).parent
    return [f"--nofollow-import-to=pygments.{kind}.{path.stem}" for kind in ("lexers", "styles")
            for path in sorted((root / kind).glob("*.py")) if path.stem not in PYGMENTS_KEPT | {"__init__"}]


def bootstrap_zig(out: Path, zig: Path) -> Path:
    """A `zig` for the onefile bootstrap alone (build/onefile_fastpath.py hands it to the
    bootstrap's build): a static musl executable for this machine, which runs on any Linux
    C library or none. Named `zig` because that is how Nuitka recognises the compiler."""
    wrapper = out / "bootstrap-zig" / "zig"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    target = f"{platform.machine()}-linux-musl"
    wrapper.write_text(f"""#!/bin/sh
# Written by build/build.py: the onefile bootstrap as a static {target} executable.
case "$1" in
    cc|c++) tool=$1; shift; exec "{zig}" "$tool" -target {target} -static "$@" ;;
    *) exec "{zig}" "$@" ;;
esac
""")
    wrapper.chmod(0o755)
    return wrapper


def installed_zig() -> Path:
    """zig from PyPI's ziglang package (`just build` installs it)."""
    try:
        import ziglang  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit("build: no zig (pip install ziglang, or --zig PATH)") from None
    return Path(ziglang.__file__).parent / "zig"


def embedded_voice(source: Path, kept: list[str], voice: Path) -> None:
    """The default voice at levels `kept`, packed again with filters (half a minute of zstd -19;
    kept while it is newer than the source bundle and has the same levels)."""
    if voice.is_file() and voice.stat().st_mtime > source.stat().st_mtime:
        made = Bundle.read(voice)
        if made.notes.get("embedded") == formats.EMBEDDED and sorted(made.levels) == sorted(kept):
            return
    voice.parent.mkdir(parents=True, exist_ok=True)
    subset(Bundle.read(source), kept, voice, recompress=True, notes={"embedded": formats.EMBEDDED})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "out" / platform.machine())
    parser.add_argument("--bundle", type=Path, default=EMBEDDED_BUNDLE,
                        help="the full default voice bundle (made by `just models`)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--lto", choices=("yes", "no", "auto"), default="auto",
                        help="link-time optimisation; `no` under emulation (the link is single-threaded)")
    parser.add_argument("--nuitka-arg", action="append", default=[], help="one more Nuitka option (repeatable)")
    parser.add_argument("--runtime-root", type=Path, default=Path("/"),
                        help="the Debian root whose glibc the binary carries (default: this machine's)")
    parser.add_argument("--zig", type=Path, help="the zig executable for the static bootstrap "
                        "(default: PyPI's ziglang package)")
    parser.add_argument("--voice-only", action="store_true",
                        help="only make the embedded voice (the aarch64 build does this on the host, not under qemu)")
    args = parser.parse_args()
    if not args.bundle.is_file():
        print(f"build: no voice bundle at {args.bundle}; run `just models` first", file=sys.stderr)
        return 1
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    options = options_table()

    voice = out / "voice" / EMBEDDED_BUNDLE.name
    embedded_voice(args.bundle, LEVELS, voice)
    if args.voice_only:
        return 0
    ident = build_id(voice)
    # Package data goes where edgesay.system.paths looks for it, relative to the package.
    embedded_at = EMBEDDED_BUNDLE.relative_to(DATA.parent.parent)
    library = ESPEAK_LIBRARY.relative_to(DATA.parent.parent)
    fill = {"OUT": str(out), "VOICE": f"{voice}={embedded_at}", "BUILD_ID": ident,
            "ESPEAK_LIBRARY": f"{espeak_library()}={library}"}
    work = out / "nuitka"
    command = [sys.executable, "-m", "nuitka", *nuitka_arguments(options, fill),
               *pygments_left_out(), f"--output-dir={work}", f"--jobs={args.jobs}", f"--lto={args.lto}",
               *args.nuitka_arg, str(REPO / "app" / "edgesay")]
    print("build:", " ".join(command), flush=True)
    started = time.monotonic()
    # Nuitka with the onefile start-up fast path (build/onefile_fastpath.py).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(patched_nuitka(out)),
                                                                     os.environ.get("PYTHONPATH")])),
           "EDGESAY_BOOTSTRAP_ZIG": str(bootstrap_zig(out, args.zig or installed_zig())),
           "EDGESAY_RUNTIME_ROOT": str(args.runtime_root.resolve())}
    nuitka = subprocess.run(command, cwd=REPO, env=env)
    if nuitka.returncode != 0:
        print(f"build: Nuitka failed (exit {nuitka.returncode}); its messages are above", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started

    binary = out / "edgesay"
    shutil.move(work / "edgesay", binary)
    bootstrap = read_elf(binary)
    if bootstrap is None or bootstrap.interpreter is not None or bootstrap.needed:
        print(f"build: {binary} is not a static executable; the bootstrap must not need a C library",
              file=sys.stderr)
        return 1
    dist = next(work.glob("*.dist"))
    # What the program and Nuitka's bundled libraries ask of glibc (the carried glibc is newer).
    floor = glibc_floor([path for path in sorted(dist.rglob("*"))
                         if path.name != LOADER and RUNTIME_DIR not in path.relative_to(dist).parts])
    record = {
        "build_id": ident, "seconds": round(seconds, 1), "size_bytes": binary.stat().st_size,
        "voice_levels": LEVELS, "voice_bytes": voice.stat().st_size, "machine": platform.machine(),
        "python": platform.python_version(), "lto": args.lto, "jobs": args.jobs,
        "bootstrap": "static", "runtime_glibc": glibc_version(dist), "minimum_kernel": minimum_kernel(dist),
        "runtime_root": str(args.runtime_root), "program_glibc_floor": floor.highest,
        "glibc_by_file": floor.by_file,
        "packages": {name: _version(name) for name in PINNED},
    }
    (out / "build.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"build: {binary} ({binary.stat().st_size / 1e6:.1f} MB) in {seconds / 60:.1f} min, "
          f"static bootstrap, carries glibc {glibc_version(dist)}", flush=True)
    return 0


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
