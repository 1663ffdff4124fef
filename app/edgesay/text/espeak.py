"""Text -> IPA phonemes with espeak-ng, loaded through ctypes (no system install).

The library is Piper's own build (system/paths.espeak_library) and is called as Piper calls it:
`espeak_TextToPhonemesWithTerminator` clause by clause, each clause's punctuation mark and
whether it ends a sentence read from the terminator espeak-ng reports. So the phonemes, and
where espeak-ng ends clauses and sentences, are Piper's by construction, in every language.
"""

import ctypes
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import PhonemizerError, VoiceError
from ..system import paths
from .espeak_data import EspeakData
from .phoneme_ids import with_punctuation
from .sentences import Clause

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_AUTO = 0  # UTF-8, as Piper passes it
_PHONEMES_IPA = 0x02
# espeak-ng's clause types (its translate.h), as Piper's espeakbridge names them: the pause
# length, the intonation and the clause/sentence flag.
_SENTENCE = 0x00080000
_CLAUSE = 0x00040000
_TERMINATORS = {
    40 | 0x0000 | _SENTENCE: ".",
    40 | 0x2000 | _SENTENCE: "?",
    45 | 0x3000 | _SENTENCE: "!",
    20 | 0x1000 | _CLAUSE: ",",
    30 | 0x0000 | _CLAUSE: ":",
    30 | 0x1000 | _CLAUSE: ";",
}
# espeak-ng marks words it read in another language as "(fr)...(en)": not phonemes.
_LANGUAGE_FLAG = re.compile(r"\([^)]+\)")
# espeak-ng keeps global state: one caller at a time, whatever thread it is on. Its voice and
# data are process-wide too, so they are tracked here and not per Espeak: initializing again
# (a second engine) unloaded the voice under the first engine's feet, and it crashed.
_LOCK = threading.Lock()
_STATE: dict[str, str] = {"data": "", "voice": ""}


@dataclass(frozen=True)
class EspeakClause:
    """One clause as espeak-ng found it."""

    phonemes: str  # IPA, language flags removed
    terminator: str  # ". ? ! , : ;" or "" (another pause, or the text just stops)
    ends_sentence: bool
    source: str  # the text espeak-ng consumed for it

    def piper_phonemes(self) -> str:
        """With Piper's punctuation: the mark kept, and a space after a clause mark."""
        return with_punctuation(self.phonemes, self.terminator)


class Espeak:
    """A loaded espeak-ng: `clauses` reads a text in one espeak-ng voice."""

    def __init__(self, library: Path, data: EspeakData) -> None:
        try:
            lib = ctypes.CDLL(str(library))
        except OSError as exc:
            raise PhonemizerError(f"cannot load espeak-ng from {library}: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ListVoices.restype = ctypes.c_void_p
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_TextToPhonemesWithTerminator.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemesWithTerminator.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        self._lib = lib
        self.data = data

    @classmethod
    def installed(cls) -> "Espeak":
        """The espeak-ng library and data this package (or binary) carries."""
        data = EspeakData(paths.espeak_data(), paths.espeak_languages(), paths.cache_dir())
        return cls(paths.espeak_library(), data)

    def check_voice(self, voice: str) -> None:
        """Raise VoiceError now if espeak-ng cannot read `voice` (a voice load calls this)."""
        with _LOCK:
            self._set_voice(voice)

    def _set_voice(self, voice: str) -> None:
        directory = str(self.data.directory(voice))
        if directory == str(self.data.english) and _STATE["data"] and _STATE["data"] != directory:
            directory = _STATE["data"]  # the full directory serves English too: no re-initializing
        if _STATE["data"] != directory:
            if self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, directory.encode(), 0) <= 0:
                raise PhonemizerError(f"espeak-ng could not read its data in {directory}")
            # espeak-ng keeps the list of voices it found in the first directory it read (only
            # English, in the package's); listing them again reads the new directory's.
            self._lib.espeak_ListVoices(None)
            _STATE.update(data=directory, voice="")
        if voice != _STATE["voice"]:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise VoiceError(f"espeak-ng has no voice named {voice!r}")
            _STATE["voice"] = voice

    def clauses(self, voice: str, text: str) -> list[EspeakClause]:
        """`text` read in `voice`, clause by clause, as espeak-ng splits it."""
        encoded = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(encoded)
        start = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(start)
        terminator = ctypes.c_int(0)
        found = []
        with _LOCK:
            self._set_voice(voice)
            while pointer.value:
                before = pointer.value - start
                out = self._lib.espeak_TextToPhonemesWithTerminator(
                    ctypes.byref(pointer), _CHARS_AUTO, _PHONEMES_IPA, ctypes.byref(terminator))
                after = pointer.value - start if pointer.value else len(encoded)
                kind = terminator.value & 0x000FFFFF
                phonemes = _LANGUAGE_FLAG.sub("", out.decode("utf-8", "replace") if out else "")
                source = encoded[before:after].decode("utf-8", "replace")
                found.append(EspeakClause(phonemes, _TERMINATORS.get(kind, ""), bool(kind & _SENTENCE), source))
        return found

    def clause_phonemes(self, voice: str, clause: Clause) -> str:
        """One clause of our own split (English) -> its IPA phonemes with Piper's punctuation.
        espeak-ng may still cut it (parentheses, very long runs): those pieces keep the marks
        espeak-ng gives them, as in Piper; the last one ends with the clause's own mark."""
        pieces = self.clauses(voice, clause.text)
        head = "".join(piece.piper_phonemes() for piece in pieces[:-1])
        last = pieces[-1].phonemes if pieces else ""
        return head + with_punctuation(last, clause.terminator)
