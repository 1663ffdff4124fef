"""espeak-ng's data for a voice: English in place, every other language unpacked on first use.

The package carries English uncompressed (`data/espeak-ng-data/`, read where it is) and every
other language compressed (`data/espeak-ng-languages/`, made by models/espeak_data.py). A voice
in another language gets a full data directory in the cache: the shared phoneme tables, every
language's voice definition, and only the dictionaries of the languages used so far, each
unpacked once when its first voice loads. Nothing is ever half-written under its final name:
each piece is unpacked beside it and renamed into place.
"""

import hashlib
import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from ..errors import PhonemizerError, VoiceError

# What every language shares, copied from the English directory into the full one.
SHARED_FILES = ("phontab", "phonindex", "phondata", "intonations", "en_dict")
VOICES_ARCHIVE = "voices.tar.zst"
_READY = "edgesay-ready"  # written last into a full directory: its base is complete


def is_english(voice: str) -> bool:
    """Whether an espeak-ng voice name is English (en, en-us, en-gb-x-rp, ...)."""
    name = voice.lower().split("+")[0]
    return name == "en" or name.startswith("en-")


@dataclass(frozen=True)
class VoiceDefinition:
    """One file of espeak-ng's lang/ folder, as far as choosing its dictionary goes."""

    identifier: str  # its path under lang/, e.g. "roa/pt-BR"
    name: str  # e.g. "Portuguese (Brazil)"
    languages: tuple[tuple[str, int], ...]  # (code, priority), in file order
    dictionary: str  # the dictionary it loads: its `dictionary` line, else its first language before "-"

    @classmethod
    def read(cls, path: Path, identifier: str) -> "VoiceDefinition":
        name, languages, dictionary = "", [], ""
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split("//")[0].split()
            if len(words) >= 2 and words[0] == "name":
                name = " ".join(words[1:])
            elif len(words) >= 2 and words[0] == "language":
                languages.append((words[1].lower(), int(words[2]) if len(words) > 2 and words[2].isdigit() else 5))
            elif len(words) >= 2 and words[0] == "dictionary":
                dictionary = words[1]
        first = languages[0][0] if languages else identifier.rsplit("/", 1)[-1].lower()
        return cls(identifier, name, tuple(languages), dictionary or first.split("-")[0])


def find_definition(definitions: list[VoiceDefinition], voice: str) -> VoiceDefinition | None:
    """The definition espeak-ng's SetVoiceByName picks for `voice`: by name, by file, then
    by language (exact code, then the code without its region), lowest priority number first."""
    wanted = voice.lower().split("+")[0]
    for matches in (lambda d: d.name.lower() == wanted,
                    lambda d: d.identifier.lower() == wanted,
                    lambda d: d.identifier.rsplit("/", 1)[-1].lower() == wanted):
        found = [d for d in definitions if matches(d)]
        if found:
            return found[0]
    for code in dict.fromkeys((wanted, wanted.split("-")[0])):
        ranked = sorted((p, d.identifier, d) for d in definitions for c, p in d.languages if c == code)
        if ranked:
            return ranked[0][2]
    return None


@dataclass
class EspeakData:
    """Where espeak-ng finds its data for a voice (`directory`)."""

    english: Path  # English only, read in place
    languages: Path | None  # the compressed other languages; None: `english` has them all
    cache: Path  # where the full directory is made
    _definitions: list[VoiceDefinition] = field(default_factory=list)
    _ready: dict[str, Path] = field(default_factory=dict)  # voices served already: no more file checks

    def full(self, languages: Path) -> Path:
        """The full directory of this package's data (named by its manifest: a newer edgesay
        with other data unpacks beside it, never over it)."""
        manifest = (languages / "manifest.json").read_bytes()
        return self.cache / "espeak-ng" / hashlib.sha256(manifest).hexdigest()[:16]

    def directory(self, voice: str) -> Path:
        """A data directory that serves `voice`, made now if needed."""
        languages = self.languages
        if languages is None or is_english(voice):
            return self.english
        if voice in self._ready:
            return self._ready[voice]
        full = self.full(languages)
        try:
            self._unpack_base(languages, full)
            definition = find_definition(self.definitions(full), voice)
            if definition is None:
                raise VoiceError(f"espeak-ng has no voice or language named {voice!r}")
            self._unpack_dictionary(languages, full, definition)
        except OSError as exc:
            raise VoiceError(f"cannot unpack espeak-ng's data for {voice!r} into {full}: "
                             f"{exc.strerror or exc}") from exc
        self._ready[voice] = full
        return full

    def definitions(self, full: Path) -> list[VoiceDefinition]:
        if not self._definitions:
            lang = full / "lang"
            self._definitions = [VoiceDefinition.read(p, str(p.relative_to(lang)))
                                 for p in sorted(lang.rglob("*")) if p.is_file()]
        return self._definitions

    def _unpack_base(self, languages: Path, full: Path) -> None:
        if (full / _READY).is_file():
            return
        full.parent.mkdir(parents=True, exist_ok=True)
        partial = full.parent / f".{full.name}.{os.getpid()}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir()
            for name in SHARED_FILES:
                shutil.copyfile(self.english / name, partial / name)
            with (open(languages / VOICES_ARCHIVE, "rb") as packed,
                  zstandard.ZstdDecompressor().stream_reader(packed) as stream,
                  tarfile.open(fileobj=stream, mode="r|") as tar):
                _extract(tar, partial)
            (partial / _READY).write_text("")
            try:
                partial.rename(full)
            except OSError:
                if not (full / _READY).is_file():  # not another process that was quicker
                    shutil.rmtree(full, ignore_errors=True)
                    partial.rename(full)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _unpack_dictionary(self, languages: Path, full: Path, definition: VoiceDefinition) -> None:
        name = f"{definition.dictionary}_dict"
        target = full / name
        if target.is_file():
            return
        packed = languages / f"{name}.zst"
        entry = json.loads((languages / "manifest.json").read_text())["files"].get(f"{name}.zst")
        if entry is None or not packed.is_file():
            raise VoiceError(f"espeak-ng voice {definition.identifier} needs dictionary {name}, which Piper's "
                             "espeak-ng data (and so edgesay) does not have")
        raw = zstandard.ZstdDecompressor().decompress(packed.read_bytes(), max_output_size=entry["bytes"])
        if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise PhonemizerError(f"espeak-ng dictionary {packed} is corrupt (sha256 mismatch)")
        partial = full / f".{name}.{os.getpid()}.partial"
        try:
            partial.write_bytes(raw)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)


def _extract(tar: tarfile.TarFile, target: Path) -> None:
    """Plain files and folders only, inside `target`. (tarfile's own `filter="data"` does this
    too, but only from Python 3.11.4; the aarch64 binary's Python is Debian's 3.11.2.)"""
    options: dict[str, str] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    for member in tar:
        parts = Path(member.name).parts
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
            raise PhonemizerError(f"espeak-ng's voice archive has an unexpected entry {member.name!r}")
        tar.extract(member, target, **options)  # type: ignore[arg-type]
