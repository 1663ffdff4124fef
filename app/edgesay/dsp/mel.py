"""Short-time spectra and Mel filterbanks, in numpy (no librosa/scipy on the device).

The layout matches HiFi-GAN's training features: Hann window, n_fft 1024, hop 256, and
a Slaney-style Mel filterbank, so "a band" means the same thing the vocoder was trained on.
"""

from functools import lru_cache

import numpy as np

N_FFT = 1024
HOP = 256
BANDS = 80


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    # Slaney: linear below 1 kHz, logarithmic above.
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, mel)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, hz)


@lru_cache(maxsize=8)
def filterbank(sample_rate: int, n_fft: int = N_FFT, bands: int = BANDS) -> np.ndarray:
    """(bands, n_fft // 2 + 1) triangular filters, area-normalized (Slaney)."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), bands + 2))
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:, None] - edges[1:-1, None])
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    weights.setflags(write=False)
    return weights.astype(np.float32)


@lru_cache(maxsize=4)
def hann(n_fft: int = N_FFT) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic, as torch.hann_window
    window.setflags(write=False)
    return window


def frames(audio: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(count, n_fft) windowed frames of `audio`, centred (reflect-padded) like torch.stft."""
    padded = np.pad(audio.astype(np.float32), n_fft // 2, mode="reflect")
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop] * hann(n_fft)


def log_mel(audio: np.ndarray, sample_rate: int, bands: int = BANDS, floor: float = 1e-5) -> np.ndarray:
    """(frames, bands) natural-log Mel magnitudes, floored at 1e-5 as in HiFi-GAN (or `floor`)."""
    magnitude = np.abs(np.fft.rfft(frames(audio), axis=1))
    return np.log(np.maximum(magnitude @ filterbank(sample_rate, N_FFT, bands).T, floor))
