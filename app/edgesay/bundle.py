"""Voice bundles: one zstd-compressed file with everything a voice needs at every quality.

    b"EDGESAY\\x00" | format (uint32 LE) | zstd( manifest length (uint32 LE) | manifest JSON | parts... )

The manifest lists each part's offset, size and sha256, the split metadata, and for each
quality level which graphs and which compensation it uses (levels share parts). A bundle
is read into memory, decompressed, hash-checked and handed to onnxruntime as bytes:
no temporary files, so it works from a read-only or embedded location.
"""

import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compensation import Compensation
from .config import VoiceConfig
from .errors import VoiceError
from .graphs import SplitVoice

MAGIC = b"EDGESAY\x00"
FORMAT = 1
SUFFIX = ".edgesay"
_HEADER = struct.Struct("<8sI")
_LENGTH = struct.Struct("<I")
LEVELS = ("fast", "balanced", "reference")


@dataclass(frozen=True)
class Level:
    """One quality level of a voice: graph parts and an optional compensation part."""

    latent: str
    flow: str
    decoder: str
    compensation: str | None = None


@dataclass(frozen=True)
class BundleSpec:
    """What to pack: parts by name, levels over them, and which level is the default."""

    config: dict[str, Any]
    meta: dict[str, Any]
    parts: dict[str, bytes]
    levels: dict[str, Level]
    default: str
    notes: dict[str, Any]


@dataclass(frozen=True)
class VoiceLevel:
    """A voice ready for the engine at one quality level."""

    config: VoiceConfig
    split: SplitVoice
    compensation: Compensation | None
    quality: str


def pack(spec: BundleSpec, path: Path, compression: int = 19) -> None:
    """Write `spec` to `path` atomically."""
    import zstandard

    if spec.default not in spec.levels:
        raise ValueError(f"default level {spec.default} is not one of {sorted(spec.levels)}")
    parts = dict(spec.parts)
    parts["config.json"] = json.dumps(spec.config, ensure_ascii=False).encode()
    entries, offset = [], 0
    for name, data in parts.items():
        entries.append({"name": name, "offset": offset, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        offset += len(data)
    for uses in spec.levels.values():
        for used in (uses.latent, uses.flow, uses.decoder, uses.compensation):
            if used is not None and used not in parts:
                raise ValueError(f"level uses part {used}, which is not in the bundle")
    manifest = json.dumps({
        "format": FORMAT, "parts": entries, "meta": spec.meta, "default": spec.default,
        "levels": {name: vars(level) for name, level in spec.levels.items()}, "notes": spec.notes,
    }, indent=1).encode()
    payload = b"".join([_LENGTH.pack(len(manifest)), manifest, *parts.values()])
    compressed = zstandard.ZstdCompressor(level=compression, threads=-1).compress(payload)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_HEADER.pack(MAGIC, FORMAT))
            out.write(compressed)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Bundle:
    """A bundle read into memory and verified."""

    def __init__(self, data: bytes, origin: str) -> None:
        import zstandard

        self.origin = origin
        if len(data) < _HEADER.size:
            raise VoiceError(f"voice bundle {origin} is truncated ({len(data)} bytes)")
        magic, version = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise VoiceError(f"{origin} is not an edgesay voice bundle")
        if version > FORMAT:
            raise VoiceError(f"voice bundle {origin} has format {version}; this edgesay reads format {FORMAT} "
                             "and older: upgrade edgesay or rebuild the bundle")
        if version != FORMAT:
            raise VoiceError(f"voice bundle {origin} has old format {version}; rebuild it with `just models`")
        try:
            payload = zstandard.ZstdDecompressor().decompress(data[_HEADER.size:])
        except zstandard.ZstdError as exc:
            raise VoiceError(f"voice bundle {origin} is truncated or corrupt: {exc}") from exc
        try:
            (length,) = _LENGTH.unpack_from(payload)
            manifest = json.loads(payload[_LENGTH.size:_LENGTH.size + length])
            body = memoryview(payload)[_LENGTH.size + length:]
            self.parts: dict[str, bytes] = {}
            for entry in manifest["parts"]:
                part = bytes(body[entry["offset"]:entry["offset"] + entry["size"]])
                if len(part) != entry["size"] or hashlib.sha256(part).hexdigest() != entry["sha256"]:
                    raise VoiceError(f"voice bundle {origin}: part {entry['name']} fails its sha256 check")
                self.parts[entry["name"]] = part
            self.meta: dict[str, Any] = manifest["meta"]
            self.default: str = manifest["default"]
            self.notes: dict[str, Any] = manifest.get("notes", {})
            self.levels = {name: Level(**level) for name, level in manifest["levels"].items()}
            self.config = VoiceConfig.from_dict(json.loads(self.parts["config.json"]), origin)
        except VoiceError:
            raise
        except (KeyError, TypeError, ValueError, struct.error) as exc:
            raise VoiceError(f"voice bundle {origin} has a broken manifest: {exc!r}") from exc

    @classmethod
    def read(cls, path: Path) -> "Bundle":
        try:
            return cls(path.read_bytes(), str(path))
        except OSError as exc:
            raise VoiceError(f"cannot read voice bundle {path}: {exc.strerror}") from exc

    def level(self, quality: str | None = None) -> VoiceLevel:
        name = quality or self.default
        if name not in self.levels:
            raise VoiceError(f"voice bundle {self.origin} has no quality level {name!r} "
                             f"(it has: {', '.join(self.levels)})")
        level = self.levels[name]
        meta = self.meta
        split = SplitVoice(
            latent=self.parts[level.latent], flow=self.parts[level.flow], decoder=self.parts[level.decoder],
            channels=int(meta["channels"]), hop=int(meta["hop"]), flow_pad=int(meta["flow_pad"]),
            decoder_pad=int(meta["decoder_pad"]), multi_speaker=bool(meta["multi_speaker"]))
        compensation = None
        if level.compensation is not None:
            compensation = Compensation.from_dict(json.loads(self.parts[level.compensation]))
        return VoiceLevel(self.config, split, compensation, name)
