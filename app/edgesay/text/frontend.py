"""The text front end as one piece: text -> sentences -> phoneme ids for one voice.

The engine, preparation (calibration sentences), the server and the fuzz tests all go through
here, so a text reaches a voice's graph in one way only.

English voices get edgesay's English normalization (money, times, dates, abbreviations) and its
own sentence split, which ends sentences where espeak-ng does. Every other language gets no
rewriting beyond dropping characters that carry no speech: espeak-ng reads its numbers and
abbreviations, and espeak-ng ends its sentences, exactly as in Piper.

`[[ phonemes ]]` in the text of an espeak-ng voice are the writer's phonemes, placed as Piper
1.8.0 places them: in the sentence the text before them ends, which the text after them
continues (a `text` voice reads them as written, as Piper's does).
"""

import bisect
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..errors import InputError
from .espeak import Espeak
from .espeak_data import is_english
from .normalize import clean_only, normalize
from .phoneme_ids import phonemes_to_ids, split_phonemes, with_punctuation
from .sentences import MAX_SENTENCE_CHARS, Clause, Sentence, boundaries, split_sentences

# One synthesis call of the Python API at most (a bound on the front end's own work).
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
# Piper's own pattern (piper1-gpl voice.py): on one line, the shortest run between the brackets.
PHONEME_BLOCK = re.compile(r"(\[\[.*?\]\])")
_BRACKETS = re.compile(r"\[\[|\]\]|\n")
_WORD = re.compile(r"\w")


def reads_english(phoneme_type: str, espeak_voice: str) -> bool:
    """Whether a voice gets the English text normalization: an espeak-ng voice of English."""
    return phoneme_type == ESPEAK and is_english(espeak_voice)


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
    it, so the work is linear in the text however it is cut into pieces. A break inside a
    `[[ phonemes ]]` block, just before one, or after one with no word between, is not a break:
    a block joins the sentence before it and the next sentence after it, as in Piper."""

    def __init__(self, english: bool = True) -> None:
        self.english = english
        self.pending = ""  # received, not yet a whole sentence
        self._judged = 0  # breaks ending at or before this offset in `pending` are judged
        # Whole blocks in `pending`, in order: [start, stop, the first word after (-1: none
        # found yet), how far that was looked for].
        self._blocks: list[list[int]] = []
        self._open: int | None = None  # where a block that has not closed yet begins

    def feed(self, text: str) -> str:
        """Add `text`; the whole sentences that are complete now (possibly ""), in order."""
        start = len(self.pending)
        self.pending += text
        self._scan(max(0, start - 1))  # "[" + "[" may arrive in two pieces
        found = [end for end in boundaries(self.pending, max(0, self._judged - _BREAK_CHARS)) if end > self._judged]
        # A break is found only once the character after it has arrived; one that ends the text
        # (a blank line) is found again next time, which is harmless.
        self._judged = max(0, len(self.pending) - 1)
        cut = next((end for end in reversed(found) if not self._in_block(end) and self._ends_sentence(end)), 0)
        whole, self.pending = self.pending[:cut], self.pending[cut:]
        self._judged -= cut
        if cut:
            self._blocks = [[a - cut, b - cut, w - cut if w >= 0 else -1, max(0, seen - cut)]
                            for a, b, w, seen in self._blocks if b > cut]
            self._open = None if self._open is None else self._open - cut
        return whole

    def _scan(self, start: int) -> None:
        """Find blocks as Piper's pattern does: from a "[[" to the first "]]" on its line."""
        for mark in _BRACKETS.finditer(self.pending, start):
            if mark.group() == "[[":
                self._open = mark.start() if self._open is None else self._open
            elif self._open is not None:
                if mark.group() == "]]":
                    self._blocks.append([self._open, mark.end(), -1, mark.end()])
                self._open = None

    def _in_block(self, end: int) -> bool:
        """A break inside a block, just before one, or after one with no word since."""
        if self.pending.startswith("[", end) or (self._open is not None and self._open < end):
            return True
        index = bisect.bisect_left(self._blocks, end, key=lambda block: block[0]) - 1  # the last to begin before
        if index < 0:
            return False
        block = self._blocks[index]
        if end < block[1]:
            return True
        if block[2] < 0:  # each character after a block is looked at once, however many breaks follow
            word = _WORD.search(self.pending, block[3])
            block[2], block[3] = (word.start(), word.start()) if word else (-1, len(self.pending))
        return block[2] < 0 or block[2] >= end

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
        return reads_english(self.phoneme_type, self.espeak_voice)

    def sentences(self, text: str) -> Iterator[Sentence]:
        """`text` as this voice's sentences, one at a time (another language's are read by
        espeak-ng as they are needed)."""
        if self.phoneme_type == TEXT:
            yield from _text_sentences(text)
            return
        _check_length(text)
        parts = PHONEME_BLOCK.split(text)
        if len(parts) == 1:
            yield from self._plain_sentences(text)
            return
        # Piper's placement of blocks: each joins the last sentence of the text before it (a
        # space between them if the text ends with one), and the text after it continues that
        # sentence. Sentences before the last block wait for it; the rest stream as usual.
        held: list[Clause] = []  # the sentence a block joins
        for index, part in enumerate(parts):
            if index % 2:
                after = parts[index + 1] if index + 1 < len(parts) else ""
                block = (" " if parts[index - 1].endswith(" ") else "") + part[2:-2].strip() + \
                    (" " if after.startswith(" ") else "")
                held.append(Clause(part, "", block, raw=True))
                continue
            found = self._plain_sentences(part)
            first = next(found, None)
            if first is None:
                continue
            if index:  # continues the block's sentence
                held.extend(first.clauses)
            else:
                held = list(first.clauses)
            for sentence in found:
                yield Sentence(tuple(held))
                held = list(sentence.clauses)
        if held:
            yield Sentence(tuple(held))

    def _plain_sentences(self, text: str) -> Iterator[Sentence]:
        if self.english:
            yield from text_to_sentences(text)
            return
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
        phonemes: list[str] = []
        said = ""  # espeak-ng's phonemes not yet split (split together, as Piper splits a sentence)
        for clause in sentence.clauses:
            if clause.raw:
                phonemes += split_phonemes(said, self.vowel_clusters) + list(clause.phonemes or "")
                said = ""
            else:
                said += clause.phonemes if clause.phonemes is not None else \
                    self.espeak.clause_phonemes(self.espeak_voice, clause)
        return phonemes_to_ids(phonemes + split_phonemes(said, self.vowel_clusters), self.phoneme_id_map)


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
