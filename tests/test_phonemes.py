"""espeak-ng phonemes (exact strings) and phoneme-id parity with piper-tts 1.8.0."""

from pathlib import Path

import pytest

from conftest import piper_ids
from edgesay.text.frontend import text_to_sentences
from edgesay.text.sentences import Clause


@pytest.mark.parametrize(("text", "terminator", "phonemes"), [
    ("Good morning", ".", "ɡˈʊd mˈɔːɹnɪŋ."),
    ("the old radio", ",", "ðɪʲ ˈoʊld ɹˈeɪdɪʲˌoʊ, "),  # the glide Piper's espeak-ng writes as ʲ
    ("Can you hear me clearly", "?", "kæn juː hˈɪɹ mˌiː klˈɪɹli?"),
    ("Error", ":", "ˈɛɹɚ: "),
    ("has been made", "", "hɐzbɪn mˈeɪd"),  # Piper's dictionary, not the loader's
])
def test_clause_phonemes(engine, text: str, terminator: str, phonemes: str) -> None:  # type: ignore[no-untyped-def]
    assert engine.espeak.clause_phonemes("en-us", Clause(text, terminator)) == phonemes


def test_unknown_espeak_voice_is_a_clear_error(engine) -> None:  # type: ignore[no-untyped-def]
    from edgesay.errors import VoiceError

    with pytest.raises(VoiceError, match="no voice or language named 'xx-nowhere'"):
        engine.espeak.clause_phonemes("xx-nowhere", Clause("hi", ""))


def test_ids_equal_piper_on_the_shared_sentences(engine, eval_sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    # Compared per sentence of ours, on our normalized text: where normalization deliberately
    # differs from Piper (money, abbreviations...), both engines read the same words.
    sentences = [s for line in eval_sentences for s in text_to_sentences(line)]
    reference = piper_ids([s.text for s in sentences])
    for sentence, theirs in zip(sentences, reference, strict=True):
        assert len(theirs) == 1, f"espeak-ng split {sentence.text!r} differently"
        assert engine.sentence_ids(sentence) == theirs[0], sentence.text


def test_ids_equal_piper_where_normalization_changes_nothing(engine, eval_sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    untouched = [line for line in eval_sentences if [s.text for s in text_to_sentences(line)] == [line]]
    assert len(untouched) >= 6
    for line, theirs in zip(untouched, piper_ids(untouched), strict=True):
        assert [engine.sentence_ids(s) for s in text_to_sentences(line)] == theirs, line


def test_ids_equal_piper_on_a_long_english_text(engine) -> None:  # type: ignore[no-untyped-def]
    # 300 clauses of the GPL's preamble and terms: a wider net than 12 sentences.
    text = (Path(__file__).resolve().parents[1] / "COPYING").read_text()
    clauses = [c.strip() for c in text.replace("\n", " ").split(". ") if 20 < len(c.strip()) < 300][:300]
    clauses = [c for c in clauses if not any(ch in c for ch in "()\"'[]:;,.?!-/")]
    reference = piper_ids(clauses)
    for clause, theirs in zip(clauses, reference, strict=True):
        ours = [engine.sentence_ids(s) for s in text_to_sentences(clause)]
        assert ours == theirs, clause
