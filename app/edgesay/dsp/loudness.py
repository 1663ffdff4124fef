"""Loudness like Piper's, streaming.

Piper scales each sentence so its peak is full scale: it has the whole sentence before it sends
any. edgesay sends a sentence while it is being made, so it cannot know the peak ahead. Instead
each voice gets one gain, measured when it is prepared (`voice_gain`: what Piper's per-sentence
scaling comes to for a typical sentence of that voice), and a limiter keeps the peaks a fixed
gain would push past full scale below it, chunk by chunk.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..system.pool import BufferPool

CEILING = 0.98  # the limiter's ceiling, of full scale: no sample reaches it
ATTACK_SECONDS = 0.002  # how fast the gain falls ahead of a peak (within a chunk)
RELEASE_SECONDS = 0.15  # how slowly it comes back (across chunks)
_SILENT = 1e-4  # a sentence whose peak is below this (-80 dBFS) says nothing about the voice's level


def voice_gain(sentences: Iterable[np.ndarray]) -> float:
    """The gain that brings a voice's median sentence peak to full scale, as Piper's per-sentence
    normalization does: for sentences at the median, edgesay and Piper are then equally loud."""
    peaks = [float(np.max(np.abs(s))) for s in sentences if s.size]
    peaks = [p for p in peaks if p > _SILENT]
    if not peaks:
        return 1.0
    return 1.0 / float(np.median(peaks))


@dataclass
class Limiter:
    """A peak limiter for float audio in [-1, 1] scale, applied in place chunk by chunk.

    Its gain is the lowest a sample needs (CEILING / |x|), reached ATTACK_SECONDS ahead of the
    sample where the chunk allows it (a chunk is all the look-ahead there is), and it rises back
    at most 1 per RELEASE_SECONDS. Every sample ends at or below CEILING: nothing clips."""

    sample_rate: int
    pool: BufferPool
    room: int = 0  # the longest chunk it is given (BufferPool.take): one size class for all
    gain: float = 1.0  # where the last chunk left it
    _attack: float = field(init=False)
    _release: float = field(init=False)

    def __post_init__(self) -> None:
        self._attack = 1.0 / max(1.0, ATTACK_SECONDS * self.sample_rate)  # gain per sample
        self._release = 1.0 / max(1.0, RELEASE_SECONDS * self.sample_rate)

    def reset(self) -> None:
        self.gain = 1.0

    def process(self, audio: np.ndarray) -> None:
        count = audio.size
        if count == 0:
            return
        with self.pool.lend((count,), np.float32, self.room) as need, \
                self.pool.lend((count,), np.float32, self.room) as ramp:
            np.abs(audio, out=need)
            if self.gain >= 1.0 and float(need.max()) <= CEILING:
                return  # the common case: nothing near full scale, nothing held down
            np.maximum(need, 1e-12, out=need)
            np.divide(np.float32(CEILING), need, out=need)
            np.minimum(need, 1.0, out=need)  # the gain each sample allows
            ramp[:] = np.arange(count, dtype=np.float32)
            # Attack: g[i] = min over j >= i of need[j] + (j - i) * attack (a running minimum
            # from the end, on need shifted by a ramp).
            need += ramp * np.float32(self._attack)
            np.minimum.accumulate(need[::-1], out=need[::-1])
            need -= ramp * np.float32(self._attack)
            # Release: g[i] = min over j <= i of back[j] + (i - j) * release, and at most where
            # the previous chunk left the gain plus i + 1 steps.
            need -= ramp * np.float32(self._release)
            np.minimum.accumulate(need, out=need)
            need += ramp * np.float32(self._release)
            ramp += 1.0
            ramp *= np.float32(self._release)
            ramp += np.float32(self.gain)
            np.minimum(need, ramp, out=need)
            np.minimum(need, 1.0, out=need)
            audio *= need
            # The ramps above, added and taken away in float32 over a long chunk, can leave a
            # sample a few ulps over the ceiling: inaudible, but "no clipping" is exact.
            np.clip(audio, -CEILING, CEILING, out=audio)
            self.gain = float(need[-1])
