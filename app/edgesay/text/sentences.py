"""Split normalized text into sentences, and sentences into clauses.

The split points are the ones espeak-ng itself uses: `. ? !` end a sentence and `, ; :`
end a clause, each only when followed by white space or the end of the text. Keeping
espeak-ng's rules means each clause we hand it comes back as one clause, so the phoneme
stream equals Piper's. A period followed by a lower-case word does not end a sentence
(espeak-ng reads it as an abbreviation too).
"""

import re
from dataclasses import dataclass

# One sentence is one decoder job; a run-on "sentence" longer than this is cut at clause
# or word boundaries so that memory per sentence stays bounded whatever the input.
MAX_SENTENCE_CHARS = 400

_SENTENCE_END = re.compile(r"(?<=[.?!])[\"')\]]*\s+(?=[^a-z\s])|\n\s*\n")
_CLAUSE = re.compile(r"(.*?)([,;:](?=\s)|[.?!]+[\"')\]]*\s*$|$)", re.S)


@dataclass(frozen=True)
class Clause:
    text: str  # words, without the terminator
    terminator: str  # one of ". ? ! , ; :" or "" when the text just stops
    # Set when espeak-ng split the text itself (a voice in another language than English):
    # its phonemes, with Piper's punctuation. None: espeak-ng reads `text` when it is spoken.
    phonemes: str | None = None
    # A `[[ phonemes ]]` block: `phonemes` are the writer's own, one per character as Piper
    # takes them (no NFD, no vowel clusters).
    raw: bool = False


@dataclass(frozen=True)
class Sentence:
    clauses: tuple[Clause, ...]

    @property
    def text(self) -> str:
        return " ".join(c.text + c.terminator for c in self.clauses)


def _terminator(punct: str) -> str:
    punct = punct.strip().rstrip("\"')]")
    if not punct:
        return ""
    # "?!" and "!?" are read as the first mark by espeak-ng; "..." as a period.
    return punct[0]


def _clauses(sentence: str) -> tuple[Clause, ...]:
    clauses = []
    for words, punct in _CLAUSE.findall(sentence):
        words = words.strip()
        if words:
            clauses.append(Clause(words, _terminator(punct)))
        elif punct.strip() and clauses and not clauses[-1].terminator:
            clauses[-1] = Clause(clauses[-1].text, _terminator(punct))
    return tuple(clauses)


def _cut_long(sentence: str) -> list[str]:
    """Cut an over-long sentence at clause marks, then at spaces, then anywhere."""
    pieces: list[str] = []
    while len(sentence) > MAX_SENTENCE_CHARS:
        head = sentence[:MAX_SENTENCE_CHARS]
        cut = max(head.rfind(", "), head.rfind("; "), head.rfind(": "))
        cut = cut + 1 if cut > MAX_SENTENCE_CHARS // 4 else head.rfind(" ")
        if cut <= 0:
            cut = MAX_SENTENCE_CHARS
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    pieces.append(sentence)
    return pieces


def split_sentences(text: str) -> list[Sentence]:
    """Normalized text -> sentences of clauses; empty pieces are dropped."""
    sentences = []
    for chunk in _SENTENCE_END.split(text):
        for piece in _cut_long(chunk.strip()):
            clauses = _clauses(piece)
            if clauses:
                sentences.append(Sentence(clauses))
    return sentences



def boundaries(text: str, start: int = 0) -> list[int]:
    """Where split_sentences may cut `text` (at or after `start`): the end of each sentence
    break, in order."""
    return [match.end() for match in _SENTENCE_END.finditer(text, start)]
