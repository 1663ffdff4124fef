"""The text front end as one piece: text -> sentences -> phoneme ids for one voice.

The engine, preparation (calibration sentences) and the fuzz tests all go through here, so a
text reaches a voice's graph in one way only.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import InputError
from .espeak import Espeak
from .normalize import normalize
from .phoneme_ids import phonemes_to_ids, split_phonemes
from .sentences import Sentence, boundaries, split_sentences

MAX_TEXT_CHARS = 10_000_000
# BOS PAD EOS: what an empty sentence comes to (espeak-ng found nothing to say).
EMPTY_IDS = 3


def text_to_sentences(text: str) -> list[Sentence]:
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"text is {len(text)} characters; the limit per call is {MAX_TEXT_CHARS}")
    return split_sentences(normalize(text))


def complete_prefix(text: str) -> tuple[str, str]:
    """`text` as it arrives piece by piece (a server's streamed input): the part up to its last
    sentence break that no later text can change, and the rest. A break counts only if it still
    ends a sentence once normalized: "Dr. " followed by more text is "Doctor", not an end."""
    for end in reversed(boundaries(text)):
        if normalize(text[:end]).rstrip().endswith((".", "?", "!")) or text[:end].endswith("\n"):
            return text[:end], text[end:]
    return "", text


@dataclass(frozen=True)
class Frontend:
    """Phoneme ids for one voice: its espeak-ng voice, phoneme map and vowel clusters."""

    espeak: Espeak
    espeak_voice: str  # e.g. "en-us"
    phoneme_id_map: Mapping[str, Sequence[int]]
    vowel_clusters: frozenset[tuple[str, ...]] = frozenset()

    def sentence_ids(self, sentence: Sentence) -> list[int]:
        phonemes = "".join(self.espeak.clause_phonemes(self.espeak_voice, c) for c in sentence.clauses)
        return phonemes_to_ids(split_phonemes(phonemes, self.vowel_clusters), self.phoneme_id_map)
