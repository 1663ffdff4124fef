"""Mel-domain gain compensation of quantization error.

An INT8 decoder adds an error that is heard as a hiss floor: 8-bit activations in the
high-rate layers have a fixed step, so quiet passages get a noise floor that the FP32
voice does not have. The error is not random in the Mel domain, though: how much a band
is too loud depends on how loud the band is and how loud the whole frame is. Calibration
measures that, per band, from FP32 and INT8 renditions of the same latent frames (they
are sample-aligned, so frame t of one is frame t of the other), and stores the median
log-gain that takes INT8 to FP32 on a grid of (band level, frame level). At run time each
frame's gains are read off that grid (bilinear), spread from bands to FFT bins, applied to
the short-time spectrum and overlap-added back: a streaming filter with a fixed delay.

A gain asked of a band is not quite the gain it gets: neighbouring bands share FFT bins, and
overlap-add mixes each frame with its neighbours, which the grid gives other gains. So the fit
is closed: the calibration audio is compensated with the grid, what is still wrong per cell is
fitted the same way and added, a few times over.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..system.pool import BufferPool
from .mel import HOP, N_FFT, filterbank, hann, log_mel

MIN_COUNT = 3  # fewer observations than this leave a grid cell to interpolation


@dataclass(frozen=True)
class Compensation:
    """Log-gains (bands, band levels, frame levels) on a regular grid of natural-log Mel levels."""

    sample_rate: int
    band_range: tuple[float, float]
    frame_range: tuple[float, float]
    gains: np.ndarray  # float32 (bands, K, K2), <= 0: compensation only ever attenuates
    floor: float = 1e-5  # Mel magnitudes below it count as it (levels are read with the same floor)

    def lookup(self, log_mel: np.ndarray) -> np.ndarray:
        """(frames, bands) log-gains for (frames, bands) natural-log Mel magnitudes."""
        bands, k, k2 = self.gains.shape
        i = _position(log_mel, self.band_range, k)
        j = _position(log_mel.mean(axis=1, keepdims=True), self.frame_range, k2)
        i0 = np.minimum(i.astype(np.intp), k - 2)
        j0 = np.minimum(j.astype(np.intp), k2 - 2)
        ti, tj = i - i0, j - j0
        # Bilinear interpolation with flat gathers (np.take), which beat fancy indexing 4x.
        flat = self.gains.reshape(-1)
        base = i0 * k2 + j0 + np.arange(bands)[None, :] * (k * k2)
        g00, g01 = flat.take(base), flat.take(base + 1)
        g10, g11 = flat.take(base + k2), flat.take(base + k2 + 1)
        low = g00 + tj * (g01 - g00)
        return low + ti * (g10 + tj * (g11 - g10) - low)


def _position(level: np.ndarray, span: tuple[float, float], cells: int) -> np.ndarray:
    low, high = span
    return np.clip((level - low) * ((cells - 1) / (high - low)), 0.0, cells - 1)


# Levels are read far below HiFi-GAN's 1e-5 floor: at 1e-5 the quiet bands of silent frames all
# read as the floor, and the hiss the voice's loudness gain lifts there went unseen.
FLOOR = 1e-8


# Passes of the closed fit after the first: each takes out part of what the bands did not get
# (bands share FFT bins); a fourth gains next to nothing.
REFINEMENTS = 3


def calibrate(pairs: Iterable[tuple[np.ndarray, np.ndarray]], sample_rate: int,
              band_cells: int = 47, frame_cells: int = 18,
              band_range: tuple[float, float] = (-18.5, 4.0),
              frame_range: tuple[float, float] = (-17.5, 0.0), floor: float = FLOOR,
              refinements: int = REFINEMENTS) -> Compensation:
    """Fit the grid from (reference FP32 audio, quantized audio) pairs of equal length."""
    pairs = list(pairs)
    bands = filterbank(sample_rate).shape[0]
    wants, keys, diffs = [], [], []
    for reference, quantized in pairs:
        want, have = log_mel(reference, sample_rate, floor=floor), log_mel(quantized, sample_rate, floor=floor)
        # A frame's cell is read from the quantized audio as it comes from the decoder, as at run time.
        i = np.rint(_position(have, band_range, band_cells)).astype(np.int64)
        j = np.rint(_position(have.mean(axis=1, keepdims=True), frame_range, frame_cells)).astype(np.int64)
        keys.append(((np.arange(bands)[None, :] * band_cells + i) * frame_cells + j).ravel())
        wants.append(want)
        diffs.append((want - have).ravel())
    key = np.concatenate(keys)
    shape = (bands, band_cells, frame_cells)
    grid = _medians(key, np.concatenate(diffs), shape)

    def made(grid: np.ndarray) -> Compensation:
        return Compensation(sample_rate, band_range, frame_range, np.minimum(grid, 0.0).astype(np.float32), floor)

    longest = max(len(quantized) for _, quantized in pairs)
    for _ in range(refinements):
        compensator = Compensator(made(grid), BufferPool(), longest)
        residual = []
        for want, (_, quantized) in zip(wants, pairs, strict=True):
            out = np.concatenate([compensator.process(quantized.astype(np.float32)), compensator.finish()])
            residual.append((want - log_mel(out, sample_rate, floor=floor)).ravel())
        grid = grid + _medians(key, np.concatenate(residual), shape)
    return made(grid)


def _medians(key: np.ndarray, diff: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The grid of per-cell medians of `diff` (cells with too few observations interpolated)."""
    order = np.lexsort((diff, key))  # by cell, then by value: medians are middle elements
    key, diff = key[order], diff[order]
    cells, starts, counts = np.unique(key, return_index=True, return_counts=True)
    medians = (diff[starts + (counts - 1) // 2] + diff[starts + counts // 2]) / 2
    grid = np.full(int(np.prod(shape)), np.nan)
    keep = counts >= MIN_COUNT
    grid[cells[keep]] = medians[keep]
    return _fill(grid.reshape(shape))


def _fill(grid: np.ndarray) -> np.ndarray:
    """Cells without data take the linear interpolation of their neighbours: first along
    the band level, then along the frame level; a band with no data at all gets no gain."""
    for band in grid:
        for column in band.T:
            _interpolate(column)
        for row in band:
            _interpolate(row)
    return np.nan_to_num(grid, nan=0.0)


def _interpolate(line: np.ndarray) -> None:
    known = ~np.isnan(line)
    if known.any():
        line[:] = np.interp(np.arange(len(line)), np.flatnonzero(known), line[known])


def _spread(mel: np.ndarray) -> np.ndarray:
    """(bands, bins): each FFT bin takes the weighted mean of the gains of the bands that
    cover it; the few bins no band covers (DC, near Nyquist) take the nearest band's."""
    weights = mel.astype(np.float64).copy()
    centres = np.argmax(weights, axis=1)
    for column in np.flatnonzero(weights.sum(axis=0) == 0):
        weights[np.argmin(np.abs(centres - column)), column] = 1.0
    return weights / weights.sum(axis=0, keepdims=True)


def _two_per_bin(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a (bands, bins) matrix with at most two nonzero bands per bin (overlapping
    triangles): (band index, weight) arrays of shape (2, bins), lower band first. A bin
    with one band repeats it with weight 0, so both index rows are non-decreasing."""
    bins = matrix.shape[1]
    index = np.zeros((2, bins), np.intp)
    weight = np.zeros((2, bins), np.float64)
    for k in range(bins):
        nonzero = np.flatnonzero(matrix[:, k])
        if nonzero.size > 2:
            raise ValueError("a filterbank bin overlaps more than two bands")
        if nonzero.size == 0:
            index[:, k] = index[1, k - 1] if k else 0
            continue
        index[:, k] = [nonzero[0], nonzero[-1]]
        weight[0, k] = matrix[nonzero[0], k]
        if nonzero.size == 2:
            weight[1, k] = matrix[nonzero[1], k]
    return index, weight


class _BandSums:
    """Bins -> bands (x @ mel.T) without BLAS, and bands -> bins (g @ spread) likewise.

    Why not `@`: numpy hands these products to OpenBLAS, whose threads then spin for a
    while after each call and take the cores onnxruntime is about to use (measured: +34 %
    synthesis time at 2 threads). Each bin belongs to at most two bands, in order, so a
    band's sum is a segmented sum (reduceat) over contiguous bins, and a bin's gain is two
    gathers."""

    def __init__(self, mel: np.ndarray, spread: np.ndarray) -> None:
        bands, bins = mel.shape
        self._index, self._weight = _two_per_bin(mel)
        # Band b of layer l sums bins [starts[l, b], starts[l, b + 1]); a zero column
        # appended at `bins` gives empty bands at the top a valid start.
        self._starts = np.stack([np.searchsorted(row, np.arange(bands), "left") for row in self._index])
        ends = np.stack([np.searchsorted(row, np.arange(bands), "right") for row in self._index])
        self._empty = [np.flatnonzero(s == e) for s, e in zip(self._starts, ends, strict=True)]
        self._bins = bins
        self._spread_index, self._spread_weight = _two_per_bin(spread)

    def bands(self, x: np.ndarray) -> np.ndarray:
        weighted = np.zeros((x.shape[0], self._bins + 1))
        out = np.zeros((x.shape[0], len(self._starts[0])))
        for layer in range(2):
            np.multiply(x, self._weight[layer], out=weighted[:, :-1])
            sums = np.add.reduceat(weighted, self._starts[layer], axis=1)
            sums[:, self._empty[layer]] = 0.0  # reduceat gives one element for an empty segment
            out += sums
        return out

    def bins(self, g: np.ndarray) -> np.ndarray:
        index, weight = self._spread_index, self._spread_weight
        return g[:, index[0]] * weight[0] + g[:, index[1]] * weight[1]


# Hann analysis and synthesis windows at a quarter-window hop sum (squared) to 1.5.
_OVERLAP = N_FFT // HOP
_WOLA_GAIN = 1.5
_LEAD = N_FFT - HOP  # leading zeros, so that the first sample is covered by all four frames
_FLUSH = np.zeros(N_FFT, np.float32)  # trailing zeros that push a sentence's last samples out


class Compensator:
    """Applies a Compensation to a stream of float samples, one sentence at a time.

    Frame f covers padded samples [f*HOP, f*HOP + N_FFT); hop block b is final once frame b
    is done, and is the sum of quarter q of frames b - q. Output lags input by up to
    N_FFT samples; `finish()` returns the rest at the end of a sentence. The buffers come
    from the pool and have a fixed size: chunks are at most `max_samples` long."""

    def __init__(self, compensation: Compensation, pool: BufferPool, max_samples: int) -> None:
        self.compensation = compensation
        self.pool = pool
        mel = filterbank(compensation.sample_rate)
        self._sums = _BandSums(mel.astype(np.float64), _spread(mel))
        self._window = hann(N_FFT)
        self._synthesis = hann(N_FFT).astype(np.float64) / _WOLA_GAIN
        self._capacity = max_samples + 2 * N_FFT
        self._input = pool.take((self._capacity,))
        # float64 frames: numpy's float32 FFT measured 4x slower than its float64 one.
        self._frames = pool.take((self._capacity // HOP + _OVERLAP, _OVERLAP, HOP), np.float64)
        self.reset()

    def reset(self) -> None:
        self._input[:_LEAD] = 0.0
        self._filled = _LEAD
        self._frames[: _OVERLAP - 1] = 0.0
        self._skip = _LEAD // HOP  # blocks that are only leading zeros
        self._pending = 0  # real samples received and not yet returned

    def process(self, samples: np.ndarray) -> np.ndarray:
        """The compensated samples that are final once `samples` is added (a new array)."""
        self._pending += len(samples)
        return self._push(samples)

    def finish(self) -> np.ndarray:
        """The rest of the sentence; the compensator is then ready for the next one."""
        pending = self._pending
        out = self._push(_FLUSH)[:pending]
        self.reset()
        return out

    def _push(self, samples: np.ndarray) -> np.ndarray:
        if self._filled + len(samples) > self._capacity:
            raise ValueError(f"a chunk of {len(samples)} samples is larger than the compensator was made for")
        self._input[self._filled:self._filled + len(samples)] = samples
        self._filled += len(samples)
        count = (self._filled - N_FFT) // HOP + 1
        if count <= 0:
            return np.empty(0, np.float32)
        blocks = self._run(count)
        used = count * HOP
        self._input[: self._filled - used] = self._input[used:self._filled]
        self._filled -= used
        skip, self._skip = min(self._skip, count), max(0, self._skip - count)
        out = blocks[skip:].reshape(-1)[: self._pending]
        self._pending -= len(out)
        return out

    def _run(self, count: int) -> np.ndarray:
        carry = _OVERLAP - 1  # the previous call's last frames, still owed to coming blocks
        framed = self._frames[carry:carry + count].reshape(count, N_FFT)
        view = np.lib.stride_tricks.sliding_window_view(self._input, N_FFT)[::HOP][:count]
        np.multiply(view, self._window, out=framed)
        spectrum = np.fft.rfft(framed, axis=1)
        level = np.log(np.maximum(self._sums.bands(np.abs(spectrum)), self.compensation.floor))
        spectrum *= self._sums.bins(np.exp(self.compensation.lookup(level)))
        framed[...] = np.fft.irfft(spectrum, n=N_FFT, axis=1)
        framed *= self._synthesis
        quarters = self._frames[: carry + count]
        out = quarters[carry:, 0].astype(np.float32)
        for q in range(1, _OVERLAP):
            out += quarters[carry - q:carry - q + count, q]
        self._frames[:carry] = quarters[count:count + carry]
        return out
