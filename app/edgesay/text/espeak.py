"""Clauses -> IPA phonemes with espeak-ng, loaded through ctypes (no system install).

The library and its data ship inside our package (from the espeakng-loader wheel, which
exists for x86_64 and aarch64). Its output equals Piper's fork of espeak-ng except for one
phoneme: the palatal glide `;` that English inserts after an /i/ before a vowel ("the old",
"radio"). Upstream 1.52 prints it as nothing in IPA mode; Piper's fork prints `ʲ`, and
Piper voices were trained on that. We ask for each clause twice, as IPA and as espeak-ng's
own mnemonics, both with a phoneme separator; the two lists align one to one, and where the
mnemonic is `;` we write `ʲ`. (Other phonemes print as nothing in IPA too, so an empty IPA
slot alone does not identify the glide.)
"""

import ctypes
import re
import threading
from pathlib import Path

from ..errors import PhonemizerError
from .sentences import Clause

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_SEPARATOR = "_"  # never part of espeak-ng's IPA output
_PHONEMES_IPA_SEPARATED = 0x02 | (ord(_SEPARATOR) << 8)
_PHONEMES_MNEMONIC_SEPARATED = 0x00 | (ord(_SEPARATOR) << 8)
_GLIDE_MNEMONIC = ";"
_GLIDE = "ʲ"
# espeak-ng marks words it read in another language as "(fr)...(en)": not phonemes.
_LANGUAGE_FLAG = re.compile(r"\([^()]*\)")
# espeak-ng keeps global state: one caller at a time, whatever thread it is on. Its voice and
# data are process-wide too, so they are tracked here and not per Espeak: initializing again
# (a second engine) unloaded the voice under the first engine's feet, and it crashed.
_LOCK = threading.Lock()
_STATE: dict[str, str] = {"data": "", "voice": ""}


class Espeak:
    """A loaded espeak-ng: `clause_phonemes` turns one clause into an IPA string."""

    def __init__(self, library: Path, data: Path) -> None:
        try:
            lib = ctypes.CDLL(str(library))
        except OSError as exc:
            raise PhonemizerError(f"cannot load espeak-ng from {library}: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        with _LOCK:
            if _STATE["data"] != str(data):
                if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), 0) <= 0:
                    raise PhonemizerError(f"espeak-ng could not read its data in {data}")
                _STATE.update(data=str(data), voice="")
        self._lib = lib

    def _set_voice(self, voice: str) -> None:
        if voice != _STATE["voice"]:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise PhonemizerError(f"espeak-ng has no voice named {voice!r}")
            _STATE["voice"] = voice

    def _pieces(self, text: str, mode: int) -> list[str]:
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(buffer))
        pieces = []
        while pointer.value:
            out = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, mode)
            pieces.append(out.decode("utf-8", "replace") if out else "")
        return pieces

    def clause_phonemes(self, voice: str, clause: Clause) -> str:
        """One clause -> its IPA phonemes with Piper's punctuation conventions."""
        with _LOCK:
            self._set_voice(voice)
            ipa = self._pieces(clause.text, _PHONEMES_IPA_SEPARATED)
            mnemonics = self._pieces(clause.text, _PHONEMES_MNEMONIC_SEPARATED)
        # espeak-ng may still split a clause (parentheses, very long runs); Piper joins
        # such pieces with nothing between them, and so do we.
        phonemes = "".join(_with_glides(i, m) for i, m in zip(ipa, mnemonics, strict=True))
        phonemes += clause.terminator
        if clause.terminator in (",", ":", ";"):
            phonemes += " "
        return phonemes


def _with_glides(ipa: str, mnemonics: str) -> str:
    """Join separated IPA phonemes, writing `ʲ` where the mnemonic is the glide `;`."""
    ipa_words = _LANGUAGE_FLAG.sub("", ipa).split(" ")
    mnemonic_words = _LANGUAGE_FLAG.sub("", mnemonics).split(" ")
    if len(ipa_words) != len(mnemonic_words):
        return " ".join(w.replace(_SEPARATOR, "") for w in ipa_words)
    return " ".join(_word_with_glides(i, m) for i, m in zip(ipa_words, mnemonic_words, strict=True))


def _word_with_glides(ipa: str, mnemonic: str) -> str:
    # Aligned from the left: a few pause phonemes at a word's end print as two slots in
    # one mode and one in the other, so the lists can differ in length only there.
    slots, names = ipa.split(_SEPARATOR), mnemonic.split(_SEPARATOR)
    return "".join(
        _GLIDE if i < len(names) and names[i] == _GLIDE_MNEMONIC else slot for i, slot in enumerate(slots)
    )
