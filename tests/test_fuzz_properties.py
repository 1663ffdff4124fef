"""Property-based tests of the text front end (hypothesis): whatever Unicode comes in, the result
is phoneme ids the voice knows, or audio, or an InputError; never another exception, and never
a hang (a generous time bound per character, against pathological regular expressions).
The coverage-guided fuzzer of the same front end is `just fuzz` (tests/fuzz/frontend.py)."""

import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgesay import InputError, SynthesisSettings
from edgesay.text.frontend import text_to_sentences

# Whole Unicode minus surrogates (not encodable, so never in a decoded str), with extra weight
# on what text from the field has: digits, punctuation, currency, dates, emoji, other scripts.
FIELD = st.sampled_from([*"0123456789.,;:!?-'\"()$€£%&@#/ \n\t", "Mr.", "Dr.", "St.", "2024-05-03", "12:30",
                         "1st", "3.14", "😀", "ß", "ﬁ"])
TEXT = st.lists(st.one_of(st.characters(blacklist_categories=("Cs",)), FIELD), max_size=300).map("".join)
SECONDS_PER_CHAR = 0.02  # 100x what the front end needs (about 0.2 ms per character measured)


def _bound(text: str) -> float:
    return 2.0 + SECONDS_PER_CHAR * len(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
@example("")
@example("\u0000\u0007\u001b[31m")
@example("." * 5000)
@example("1" * 400)
@example("$" + "9" * 60)
@example("a" * 1000)
@example("\u202e\u200b\ufeff\u00ad")
def test_any_text_gives_known_ids_or_an_input_error(balanced, text: str) -> None:  # type: ignore[no-untyped-def]
    known = {i for ids in balanced.config.phoneme_id_map.values() for i in ids}
    started = time.perf_counter()
    try:
        sentences = text_to_sentences(text)
        for sentence in sentences:
            ids = balanced.sentence_ids(sentence)
            assert set(ids) <= known
    except InputError:
        pass
    assert time.perf_counter() - started < _bound(text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.characters(blacklist_categories=("Cs",)), FIELD), max_size=60).map("".join))
def test_any_text_gives_audio_or_an_input_error(balanced, text: str) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        chunks = [c.samples.copy() for c in balanced.synthesize(text, SynthesisSettings(noise_scale=0.0))]
    except InputError:
        return
    for chunk in chunks:
        assert chunk.dtype == np.int16 and chunk.ndim == 1
    assert time.perf_counter() - started < 10 * _bound(text)  # synthesis itself: about 0.1x real time


CORPUS = Path(__file__).parent / "fuzz" / "corpus"


def test_the_fuzz_corpus_replays(balanced) -> None:  # type: ignore[no-untyped-def]
    """What `just fuzz` found interesting (and any crash it ever found, saved there) stays covered."""
    known = {i for ids in balanced.config.phoneme_id_map.values() for i in ids}
    inputs = sorted(CORPUS.iterdir())
    assert len(inputs) >= 4
    for path in inputs:
        text = path.read_bytes().decode("utf-8", "replace")
        try:
            for sentence in text_to_sentences(text):
                assert set(balanced.sentence_ids(sentence)) <= known
        except InputError:
            pass
