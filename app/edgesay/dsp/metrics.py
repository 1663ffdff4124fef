"""Objective comparison of two renditions of the same text, as used by the quality bar.

- log-mel L1: mean absolute difference of 80-band natural-log Mel magnitudes, after
  aligning the two frame sequences with dynamic time warping (durations may differ a little).
- floor rise: how much louder, in dB, the test rendition is on the reference's quietest
  frames (pauses, closures). Quantization error is heard there first, as hiss.
"""

from dataclasses import dataclass

import numpy as np

from .mel import log_mel

QUIET_FRACTION = 0.2  # the quietest fifth of the reference's frames
DB_PER_NEPER = 20.0 / np.log(10.0)


@dataclass(frozen=True)
class Comparison:
    log_mel_l1: float
    floor_rise_db: float


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j) of the cheapest monotonic alignment of frame sequences a and b (L1 cost)."""
    cost = np.abs(a[:, None, :] - b[None, :, :]).mean(axis=2)
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        row = cost[i - 1]
        diag_up = np.minimum(total[i - 1, :-1], total[i - 1, 1:]) + row  # from (i-1, j-1) or (i-1, j)
        current = total[i]
        for j in range(1, m + 1):  # the left neighbour is sequential; rows are short
            current[j] = min(diag_up[j - 1], current[j - 1] + row[j - 1])
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = int(np.argmin((total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])))
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    ii, jj = np.array(path[::-1]).T
    return ii, jj


def compare(reference: np.ndarray, test: np.ndarray, sample_rate: int) -> Comparison:
    """Compare float audio `test` with `reference` (same text, same voice)."""
    ref, out = log_mel(reference, sample_rate), log_mel(test, sample_rate)
    if ref.shape == out.shape:
        ii = jj = np.arange(len(ref))  # sample-aligned: no warping needed
    else:
        ii, jj = dtw_path(ref, out)
    ref, out = ref[ii], out[jj]
    l1 = float(np.abs(ref - out).mean())
    energy = ref.mean(axis=1)
    quiet = energy <= np.quantile(energy, QUIET_FRACTION)
    rise = float((out[quiet] - ref[quiet]).mean() * DB_PER_NEPER)
    return Comparison(l1, rise)
