"""The range of every synthesis parameter a user or a client can set: one table, read by the
command's flags, the server's flags, its HTTP fields and `SynthesisSettings`.

The ranges keep one request's work and memory bounded (a length scale of 500 or an hour of
silence after each sentence is a way to exhaust a small board, not a way to speak) and are wide
enough for every use seen with Piper voices.
"""

import math
from dataclasses import dataclass

from ..errors import InputError

# One utterance at most: a --text, a line of input, a server request (streamed Wyoming text
# without a sentence end too); longer text belongs in several.
MAX_UTTERANCE_CHARS = 100_000


@dataclass(frozen=True)
class Bound:
    """A closed range for one parameter, named as Piper's JSON field."""

    field: str
    low: float
    high: float
    meaning: str

    def check(self, value: float, name: str | None = None) -> float:
        """`value` if it is a finite number in range; else InputError naming the field."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f'"{name or self.field}" must be a number')
        if not self.holds(value):
            raise InputError(f'"{name or self.field}" must be {self.range}; got {value!r}')
        return float(value)

    def holds(self, value: float) -> bool:
        return math.isfinite(value) and self.low <= value <= self.high

    @property
    def range(self) -> str:
        return f"between {self.low:g} and {self.high:g} ({self.meaning})"


LENGTH_SCALE = Bound("length_scale", 0.1, 4.0, "phoneme length, above 1 is slower")
NOISE_SCALE = Bound("noise_scale", 0.0, 2.0, "generator noise")
NOISE_W = Bound("noise_w_scale", 0.0, 2.0, "phoneme width noise")
SENTENCE_SILENCE = Bound("sentence_silence", 0.0, 10.0, "seconds of silence after each sentence")
VOLUME = Bound("volume", 0.0, 10.0, "volume multiplier")
BOUNDS = (LENGTH_SCALE, NOISE_SCALE, NOISE_W, SENTENCE_SILENCE, VOLUME)
