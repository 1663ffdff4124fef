"""The Mel gain compensation as a streaming filter, on synthetic signals (fast)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesay.dsp.compensation import Compensation, Compensator, calibrate
from edgesay.dsp.metrics import compare
from edgesay.system.pool import BufferPool
from edgesay.voice.bundle import compensation_part, read_compensation

RATE = 22050


def _stream(compensation: Compensation, audio: np.ndarray, sizes: list[int], capacity: int = 30000) -> np.ndarray:
    compensator = Compensator(compensation, BufferPool(), capacity)
    out, position = [], 0
    for size in sizes:
        out.append(compensator.process(audio[position:position + size]).copy())
        position += size
    out.append(compensator.process(audio[position:]).copy())
    out.append(compensator.finish().copy())
    return np.concatenate(out)


def _flat(gain: float = 0.0) -> Compensation:
    return Compensation(RATE, (-12.0, 4.0), (-11.0, 0.0), np.full((80, 33, 12), gain, np.float32))


@given(st.lists(st.integers(0, 9000), max_size=6), st.integers(1, 20000))
@settings(max_examples=40, deadline=None)
def test_unit_gain_gives_back_the_input_for_any_chunking(sizes: list[int], length: int) -> None:
    audio = np.random.default_rng(length).standard_normal(length).astype(np.float32) * 0.1
    sizes = [s for s in sizes if s]
    total = 0
    kept = []
    for size in sizes:  # stay inside the signal
        if total + size <= length:
            kept.append(size)
            total += size
    out = _stream(_flat(), audio, kept)
    assert len(out) == length
    assert np.abs(out - audio).max() < 1e-5


def test_output_does_not_depend_on_chunking() -> None:
    rng = np.random.default_rng(3)
    compensation = Compensation(RATE, (-12.0, 4.0), (-11.0, 0.0),
                                -np.abs(rng.standard_normal((80, 33, 12))).astype(np.float32))
    audio = rng.standard_normal(40000).astype(np.float32) * np.linspace(0, 0.3, 40000, dtype=np.float32)
    whole = _stream(compensation, audio, [], capacity=40000)
    pieces = _stream(compensation, audio, [8192, 26624])
    assert len(whole) == len(pieces) == len(audio)
    assert np.abs(whole - pieces).max() < 1e-5
    assert np.abs(whole - audio).max() > 1e-3  # the gains did something


def test_a_chunk_larger_than_the_buffers_is_refused() -> None:
    with pytest.raises(ValueError, match="larger than"):
        Compensator(_flat(), BufferPool(), 1000).process(np.zeros(5000, np.float32))


def _voiced(length: int, rng: np.random.Generator) -> np.ndarray:
    """Bursts of harmonics separated by silence: speech-like levels, real pauses."""
    t = np.arange(length) / RATE
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    gate = (np.sin(2 * np.pi * 1.3 * t + rng.uniform(0, 6)) > 0.2).astype(np.float32)
    return (0.2 * tone * gate).astype(np.float32)


def _noisy_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(clean, clean with a white noise floor): the quantized decoder's hiss, in miniature."""
    clean = _voiced(RATE * 2, rng)
    return clean, clean + rng.standard_normal(clean.shape).astype(np.float32) * 3e-3


def test_calibrated_compensation_removes_an_added_noise_floor() -> None:
    rng = np.random.default_rng(0)
    compensation = calibrate([_noisy_pair(rng) for _ in range(6)], RATE)
    clean, noisy = _noisy_pair(rng)
    before = compare(clean, noisy, RATE)
    after = compare(clean, _stream(compensation, noisy, [5000, 10000]), RATE)
    assert before.floor_rise_db > 20
    assert after.floor_rise_db < before.floor_rise_db / 2
    assert after.log_mel_l1 < before.log_mel_l1 / 2


def test_the_closed_fit_comes_closer_than_the_open_one() -> None:
    # A gain asked of a band is not all applied (shared bins, overlap-add): refitting what is
    # still wrong after compensating the calibration audio must help on audio it never saw.
    rng = np.random.default_rng(0)
    calibration, unseen = [_noisy_pair(rng) for _ in range(6)], [_noisy_pair(rng) for _ in range(4)]

    def error(compensation: Compensation) -> float:
        return float(np.mean([compare(clean, _stream(compensation, noisy, [5000, 10000], capacity=50000),
                                      RATE).log_mel_l1 for clean, noisy in unseen]))

    open_fit = error(calibrate(calibration, RATE, refinements=0))
    closed_fit = error(calibrate(calibration, RATE))
    assert closed_fit < 0.92 * open_fit, (open_fit, closed_fit)  # measured: 0.307 -> 0.265


def test_round_trips_through_its_stored_form() -> None:
    compensation = calibrate([(np.ones(4096, np.float32) * 0.1, np.ones(4096, np.float32) * 0.2)], RATE)
    again = read_compensation(compensation_part(compensation))
    assert np.allclose(again.gains, compensation.gains, atol=1e-4)
    assert again.band_range == compensation.band_range
    assert again.floor == compensation.floor == 1e-8


def test_a_compensation_of_format_1_reads_with_hifigans_floor() -> None:
    # Bundles prepared before the floor was stored fitted and read their levels at 1e-5.
    import json

    compensation = calibrate([(np.ones(4096, np.float32) * 0.1, np.ones(4096, np.float32) * 0.2)], RATE)
    raw = json.loads(compensation_part(compensation))
    raw["format"] = 1
    del raw["floor"]
    assert read_compensation(json.dumps(raw).encode()).floor == 1e-5
    raw["format"], raw["floor"] = 2, 0.0
    with pytest.raises(ValueError):
        read_compensation(json.dumps(raw).encode())
