"""Voice bundles: one file with everything a voice needs at every quality level.

    b"EDGESAY\\x00" | format (uint32 LE) | manifest length (uint32 LE) | manifest JSON
    | part 1 (zstd frame) | part 2 (zstd frame) | ...

The manifest lists each part's offset, compressed and plain size, sha256 and filter, the split
metadata, and for each quality level which graphs and which compensation it uses (levels
share parts). Parts are compressed one by one so that loading a level decompresses and
hash-checks only its own parts (the FP32 graphs of `reference` are most of the file), and
they go to onnxruntime as bytes: no temporary files, so a bundle works from a read-only or
embedded location.

Format 2 adds "compression": "none" for parts stored as they are (the binary's embedded voice
keeps its small parts so: its payload is compressed anyway, and reading them then needs no
zstd at start-up), and one optional filter, "shuffle4": the part's bytes were regrouped by their
position in each 4-byte word before compression. FP32 weights have near-constant sign and
exponent bytes, which then sit together: the default voice's FP32 latent graph compresses
to 23.5 MB instead of 25.6. It is kept only where it makes the part smaller.

Format 3 adds parts made from another part when they are read ("made_from" and a "recipe" of
RECIPES, nothing stored): the FP16 forms of FP32 graphs, made once per machine, since the graph
cache keeps onnxruntime's optimized copy. Their sha256 names what preparation made (the level's
digest, the graph cache's key); the bytes are not checked against it when made again, because
another onnx version may serialize the same graph in another order (the part they are made from
is checked).
"""

import hashlib
import json
import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..dsp.compensation import Compensation
from ..errors import VoiceError
from ..system.files import PendingFile
from . import formats, levels
from .config import VoiceConfig
from .graphs import SplitVoice, StoredGraph

MAGIC = b"EDGESAY\x00"
FORMAT = formats.BUNDLE
OLDEST_FORMAT = formats.BUNDLE_OLDEST
SHUFFLE = "shuffle4"
# No part of a real voice comes near this (the largest Piper voices are about 120 MB in all):
# a manifest that says more is refused before anything is decompressed.
MAX_PART_BYTES = 256 << 20
_HEADER = struct.Struct("<8sI")
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class LevelParts:
    """One quality level of a voice: graph parts and an optional compensation part."""

    latent: str
    flow: str
    decoder: str  # the whole decoder, or its head if decoder_tail is set
    compensation: str | None = None
    decoder_tail: str | None = None

    @property
    def used(self) -> list[str]:
        """Every part it uses, in a fixed order (the level's digest hashes them in this order)."""
        return [part for part in (self.latent, self.flow, self.decoder, self.compensation, self.decoder_tail) if part]


@dataclass(frozen=True)
class BundleSpec:
    """What to pack: parts by name, levels over them, and which level is the default."""

    config: dict[str, Any]
    meta: dict[str, Any]
    parts: dict[str, bytes]
    levels: dict[str, LevelParts]
    default: str
    notes: dict[str, Any]
    made: dict[str, tuple[str, str]] = field(default_factory=dict)  # part -> (part it is made from, recipe)


def _half(graph: bytes) -> bytes:
    from .half import half_convolutions  # onnx is imported only when a graph is made

    return half_convolutions(graph)


FP16_CONVOLUTIONS = "fp16-convolutions"  # voice/half.py's rewrite, as a bundle names it
RECIPES: dict[str, Callable[[bytes], bytes]] = {FP16_CONVOLUTIONS: _half}


@dataclass(frozen=True)
class VoiceLevel:
    """A voice ready for the engine at one quality level."""

    config: VoiceConfig
    split: SplitVoice
    compensation: Compensation | None
    quality: str
    digest: str = ""  # names the level's content (sha256 over its parts' sha256s); "" if unknown
    gain: float = 1.0  # loudness: brings the voice's typical sentence peak to full scale, as Piper


