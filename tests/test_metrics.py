"""The quality measures themselves (dsp/metrics.py), on signals whose answer is known."""

import math

import numpy as np

from edgesay.dsp.metrics import compare, mean

RATE = 22050


def _speech_with_pauses(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(loud tone, quiet tone 35 dB down, silence) in 60/25/15 % of the time."""
    t = np.arange(RATE * 2) / RATE
    loud = 0.5 * np.sin(2 * np.pi * 220 * t[: int(RATE * 1.2)])
    quiet = 0.5 * 10 ** (-35 / 20) * np.sin(2 * np.pi * 330 * t[: int(RATE * 0.5)])
    silence = np.zeros(int(RATE * 0.3))
    return np.concatenate([loud, quiet, silence]).astype(np.float32), silence


def test_silent_frames_are_the_pauses_and_hiss_there_shows_in_full() -> None:
    rng = np.random.default_rng(0)
    clean, silence = _speech_with_pauses(rng)
    hissy = clean.copy()
    hissy[-len(silence):] += (rng.standard_normal(len(silence)) * 1e-3).astype(np.float32)
    same = compare(clean, clean, RATE)
    assert same.silent_rise_db == 0.0 and same.floor_rise_db == 0.0
    # About the last 0.3 s of frames (hop 256, centred frames reach a little into the quiet tone).
    assert abs(same.silent_frames - 0.3 * RATE / 256) <= 3, same
    result = compare(clean, hissy, RATE)
    assert result.silent_rise_db > 30, result  # hiss where the reference is silent
    # The quietest fifth also holds quiet speech, which did not change: it shows less.
    assert result.floor_rise_db < result.silent_rise_db - 5, result


def test_no_silent_frames_is_nan_and_averages_skip_it() -> None:
    t = np.arange(RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    none = compare(tone, tone, RATE)
    assert none.silent_frames == 0 and math.isnan(none.silent_rise_db)
    clean, _ = _speech_with_pauses(np.random.default_rng(1))
    some = compare(clean, clean * 2, RATE)
    both = mean([none, some])
    assert both.silent_rise_db == some.silent_rise_db and both.silent_frames == some.silent_frames
