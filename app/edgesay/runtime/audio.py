"""Audio chunks as the engine yields them, and the float -> 16-bit conversion."""

from dataclasses import dataclass, field

import numpy as np

from ..system.pool import BufferPool


@dataclass
class SentenceTimings:
    """Where one sentence's time went, in seconds; filled in as the sentence streams."""

    text: float = 0.0  # normalization and sentence splitting (shared by all sentences)
    phonemes: float = 0.0  # espeak-ng and id mapping
    latent: float = 0.0  # encoder, durations, noise
    flow: float = 0.0
    windows: list[float] = field(default_factory=list)  # each decoder window (compensation included)
    compensation: float = 0.0  # the Mel gain compensation's share of the windows
    first_audio: float = 0.0  # from the start of synthesis to this sentence's first chunk


@dataclass(frozen=True)
class AudioChunk:
    """A piece of speech. `samples` lives in a pooled buffer that is reused once the next
    chunk is requested: consume it (write, play) before that, or keep `samples.copy()`."""

    samples: np.ndarray  # int16, mono
    sample_rate: int  # Hz
    sentence: int  # index of the sentence in the text
    last_in_sentence: bool
    timings: SentenceTimings
    # Which of the runs `Engine.speak` was given it belongs to (a sentence, or an SSML pause), and
    # whether it is that run's last (its silence included): after it, the rest of the runs may
    # be spoken by another engine of the voice with the same audio (each run starts afresh).
    run: int = 0
    run_end: bool = False

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def to_pcm16(samples: np.ndarray, volume: float, pool: BufferPool, room: int = 0) -> np.ndarray:
    """Float [-1, 1] -> int16, as Piper does it (scale, clip, truncate), into a pooled array.
    `room`: the most samples a call is given (BufferPool.take)."""
    flat = samples.reshape(-1)
    with pool.lend(flat.shape, np.float32, room) as scaled:
        np.multiply(flat, np.float32(32767.0 * volume), out=scaled)
        np.clip(scaled, -32768.0, 32767.0, out=scaled)
        pcm = pool.take(flat.shape, np.int16, room)
        np.copyto(pcm, scaled, casting="unsafe")
    return pcm
