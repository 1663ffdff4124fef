"""Pronunciation lexicons (text/lexicon.py): the file format and its errors, the matching rules,
phoneme checks against a voice, and the lexicon through the real command and server."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from edgesay.text.lexicon import Entry, Lexicon, LexiconError, read


def lexicon(tmp_path: Path, text: str, name: str = "words.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("edgesay ˈɛdʒseɪ\n", "words.txt:1: expected a word, a tab and how to say it; found 0 tabs"),
    ("# ok\n\nok\tfine\nbad\tone\ttwo\n", "words.txt:4: expected a word, a tab and how to say it; found 2 tabs"),
    ("\tsomething\n", "words.txt:1: the word is empty"),
    ("word\t \n", "words.txt:1: the way to say it is empty"),
    ("word\tsay [[ x ]] this\n", "words.txt:1: a phoneme block must be all of the line's second field"),
    ("word\t[[ ]]\n", "words.txt:1: the phoneme block is empty or not one block"),
    ("[[x]]\tword\n", "words.txt:1: the word may not hold a phoneme block"),
])
def test_a_malformed_line_names_its_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LexiconError, match=re.escape(message)):
        read(lexicon(tmp_path, text))


def test_unreadable_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match=r"cannot read lexicon .*missing\.txt"):
        read(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes("café\tkafe\n".encode("latin-1"))
    with pytest.raises(LexiconError, match=r"latin1\.txt is not UTF-8"):
        read(tmp_path / "latin1.txt")


def test_matching_rules() -> None:
    words = Lexicon([Entry("edgesay", "[[ ˈɛdʒseɪ ]]", "a:1"), Entry("US", "you ess", "a:2"),
                     Entry("Main St", "main street", "a:3"), Entry("main", "mane", "a:4"),
                     Entry("nguyen", "win", "a:5"), Entry("nguyen", "nwin", "a:6")])
    # Lower case matches any case; a capital only as written; whole words only.
    assert words.apply("Edgesay, EDGESAY and edgesays.") == "[[ ˈɛdʒseɪ ]], [[ ˈɛdʒseɪ ]] and edgesays."
    assert words.apply("The US and us.") == "The you ess and us."
    # The longest entry wins where entries overlap; the later of two entries for a word wins.
    assert words.apply("At Main St and main road.") == "At main street and mane road."
    assert words.apply("Nguyen's") == "nwin's"
    assert Lexicon().apply("Nothing changes.") == "Nothing changes."


def test_phonemes_are_checked_against_the_voice() -> None:
    id_map = {"a": [1], "b": [2]}
    Lexicon([Entry("ab", "[[ a b ]]", "f:1")]).check(id_map, reads_phonemes=True)
    with pytest.raises(LexiconError, match="f:2: phoneme 'ʒ' is not one this voice has"):
        Lexicon([Entry("ab", "[[ a b ]]", "f:1"), Entry("x", "[[ aʒ ]]", "f:2")]).check(id_map, True)
    with pytest.raises(LexiconError, match="f:1: this voice reads letters, not phonemes"):
        Lexicon([Entry("ab", "[[ a b ]]", "f:1")]).check(id_map, reads_phonemes=False)
    Lexicon([Entry("ab", "bee", "f:1")]).check(id_map, reads_phonemes=False)  # respellings are fine


def speak(tmp_path: Path, name: str, text: str, *args: str, env: dict[str, str] | None = None) -> np.ndarray:
    out = tmp_path / f"{name}.wav"
    result = run_cli("--text", text, "-o", str(out), "--noise-scale", "0", "--noise-w", "0", *args,
                     env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return sf.read(out, dtype="int16")[0]


def test_the_command_says_words_as_the_lexicon_says(tmp_path: Path) -> None:
    words = lexicon(tmp_path, "# how our things are said\nedgesay\t[[ ˈɛdʒseɪ ]]\nKoch\tcoke\n")
    with_lexicon = speak(tmp_path, "with", "Edgesay runs at Koch's house.", "--lexicon", str(words))
    as_written = speak(tmp_path, "written", "[[ ˈɛdʒseɪ ]] runs at coke's house.")
    without = speak(tmp_path, "without", "Edgesay runs at Koch's house.")
    assert np.array_equal(with_lexicon, as_written)
    assert not np.array_equal(with_lexicon, without)


def test_the_languages_default_file_is_read_and_flags_come_after_it(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "edgesay" / "lexicon").mkdir(parents=True)
    (config / "edgesay" / "lexicon" / "en.txt").write_text("tomato\ttomahto\nbasil\tbazil\n", encoding="utf-8")
    later = lexicon(tmp_path, "basil\tbayzil\n")
    env = {"XDG_CONFIG_HOME": str(config)}
    ours = speak(tmp_path, "ours", "Tomato and basil.", "--lexicon", str(later), env=env)
    assert np.array_equal(ours, speak(tmp_path, "respelled", "tomahto and bayzil."))


def test_a_bad_lexicon_is_one_line_and_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    bad = lexicon(tmp_path, "edgesay\t[[ ˈɛdʒseɪ ]]\nthing\t[[ Ω ]]\n")
    result = run_cli("--text", "Hi.", "-o", str(out), "--lexicon", str(bad))
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.decode().strip().splitlines() == [
        f"edgesay: {bad}:2: phoneme 'Ω' is not one this voice has"]


def test_the_server_reads_the_lexicon(tmp_path: Path) -> None:
    from test_serve import free_port, post, start, stop, wav

    words = lexicon(tmp_path, "edgesay\tedge say\n")
    port = free_port()
    s = start(tmp_path, "--http", f"127.0.0.1:{port}", "--noise-scale", "0", "--noise-w-scale", "0",
              "--lexicon", str(words))
    try:
        status, _, body = post(port, {"text": "Edgesay speaks."})
        assert status == 200
        assert np.array_equal(wav(body)[0], wav(post(port, {"text": "edge say speaks."})[2])[0])
    finally:
        assert stop(s) == 0
    bad = lexicon(tmp_path, "no tab here\n", "bad.txt")
    result = run_cli("serve", "--http", f"127.0.0.1:{free_port()}", "--lexicon", str(bad))
    assert result.returncode == 2
    assert result.stderr.decode().strip().splitlines()[-1] == \
        f"edgesay: {bad}:1: expected a word, a tab and how to say it; found 0 tabs"


def test_the_field_testing_screen_loads_its_lexicons(tmp_path: Path) -> None:
    from edgesay.tui.app import Choices, EdgesayApp

    words = lexicon(tmp_path, "edgesay\t[[ ˈɛdʒseɪ ]]\n")
    engine = EdgesayApp._load_engine(Choices(None, "balanced", 2, (words,)))
    assert engine.lexicon.apply("I use Edgesay.") == "I use [[ ˈɛdʒseɪ ]]."
    with pytest.raises(LexiconError, match=r"words\.txt:1"):
        EdgesayApp._load_engine(Choices(None, "balanced", 2, (lexicon(tmp_path, "no tab\n"),)))
