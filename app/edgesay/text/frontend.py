"""The text front end as one piece: text -> sentences -> phoneme ids for one voice.

The engine, preparation (calibration sentences), the server and the fuzz tests all go through
here, so a text reaches a voice's graph in one way only.

English voices get edgesay's English normalization (money, times, dates, abbreviations) and its
own sentence split, which ends sentences where espeak-ng does. Every other language gets no
rewriting beyond dropping characters that carry no speech: espeak-ng reads its numbers and
abbreviations, and espeak-ng ends its sentences, exactly as in Piper.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..errors import InputError
from .espeak import Espeak
from .espeak_data import is_english
from .normalize import clean_only, normalize
from .phoneme_ids import phonemes_to_ids, split_phonemes, with_punctuation
from .sentences import MAX_SENTENCE_CHARS, Clause, Sentence, boundaries, split_sentences

MAX_TEXT_CHARS = 10_000_000
# BOS PAD EOS: what an empty sentence comes to (espeak-ng found nothing to say).
EMPTY_IDS = 3
# Text handed to espeak-ng at once (another language): paragraphs, and a paragraph longer than
# this is cut after a sentence mark, so the first sentence of a long text is spoken without
# reading all of it first.
_PARAGRAPH = re.compile(r"\n\s*\n")
_CHUNK_CHARS = 4000
# Streamed text: how far back a sentence break (its mark, closing quotes and spaces) may begin,
# and how much text before a break decides whether it ends a sentence.
_BREAK_CHARS = 64
_CONTEXT_CHARS = 64
# Piper's phoneme types edgesay reads: espeak-ng's IPA, or the text's own code points.
ESPEAK, TEXT = "espeak", "text"
PHONEME_TYPES = (ESPEAK, TEXT)


def text_to_sentences(text: str) -> list[Sentence]:
    """English text -> sentences of clauses, normalized."""
    _check_length(text)
    return split_sentences(normalize(text))


def _check_length(text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"text is {len(text)} characters; the limit per call is {MAX_TEXT_CHARS}")


class StreamedText:
    """Text as it arrives piece by piece (a server's streamed input), given back in whole
    sentences as soon as no later text can change them.

    A break counts only if it still ends a sentence once normalized: "Dr. " followed by more
    text is "Doctor", not an end. Each possible break is judged once, by the words just before
    it, so the work is linear in the text however it is cut into pieces."""

    def __init__(self, english: bool = True) -> None:
        self.english = english
        self.pending = ""  # received, not yet a whole sentence
        self._judged = 0  # breaks ending at or before this offset in `pending` are judged

    def feed(self, text: str) -> str:
        """Add `text`; the whole sentences that are complete now (possibly ""), in order."""
        self.pending += text
        found = [end for end in boundaries(self.pending, max(0, self._judged - _BREAK_CHARS)) if end > self._judged]
        # A break is found only once the character after it has arrived; one that ends the text
        # (a blank line) is found again next time, which is harmless.
        self._judged = max(0, len(self.pending) - 1)
        cut = next((end for end in reversed(found) if self._ends_sentence(end)), 0)
        whole, self.pending = self.pending[:cut], self.pending[cut:]
        self._judged -= cut
        return whole

    def _ends_sentence(self, end: int) -> bool:
        head = self.pending[:end]
        if head.endswith("\n"):
            return True
        # What normalization makes of a break's "." depends on the word or two before it only.
        start = max(0, end - _CONTEXT_CHARS)
        space = self.pending.rfind(" ", max(0, start - _CONTEXT_CHARS), start)
        recent = self.pending[space + 1 if space >= 0 else start:end]
        said = normalize(recent) if self.english else recent
        return said.rstrip().endswith((".", "?", "!"))


def _chunks(text: str) -> Iterator[str]:
    for paragraph in _PARAGRAPH.split(text):
        while len(paragraph) > _CHUNK_CHARS:
            cut = max(paragraph.rfind(mark, 0, _CHUNK_CHARS) for mark in (". ", "? ", "! ", "\n"))
            cut = cut + 1 if cut > 0 else _CHUNK_CHARS
            yield paragraph[:cut]
            paragraph = paragraph[cut:]
        if paragraph.strip():
            yield paragraph


@dataclass(frozen=True)
class Frontend:
    """Phoneme ids for one voice: its espeak-ng voice, phoneme map and vowel clusters."""

    espeak: Espeak
    espeak_voice: str  # e.g. "en-us"
    phoneme_id_map: Mapping[str, Sequence[int]]
    vowel_clusters: frozenset[tuple[str, ...]] = frozenset()
    phoneme_type: str = ESPEAK

    @property
    def english(self) -> bool:
        return self.phoneme_type == ESPEAK and is_english(self.espeak_voice)

    def sentences(self, text: str) -> Iterator[Sentence]:
        """`text` as this voice's sentences, one at a time (another language's are read by
        espeak-ng as they are needed)."""
        if self.english:
            yield from text_to_sentences(text)
            return
        if self.phoneme_type == TEXT:
            yield from _text_sentences(text)
            return
        _check_length(text)
        for chunk in _chunks(clean_only(text)):
            yield from self._espeak_sentences(chunk)

    def _espeak_sentences(self, text: str) -> Iterator[Sentence]:
        clauses: list[Clause] = []
        size = 0
        for found in self.espeak.clauses(self.espeak_voice, text):
            words = found.source.strip()
            words = words[:-1] if found.terminator and words.endswith(found.terminator) else words
            clauses.append(Clause(words, found.terminator, found.piper_phonemes()))
            size += len(found.source)
            # A sentence without an end is cut at a clause, as the English split cuts it: the
            # memory a sentence needs stays bounded whatever the input.
            if found.ends_sentence or size > MAX_SENTENCE_CHARS:
                yield from _spoken(clauses)
                clauses, size = [], 0
        yield from _spoken(clauses)

    def sentence_ids(self, sentence: Sentence) -> list[int]:
        phonemes = "".join(c.phonemes if c.phonemes is not None else self.espeak.clause_phonemes(self.espeak_voice, c)
                           for c in sentence.clauses)
        return phonemes_to_ids(split_phonemes(phonemes, self.vowel_clusters), self.phoneme_id_map)


def _spoken(clauses: list[Clause]) -> Iterator[Sentence]:
    """A sentence, unless it has nothing to say (a closing quote after the period): Piper
    drops those too."""
    if any(c.phonemes for c in clauses):
        yield Sentence(tuple(clauses))


def _text_sentences(text: str) -> Iterator[Sentence]:
    """A `text` voice's sentences: its phonemes are the text's own code points (Piper's
    phoneme_type "text"). Piper reads the whole text as one sentence; edgesay splits it where
    English would, so memory stays bounded, and a one-sentence text is read exactly as Piper."""
    _check_length(text)
    for sentence in split_sentences(re.sub(r"[ \t]+", " ", clean_only(text)).strip()):
        clauses = (Clause(c.text, c.terminator, with_punctuation(c.text, c.terminator)) for c in sentence.clauses)
        yield Sentence(tuple(clauses))
