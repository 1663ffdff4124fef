"""A Piper voice's own configuration (its .onnx.json), apart from per-call settings."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, VoiceError
from ..text.espeak import Espeak
from ..text.frontend import ESPEAK, PHONEME_TYPES, Frontend
from .limits import LENGTH_SCALE, NOISE_SCALE, NOISE_W, SENTENCE_SILENCE, VOLUME


def is_speaker_number(text: str) -> bool:
    """ASCII digits only, and few: "²" is a digit to str.isdigit but not to int(), and a
    5,000-digit id is past Python's integer parsing limit."""
    return text.isascii() and text.isdigit() and len(text) <= 9


@dataclass(frozen=True)
class VoiceConfig:
    """What the voice's .onnx.json says; read once when the voice loads."""

    sample_rate: int  # Hz
    espeak_voice: str  # e.g. "en-us"
    phoneme_id_map: Mapping[str, tuple[int, ...]]
    num_speakers: int
    speaker_id_map: Mapping[str, int]
    noise_scale: float
    length_scale: float
    noise_w: float
    hop_length: int = 256  # audio samples per latent frame
    name: str = ""
    vowel_clusters: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    phoneme_type: str = ESPEAK  # ESPEAK or TEXT (Piper's other types need their own phonemizers)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], name: str = "") -> "VoiceConfig":
        try:
            inference = raw.get("inference", {})
            config = cls(
                sample_rate=int(raw["audio"]["sample_rate"]),
                espeak_voice=str(raw.get("espeak", {}).get("voice", "en-us")),
                phoneme_id_map={str(k): tuple(int(i) for i in v) for k, v in raw["phoneme_id_map"].items()},
                num_speakers=int(raw.get("num_speakers", 1)),
                speaker_id_map={str(k): int(v) for k, v in raw.get("speaker_id_map", {}).items()},
                noise_scale=float(inference.get("noise_scale", 0.667)),
                length_scale=float(inference.get("length_scale", 1.0)),
                noise_w=float(inference.get("noise_w", 0.8)),
                hop_length=int(raw.get("hop_length", 256)),
                name=name,
                vowel_clusters=frozenset(tuple(c) for c in raw.get("vowel_clusters", [])),
                phoneme_type=str(raw.get("phoneme_type", ESPEAK)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VoiceError(f"voice config {name or '?'} is missing or has a bad field: {exc}") from exc
        if config.phoneme_type not in PHONEME_TYPES:
            raise VoiceError(f"voice config {name}: phoneme_type {config.phoneme_type!r} needs a phonemizer edgesay "
                             f"does not have (it reads {' and '.join(PHONEME_TYPES)} voices)")
        for key in ("^", "$", "_"):
            if key not in config.phoneme_id_map:
                raise VoiceError(f"voice config {name}: phoneme_id_map has no {key!r}")
        if config.num_speakers < 1:
            raise VoiceError(f"voice config {name}: num_speakers must be at least 1")
        return config

    def speaker_id(self, speaker: str | int | None) -> int | None:
        """A speaker given by name or id (as text from a flag or a request) as its id."""
        if isinstance(speaker, str) and not is_speaker_number(speaker):
            if speaker not in self.speaker_id_map:
                names = ", ".join(self.speaker_id_map) or "none: it has one speaker"
                raise InputError(f"the voice has no speaker named {speaker!r} (it has {names})")
            return self.speaker_id_map[speaker]
        return int(speaker) if speaker is not None else None

    def frontend(self, espeak: Espeak) -> Frontend:
        """Text to this voice's phoneme ids."""
        return Frontend(espeak, self.espeak_voice, self.phoneme_id_map, self.vowel_clusters, self.phoneme_type)

    @classmethod
    def from_file(cls, path: Path) -> "VoiceConfig":
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise VoiceError(f"voice config {path} does not exist") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise VoiceError(f"voice config {path} is not readable JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise VoiceError(f"voice config {path} is not a JSON object")
        return cls.from_dict(raw, name=str(path))


@dataclass(frozen=True)
class SynthesisSettings:
    """Per-call choices; None means "what the voice's config says"."""

    speaker_id: int | None = None
    length_scale: float | None = None  # > 1 is slower speech
    noise_scale: float | None = None  # generator noise
    noise_w: float | None = None  # phoneme width noise
    sentence_silence: float = 0.0  # seconds of silence after each sentence
    volume: float = 1.0  # linear gain before conversion to 16-bit
    # As loud as Piper (its per-sentence peak normalization, as one gain per voice and a limiter);
    # off: the model's own level, as `--no-normalize` in Piper.
    normalize: bool = True

    def check(self) -> None:
        """Every value that is set within its range (voice.limits); InputError names the first
        that is not."""
        for bound, value in ((LENGTH_SCALE, self.length_scale), (NOISE_SCALE, self.noise_scale),
                             (NOISE_W, self.noise_w), (SENTENCE_SILENCE, self.sentence_silence),
                             (VOLUME, self.volume)):
            if value is not None:
                bound.check(value)

    def scales(self, voice: VoiceConfig) -> tuple[float, float, float]:
        """(noise_scale, length_scale, noise_w), with the voice's defaults filled in."""
        self.check()
        return (
            voice.noise_scale if self.noise_scale is None else self.noise_scale,
            voice.length_scale if self.length_scale is None else self.length_scale,
            voice.noise_w if self.noise_w is None else self.noise_w,
        )

    def speaker(self, voice: VoiceConfig) -> int | None:
        """The speaker id to pass, or None for a single-speaker voice."""
        if voice.num_speakers <= 1:
            return None
        sid = 0 if self.speaker_id is None else self.speaker_id
        if not 0 <= sid < voice.num_speakers:
            raise InputError(f"speaker {sid} is out of range: this voice has {voice.num_speakers} speakers")
        return sid
