"""Phoneme strings -> the integer ids a Piper voice was trained on (Piper's exact rules)."""

import unicodedata
from collections.abc import Mapping, Sequence

BOS, EOS, PAD = "^", "$", "_"


def with_punctuation(phonemes: str, terminator: str) -> str:
    """A clause's phonemes with Piper's punctuation: its mark kept, and a space after a clause
    mark (`, : ;`), which does not end the sentence."""
    return phonemes + terminator + (" " if terminator in (",", ":", ";") else "")


def split_phonemes(phonemes: str, clusters: frozenset[tuple[str, ...]] = frozenset()) -> list[str]:
    """One phoneme per code point after NFD (so accents become their own phonemes),
    with the voice's known vowel clusters merged back, longest first."""
    points = list(unicodedata.normalize("NFD", phonemes))
    if not clusters:
        return points
    longest = max(len(c) for c in clusters)
    merged: list[str] = []
    i = 0
    while i < len(points):
        for n in range(min(longest, len(points) - i), 1, -1):
            if tuple(points[i:i + n]) in clusters:
                merged.append("".join(points[i:i + n]))
                i += n
                break
        else:
            merged.append(points[i])
            i += 1
    return merged


def phonemes_to_ids(phonemes: Sequence[str], id_map: Mapping[str, Sequence[int]]) -> list[int]:
    """BOS PAD (phoneme PAD)* EOS, through the voice's `phoneme_id_map`; phonemes the voice does
    not know are skipped, as Piper does."""
    pad = id_map[PAD]
    ids = [*id_map[BOS], *pad]
    for phoneme in phonemes:
        known = id_map.get(phoneme)
        if known is not None:
            ids += [*known, *pad]
    ids += id_map[EOS]
    return ids
