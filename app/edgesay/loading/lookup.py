"""Finding voices: the embedded default, a path, or a name in the voice folders."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import VoiceError
from ..system import paths
from ..voice.bundle import Bundle
from ..voice.files import ONNX_SUFFIX, SUFFIX, VoiceFiles, config_beside


def voice_dirs() -> list[Path]:
    extra = os.environ.get("EDGESAY_VOICE_DIR")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return [Path(p) for p in ([extra] if extra else [])] + [Path.cwd(), Path(data) / "edgesay" / "voices"]


def resolve(voice: str | None, config: str | None = None) -> VoiceFiles | None:
    """--voice accepts nothing (the default voice: None), a path to a .onnx or .edgesay,
    or a voice name (a bundle of that name wins over a Piper .onnx)."""
    if not voice or voice == paths.DEFAULT_VOICE:
        return None if not config else VoiceFiles(VoiceFiles.default().model, Path(config))
    path = Path(voice)
    if path.suffix not in (ONNX_SUFFIX, SUFFIX) and not path.exists():
        found = [d / f"{voice}{ext}" for d in voice_dirs() for ext in (SUFFIX, ONNX_SUFFIX)
                 if (d / f"{voice}{ext}").is_file()]
        if not found:
            searched = ", ".join(str(d) for d in voice_dirs())
            raise VoiceError(f"no voice named {voice!r} (looked in {searched})")
        path = found[0]
    if not path.is_file():
        raise VoiceError(f"voice model {path} does not exist")
    return VoiceFiles.from_model(path, Path(config) if config else None)


@dataclass(frozen=True)
class VoiceInfo:
    name: str
    path: Path
    sample_rate: int  # Hz
    speakers: int
    language: str
    default: bool = False  # the built-in voice (what --voice without a value, or None, loads)


def _info(model: Path, name: str, default: bool = False) -> VoiceInfo | None:
    try:
        raw = json.loads(config_beside(model).read_text(encoding="utf-8"))
        return VoiceInfo(name, model, int(raw["audio"]["sample_rate"]), int(raw.get("num_speakers", 1)),
                         str(raw.get("espeak", {}).get("voice", "?")), default)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _bundle_info(path: Path, name: str, default: bool = False) -> VoiceInfo | None:
    try:
        config = Bundle.read(path).config
    except VoiceError:
        return None
    return VoiceInfo(name, path, config.sample_rate, config.num_speakers, config.espeak_voice, default)


def list_voices() -> list[VoiceInfo]:
    # The embedded bundle when there is one (always in the binary, which has no Piper package).
    embedded = paths.embedded_bundle()
    default = (_bundle_info(embedded, paths.DEFAULT_VOICE, default=True) if embedded
               else _info(VoiceFiles.default().model, paths.DEFAULT_VOICE, default=True))
    voices = [default] if default else []
    for folder in voice_dirs():
        if folder.is_dir():
            voices += [v for m in sorted(folder.glob(f"*{ONNX_SUFFIX}")) if (v := _info(m, m.stem))]
            voices += [v for m in sorted(folder.glob(f"*{SUFFIX}")) if (v := _bundle_info(m, m.stem))]
    return voices
