"""Pack espeak-ng's data for every language into the package, from the piper-tts wheel.

    python3 models/espeak_data.py          # writes app/edgesay/data/espeak-ng-languages/

Piper voices were trained on the phonemes of Piper's espeak-ng (library and data), so the data
comes from the same `piper-tts==1.8.0` wheel as the library edgesay loads. English stays
uncompressed in `data/espeak-ng-data/` (the default voice reads it in place, with nothing to
unpack at start-up); everything else is zstd-compressed here and unpacked into the cache one
dictionary at a time, when a voice in that language is first used (text/espeak_data.py):

    voices.tar.zst     lang/ (every language's voice definition) and voices/ (variants)
    <name>_dict.zst    one pronunciation dictionary per language (en_dict is not repeated)
    manifest.json      where it came from, and each file's size and sha256
"""

import hashlib
import importlib.util
import io
import json
import shutil
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import zstandard

from edgesay.text.espeak_data import SHARED_FILES, VOICES_ARCHIVE

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "app" / "edgesay" / "data" / "espeak-ng-languages"
ENGLISH = REPO / "app" / "edgesay" / "data" / "espeak-ng-data"
LEVEL = 19  # zstd: packing is done once here, unpacking is as fast at any level
PIPER = "1.8.0"


def piper_data() -> Path:
    spec = importlib.util.find_spec("piper")  # located, not imported
    if spec is None or spec.origin is None or metadata.version("piper-tts") != PIPER:
        raise SystemExit(f"espeak_data: needs piper-tts=={PIPER} installed (pip install piper-tts=={PIPER})")
    return Path(spec.origin).parent / "espeak-ng-data"


def tar_of(source: Path, names: list[str]) -> bytes:
    """A reproducible tar (sorted, no owners or times) of `names` under `source`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            for path in sorted([source / name, *(source / name).rglob("*")]):
                info = tar.gettarinfo(str(path), str(path.relative_to(source)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                info.mode = 0o755 if path.is_dir() else 0o644
                with open(path, "rb") if path.is_file() else io.BytesIO() as content:
                    tar.addfile(info, content if path.is_file() else None)
    return buffer.getvalue()


def main() -> int:
    source = piper_data()
    for name in SHARED_FILES:
        if (ENGLISH / name).read_bytes() != (source / name).read_bytes():
            print(f"espeak_data: {ENGLISH / name} differs from piper-tts {PIPER}'s; copy it again", file=sys.stderr)
            return 1
    compressor = zstandard.ZstdCompressor(level=LEVEL)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    files: dict[str, dict[str, object]] = {}

    def write(name: str, raw: bytes) -> None:
        packed = compressor.compress(raw)
        (OUT / name).write_bytes(packed)
        files[name] = {"bytes": len(raw), "packed": len(packed), "sha256": hashlib.sha256(raw).hexdigest()}

    write(VOICES_ARCHIVE, tar_of(source, ["lang", "voices"]))
    for dictionary in sorted(source.glob("*_dict")):
        if dictionary.name != "en_dict":
            write(f"{dictionary.name}.zst", dictionary.read_bytes())
    manifest = {"source": f"piper-tts=={PIPER} (piper/espeak-ng-data)", "files": files}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    packed = sum(int(str(f["packed"])) for f in files.values())
    print(f"espeak_data: {len(files)} files, {packed / 1e6:.1f} MB packed, in {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