def pack(spec: BundleSpec, path: Path, compression: int = 19) -> None:
    """Write `spec` to `path` atomically."""
    import zstandard

    if spec.default not in spec.levels:
        raise ValueError(f"default level {spec.default} is not one of {sorted(spec.levels)}")
    parts = dict(spec.parts)
    parts["config.json"] = json.dumps(spec.config, ensure_ascii=False).encode()
    for name, (source, recipe) in spec.made.items():
        if source not in parts or recipe not in RECIPES:
            raise ValueError(f"part {name} is made from {source} by {recipe}: no such part or recipe")
    for uses in spec.levels.values():
        for used in uses.used:
            if used not in parts and used not in spec.made:
                raise ValueError(f"level uses part {used}, which is not in the bundle")
    compressor = zstandard.ZstdCompressor(level=compression, threads=-1, write_checksum=True)
    entries, blobs = [], {}
    for name, data in parts.items():
        entry = {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        blobs[name] = _compress(compressor, data, entry)
        entries.append(entry)
    for name, (source, recipe) in spec.made.items():
        made = RECIPES[recipe](parts[source])
        entries.append({"name": name, "size": len(made), "sha256": hashlib.sha256(made).hexdigest(),
                        "made_from": source, "recipe": recipe})
        blobs[name] = b""
    _write(path, entries, blobs, {"meta": spec.meta, "default": spec.default,
                                  "levels": {name: vars(level) for name, level in spec.levels.items()},
                                  "notes": spec.notes})


def _compress(compressor: Any, data: bytes, entry: dict[str, Any], small_raw: bool = False) -> bytes:
    """The smaller of `data` compressed as it is and shuffled (then noted in `entry`);
    `small_raw`: parts other than graphs are stored uncompressed."""
    if small_raw and not entry["name"].endswith(".onnx"):
        entry["compression"] = "none"
        return data
    plain = compressor.compress(data)
    if not entry["name"].endswith(".onnx"):
        return plain
    shuffled = compressor.compress(shuffle(data))
    if len(shuffled) >= len(plain):
        return plain
    entry["filter"] = SHUFFLE
    return shuffled


def shuffle(data: bytes) -> bytes:
    """Byte k of every 4-byte word together, for k = 0..3; a ragged tail stays as it is."""
    whole = len(data) // 4 * 4
    return np.frombuffer(data, np.uint8, whole).reshape(-1, 4).T.tobytes() + data[whole:]


def unshuffle(data: bytes) -> bytes:
    whole = len(data) // 4 * 4
    return np.frombuffer(data, np.uint8, whole).reshape(4, -1).T.tobytes() + data[whole:]


def subset(source: "Bundle", levels: list[str], path: Path, recompress: bool = False,
           notes: dict[str, Any] | None = None) -> None:
    """Write a bundle with only `levels` and the parts they use, compressed parts copied as
    they are (`recompress`: packed again, with filters where they help and small parts raw).

    The binary embeds the default voice this way: without `reference`, whose FP32 graphs are
    most of the file."""
    unknown = [name for name in levels if name not in source.levels]
    if unknown or not levels:
        raise VoiceError(f"voice bundle {source.origin} has no level(s) {unknown or levels}")
    kept = {name: source.levels[name] for name in levels}
    used = ["config.json"] + [part for level in kept.values() for part in level.used]
    used += [made for name in used if (made := source._entry(name).get("made_from"))]  # what they are made from
    names = list(dict.fromkeys(used))
    kept_keys = ("name", "size", "sha256", "filter", "compression", "made_from", "recipe")
    entries = [{key: value for key, value in source._entry(name).items() if key in kept_keys} for name in names]
    if recompress:
        import zstandard

        compressor = zstandard.ZstdCompressor(level=19, threads=-1, write_checksum=True)
        for entry in entries:
            entry.pop("filter", None)
            entry.pop("compression", None)
        blobs = {entry["name"]: b"" if "made_from" in entry else
                 _compress(compressor, source.part(entry["name"]), entry, small_raw=True) for entry in entries}
    else:
        blobs = {name: source.stored(name) for name in names}
    default = source.default if source.default in kept else levels[0]
    _write(path, entries, blobs, {"meta": source.meta, "default": default,
                                  "levels": {name: vars(level) for name, level in kept.items()},
                                  "notes": {**source.notes, **(notes or {})}})


def _write(path: Path, entries: list[dict[str, Any]], blobs: dict[str, bytes], rest: dict[str, Any]) -> None:
    """Lay out the manifest (offsets follow the order of `entries`) and the parts, atomically."""
    offset = 0
    for entry in entries:
        entry["offset"], entry["stored"] = offset, len(blobs[entry["name"]])
        offset += entry["stored"]
    manifest = json.dumps({"format": FORMAT, "parts": entries, **rest}, indent=1).encode()
    with PendingFile(path) as pending, pending.tmp.open("wb") as out:
        out.write(_HEADER.pack(MAGIC, FORMAT) + _LENGTH.pack(len(manifest)) + manifest)
        for entry in entries:
            out.write(blobs[entry["name"]])


def compensation_part(compensation: Compensation) -> bytes:
    """A compensation as a bundle part (JSON; gains rounded to 4 decimals)."""
    return json.dumps({"format": formats.COMPENSATION, "sample_rate": compensation.sample_rate,
                       "band_range": list(compensation.band_range), "frame_range": list(compensation.frame_range),
                       "floor": compensation.floor, "shape": list(compensation.gains.shape),
                       "gains": np.round(compensation.gains.astype(np.float64), 4).ravel().tolist()}).encode()


def read_compensation(part: bytes) -> Compensation:
    raw = json.loads(part)
    if raw.get("format") not in (formats.COMPENSATION, formats.COMPENSATION_OLDEST):
        raise ValueError(f"compensation format {raw.get('format')} is not {formats.COMPENSATION}")
    gains = np.asarray(raw["gains"], dtype=np.float32).reshape(raw["shape"])
    floor = float(raw.get("floor", 1e-5))  # format 1: HiFi-GAN's floor
    if not 0 < floor < 1:
        raise ValueError(f"compensation floor {floor} is out of range")
    return Compensation(int(raw["sample_rate"]), tuple(raw["band_range"]), tuple(raw["frame_range"]), gains, floor)


class Bundle:
    """A bundle's manifest, with its parts read, decompressed and checked on demand."""

    def __init__(self, data: bytes | mmap.mmap, origin: str) -> None:
        self.origin = origin
        self._data = data
        if len(data) < _HEADER.size:
            raise VoiceError(f"voice bundle {origin} is truncated ({len(data)} bytes)")
        magic, version = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise VoiceError(f"{origin} is not an edgesay voice bundle")
        if version > FORMAT:
            raise VoiceError(f"voice bundle {origin} has format {version}; this edgesay reads format {FORMAT} "
                             "and older: upgrade edgesay or rebuild the bundle")
        if version < OLDEST_FORMAT:
            raise VoiceError(f"voice bundle {origin} has old format {version}; rebuild it with `just models`")
        start = _HEADER.size + _LENGTH.size
        if len(data) < start:
            raise VoiceError(f"voice bundle {origin} is truncated ({len(data)} bytes)")
        try:
            (length,) = _LENGTH.unpack_from(data, _HEADER.size)
            if start + length > len(data):
                raise VoiceError(f"voice bundle {origin} is truncated (in its manifest)")
            manifest = json.loads(bytes(data[start:start + length]))
            self._body = start + length
            self._entries = {entry["name"]: entry for entry in manifest["parts"]}
            self.meta: dict[str, Any] = manifest["meta"]
            self.default: str = manifest["default"]
            self.notes: dict[str, Any] = manifest.get("notes", {})
            self.levels = {name: LevelParts(**level) for name, level in manifest["levels"].items()}
            last = max(e["offset"] + e["stored"] for e in self._entries.values())
            huge = [e["name"] for e in self._entries.values() if not 0 <= int(e["size"]) <= MAX_PART_BYTES]
        except VoiceError:
            raise
        except (KeyError, TypeError, ValueError, struct.error) as exc:
            # A decoding error's repr quotes the whole manifest: name the byte instead, one short line.
            detail = f"not UTF-8 at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else repr(exc)[:200]
            raise VoiceError(f"voice bundle {origin} has a broken manifest: {detail}") from exc
        if huge:
            raise VoiceError(f"voice bundle {origin}: part {huge[0]} claims more than {MAX_PART_BYTES >> 20} MB; "
                             "refused (no voice needs that much)")
        if self._body + last > len(data):
            raise VoiceError(f"voice bundle {origin} is truncated ({len(data)} bytes, "
                             f"its manifest needs {self._body + last})")
        try:
            self.raw_config: dict[str, Any] = json.loads(self.part("config.json"))  # the .onnx.json
        except ValueError as exc:
            raise VoiceError(f"voice bundle {origin} has a config that is not JSON: {exc}") from exc
        self.config = VoiceConfig.from_dict(self.raw_config, origin)

    @classmethod
    def read(cls, path: Path, origin: str | None = None) -> "Bundle":
        """Map the file (pages are read as parts are needed, and can be dropped again).
        `origin` names it in errors (default: its path)."""
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except OSError as exc:
            raise VoiceError(f"cannot read voice bundle {path}: {exc.strerror}") from exc
        return cls(data, origin or str(path))

    def _entry(self, name: str) -> dict[str, Any]:
        entry = self._entries.get(name)
        if entry is None:
            raise VoiceError(f"voice bundle {self.origin} has no part {name}")
        return entry

    def stored(self, name: str) -> bytes:
        """A part as stored: one zstd frame, or the bytes themselves (compression "none")."""
        entry = self._entry(name)
        start = self._body + entry["offset"]
        return self._data[start:start + entry["stored"]]

    def part(self, name: str) -> bytes:
        """A part, decompressed and checked against its sha256, or made from the part it is made from."""
        entry = self._entry(name)
        if "made_from" in entry:
            return self._made(name, entry)
        data = bytes(self.stored(name)) if entry.get("compression") == "none" else self._decompress(name, entry)
        if entry.get("filter") == SHUFFLE:
            data = unshuffle(data)
        elif entry.get("filter") is not None:
            raise VoiceError(f"voice bundle {self.origin}: part {name} has an unknown filter {entry['filter']!r}")
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise VoiceError(f"voice bundle {self.origin}: part {name} fails its sha256 check")
        return data

    def _made(self, name: str, entry: dict[str, Any]) -> bytes:
        recipe, source = RECIPES.get(entry.get("recipe", "")), entry["made_from"]
        if recipe is None or "made_from" in self._entry(source):
            raise VoiceError(f"voice bundle {self.origin}: part {name} is made from {source} by "
                             f"{entry.get('recipe')!r}, which this edgesay cannot make: upgrade edgesay")
        try:
            return recipe(self.part(source))
        except Exception as exc:  # protobuf's DecodeError, onnx's own: not a graph the recipe can rewrite
            raise VoiceError(f"voice bundle {self.origin}: part {name} cannot be made from {source}: {exc}") from exc

    def _decompress(self, name: str, entry: dict[str, Any]) -> bytes:
        """Decompressed, after checking that the frame says the size the manifest says, so a
        decompression bomb is refused before memory is allocated for it."""
        import zstandard

        stored = self.stored(name)
        try:
            declared = zstandard.frame_content_size(stored)
        except zstandard.ZstdError as exc:
            raise VoiceError(f"voice bundle {self.origin}: part {name} is corrupt ({exc})") from exc
        if declared != entry["size"]:
            raise VoiceError(f"voice bundle {self.origin}: part {name} is corrupt (its frame holds {declared} "
                             f"bytes, its manifest says {entry['size']})")
        try:
            return zstandard.ZstdDecompressor().decompress(stored, max_output_size=entry["size"])
        except zstandard.ZstdError as exc:
            raise VoiceError(f"voice bundle {self.origin}: part {name} is corrupt ({exc})") from exc

    def graph(self, name: str) -> StoredGraph:
        """A graph part, to be read only if onnxruntime has no optimized copy of it cached."""
        return StoredGraph(name, str(self._entry(name)["sha256"]), partial(self.part, name))

    def level(self, quality: str | None = None) -> VoiceLevel:
        name = quality or self.cpu_default
        if name not in self.levels:
            raise VoiceError(f"voice bundle {self.origin} has no quality level {name!r} "
                             f"(it has: {', '.join(self.levels)})")
        level = self.levels[name]
        try:
            tail = None if level.decoder_tail is None else self.graph(level.decoder_tail)
            split = SplitVoice.from_meta(self.graph(level.latent), self.graph(level.flow),
                                         self.graph(level.decoder), self.meta, tail)
            compensation = None
            if level.compensation is not None:
                compensation = read_compensation(self.part(level.compensation))
        except (KeyError, TypeError, ValueError) as exc:
            raise VoiceError(f"voice bundle {self.origin} has a broken level {name}: {exc!r}") from exc
        digest = hashlib.sha256(" ".join(self._entries[part]["sha256"] for part in level.used).encode())
        return VoiceLevel(self.config, split, compensation, name, digest.hexdigest()[:16], self.level_gain(name))

    @property
    def cpu_default(self) -> str:
        """The level this voice speaks at on this CPU unless told otherwise."""
        return levels.here(self.levels, self.default)

    def level_gain(self, name: str) -> float:
        """The loudness gain of level `name`: the voice's, times what makes that level as loud
        as FP32 (a quantized decoder is a little quieter; 1.0 in bundles made before that)."""
        try:
            extra = float(self.meta.get("level_gains", {}).get(name, 1.0))
        except (AttributeError, TypeError, ValueError):
            raise VoiceError(f"voice bundle {self.origin} has a broken level gain") from None
        if not 0.5 <= extra <= 2.0:
            raise VoiceError(f"voice bundle {self.origin} has a level gain of {extra} for {name}, out of range")
        return self.gain * extra

    @property
    def gain(self) -> float:
        """The voice's loudness gain (dsp.loudness.voice_gain), 1.0 in bundles made before it."""
        try:
            gain = float(self.meta.get("gain", 1.0))
        except (TypeError, ValueError):
            raise VoiceError(f"voice bundle {self.origin} has a broken gain") from None
        if not 0.01 <= gain <= 100:
            raise VoiceError(f"voice bundle {self.origin} has a gain of {gain}, out of range")
        return gain
