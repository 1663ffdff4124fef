"""A pronunciation lexicon: words said the user's way, a product, a street, a name.

A lexicon file is UTF-8 text, one entry per line, `word<TAB>how to say it`; blank lines and
lines starting with `#` are skipped. How to say it is either a respelling ("Nguyen" -> "win")
or Piper's phoneme block ("edgesay" -> "[[ ˈɛdʒseɪ ]]"). Entries apply to whole words of the
text as written, before numbers and abbreviations are read:

- a word written in lower case matches it in any case ("edgesay" matches "Edgesay", "EDGESAY");
- a word with a capital letter matches only as written ("US" does not match "us");
- a word may be several words ("Main St"), and the longest entry wins where entries overlap;
- of two entries for the same word, the later one wins (files are read in the order given).

Every voice reads `lexicon/<language>.txt` and `lexicon/<espeak-ng voice>.txt` from edgesay's
config folder ($XDG_CONFIG_HOME/edgesay, else ~/.config/edgesay) if they exist, then the files
given with --lexicon.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..system import paths

_BLOCK = re.compile(r"\[\[(.*)\]\]")


class LexiconError(InputError):
    """A lexicon file cannot be read or has a malformed line: it names the file and line."""


@dataclass(frozen=True)
class Entry:
    word: str
    said: str  # a respelling, or a "[[ phonemes ]]" block
    where: str  # "file:line", for errors

    @property
    def phonemes(self) -> str | None:
        """A block's phonemes (None for a respelling)."""
        block = _BLOCK.fullmatch(self.said)
        return block.group(1).strip() if block else None


def default_files(espeak_voice: str) -> list[Path]:
    """The lexicons every voice of this espeak-ng voice reads, the language's first."""
    folder = paths.config_dir() / "lexicon"
    names = dict.fromkeys([espeak_voice.split("-")[0], espeak_voice])
    return [folder / f"{name}.txt" for name in names if (folder / f"{name}.txt").is_file()]


def read(path: Path) -> list[Entry]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise LexiconError(f"cannot read lexicon {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LexiconError(f"lexicon {path} is not UTF-8 (byte {exc.start + 1})") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        fields = line.split("\t")
        if len(fields) != 2:
            raise LexiconError(f"{where}: expected a word, a tab and how to say it; found {len(fields) - 1} tabs")
        word, said = fields[0].strip(), fields[1].strip()
        if not word or not said:
            raise LexiconError(f"{where}: the {'word' if not word else 'way to say it'} is empty")
        if "[[" in word or "]]" in word:
            raise LexiconError(f"{where}: the word may not hold a phoneme block")
        if ("[[" in said or "]]" in said) and not _BLOCK.fullmatch(said):
            raise LexiconError(f"{where}: a phoneme block must be all of the line's second field: [[ phonemes ]]")
        entry = Entry(word, said, where)
        if entry.phonemes == "" or (entry.phonemes and ("[[" in entry.phonemes or "]]" in entry.phonemes)):
            raise LexiconError(f"{where}: the phoneme block is empty or not one block")
        entries.append(entry)
    return entries


class Lexicon:
    """Entries, applied to a text in one pass (one pattern of every word, longest first)."""

    def __init__(self, entries: Sequence[Entry] = ()) -> None:
        self.entries = list(entries)
        self._exact: dict[str, Entry] = {}
        self._folded: dict[str, Entry] = {}
        for entry in self.entries:
            if entry.word == entry.word.lower():
                self._folded[entry.word] = entry
            else:
                self._exact[entry.word] = entry
        words = sorted({*self._exact, *self._folded}, key=len, reverse=True)
        self._pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE) \
            if words else None

    @classmethod
    def load(cls, espeak_voice: str, files: Iterable[Path] = ()) -> "Lexicon":
        """The default files for this espeak-ng voice, then `files`."""
        return cls([entry for path in [*default_files(espeak_voice), *files] for entry in read(path)])

    @classmethod
    def for_voice(cls, espeak_voice: str, phoneme_id_map: Mapping[str, Sequence[int]], reads_phonemes: bool,
                  files: Iterable[Path] = ()) -> "Lexicon":
        """`load`, then `check` against the voice: what a voice says words with."""
        lexicon = cls.load(espeak_voice, files)
        lexicon.check(phoneme_id_map, reads_phonemes)
        return lexicon

    def __bool__(self) -> bool:
        return bool(self.entries)

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text

        def said(match: re.Match[str]) -> str:
            found = match.group()
            entry = self._exact.get(found) or self._folded.get(found.lower())
            # Matched without case but written with a capital: only the exact spelling counts.
            return found if entry is None else entry.said

        return self._pattern.sub(said, text)

    def check(self, phoneme_id_map: Mapping[str, Sequence[int]], reads_phonemes: bool) -> None:
        """Every block's phonemes are ones `voice` knows (a phoneme Piper would skip silently is
        a mistake in a file someone keeps)."""
        for entry in self.entries:
            if entry.phonemes is None:
                continue
            if not reads_phonemes:
                raise LexiconError(f"{entry.where}: this voice reads letters, not phonemes: use a respelling")
            unknown = [p for p in dict.fromkeys(entry.phonemes) if p != " " and p not in phoneme_id_map]
            if unknown:
                raise LexiconError(f"{entry.where}: phoneme {unknown[0]!r} is not one this voice has")
