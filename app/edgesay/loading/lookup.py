"""Finding voices: the embedded default, a path, or a name in the voice folders."""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import VoiceError
from ..system import paths
from ..voice.bundle import Bundle
from ..voice.files import ONNX_SUFFIX, SUFFIX, VoiceFiles, config_beside


def voice_dirs() -> list[Path]:
    extra = os.environ.get("EDGESAY_VOICE_DIR")
    data = os.environ.get("XDG_DATA_HOME", "")
    user_home = paths.home()
    shared = Path(data) if data.startswith("/") else user_home / ".local" / "share" if user_home else None
    return ([Path(extra)] if extra else []) + [Path.cwd()] + ([shared / "edgesay" / "voices"] if shared else [])


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
    language: str  # the espeak-ng voice, e.g. "en-us"
    default: bool = False  # the built-in voice (what --voice without a value, or None, loads)
    quality: str = "?"  # Piper's quality name: x_low, low, medium, high
    speaker_names: tuple[str, ...] = ()  # in speaker id order
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the .onnx.json

    @property
    def language_code(self) -> str:
        """Piper's language code ("en_US"), what Home Assistant matches; else the espeak-ng voice."""
        language = self.config.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        return str(code) if code else self.language

    @property
    def phoneme_type(self) -> str:
        return str(self.config.get("phoneme_type", "espeak"))


def _from_config(raw: Mapping[str, Any], name: str, path: Path, default: bool) -> VoiceInfo:
    names = raw.get("speaker_id_map") or {}
    return VoiceInfo(name, path, int(raw["audio"]["sample_rate"]), int(raw.get("num_speakers", 1)),
                     str(raw.get("espeak", {}).get("voice", "?")), default,
                     str(raw["audio"].get("quality", "?")),
                     tuple(sorted(names, key=lambda n: int(names[n]))), raw)


def _info(model: Path, name: str, default: bool = False) -> VoiceInfo | None:
    try:
        return _from_config(json.loads(config_beside(model).read_text(encoding="utf-8")), name, model, default)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _bundle_info(path: Path, name: str, default: bool = False) -> VoiceInfo | None:
    try:
        return _from_config(Bundle.read(path).raw_config, name, path, default)
    except (VoiceError, ValueError, KeyError, TypeError, AttributeError):
        return None


def voice_info(path: Path, name: str) -> VoiceInfo:
    """What a voice file says of itself (a Piper .onnx with its config, or a bundle)."""
    info = _bundle_info(path, name) if path.suffix == SUFFIX else _info(path, name)
    if info is None:
        raise VoiceError(f"voice {path} has no readable config")
    return info


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
