"""Voices in other languages than English: espeak-ng's data for every language (unpacked one
dictionary at a time), phoneme ids equal to piper-tts 1.8.0's in eight languages, no English
rules on other languages, `text` voices, and what goes wrong when the data cannot be unpacked."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import piper_ids
from edgesay import VoiceError
from edgesay.system import paths
from edgesay.text.espeak import Espeak
from edgesay.text.espeak_data import EspeakData, is_english
from edgesay.text.frontend import Frontend
from edgesay.text.normalize import normalize
from edgesay.voice.config import VoiceConfig

LANGUAGES = ("de", "fr", "es", "it", "nl", "pl", "ru", "pt-br")
SENTENCES = Path(__file__).parent / "data" / "languages"


def config_for(espeak_voice: str, phoneme_type: str = "espeak") -> VoiceConfig:
    """The default voice's config (Piper's full phoneme map) in another language."""
    raw = json.loads(paths.default_voice()[1].read_text(encoding="utf-8"))
    raw["espeak"]["voice"] = espeak_voice
    raw["phoneme_type"] = phoneme_type
    return VoiceConfig.from_dict(raw, name=f"test-{espeak_voice}")


@pytest.fixture(scope="module")
def espeak() -> Espeak:
    return Espeak.installed()


def ids_of(frontend: Frontend, text: str) -> list[list[int]]:
    return [frontend.sentence_ids(s) for s in frontend.sentences(text)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_ids_equal_piper(espeak: Espeak, language: str) -> None:
    lines = (SENTENCES / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 25
    frontend = config_for(language).frontend(espeak)
    for line, theirs in zip(lines, piper_ids(lines, language), strict=True):
        assert ids_of(frontend, line) == theirs, line


def test_english_rules_never_touch_another_language(espeak: Espeak) -> None:
    german = config_for("de").frontend(espeak)
    texts = ["Das kostet $4.50 im Laden.", "Am 3. Mai kommen 1.000 Gäste.", "Dr. Weber kommt am 2024-12-24 um 14:30.",
             "Heute ist der 24.12.2024, morgen der 25. Dezember."]
    # The English rules would rewrite most of these (so this test can fail)...
    assert sum(normalize(t) != t for t in texts) >= 2
    # ... but a German voice reads them as Piper does: espeak-ng's own German.
    assert [ids_of(german, t) for t in texts] == [piper_ids([t], "de")[0] for t in texts]
    phonemes = "".join(c.phonemes or "" for t in texts for s in german.sentences(t) for c in s.clauses)
    assert "tˈaʊzənt" in phonemes and "drˈaɪ" in phonemes  # "1.000" is tausend, "3." is drei
    assert "dɔlˈɑː" in phonemes and "dˈɑːlɚ" not in phonemes  # German Dollar, never English dollars


def test_text_voices_read_their_code_points(espeak: Espeak) -> None:
    raw_text = "Hallo, welt."
    frontend = config_for("de", "text").frontend(espeak)
    ours = ids_of(frontend, raw_text)
    id_map = frontend.phoneme_id_map
    expected = [*id_map["^"], *id_map["_"]]
    for char in raw_text:
        if char in id_map:
            expected += [*id_map[char], *id_map["_"]]
    assert ours == [[*expected, *id_map["$"]]]


def test_unsupported_phoneme_type_names_what_is_missing() -> None:
    with pytest.raises(VoiceError, match="phoneme_type 'pinyin' needs a phonemizer edgesay does not have"):
        config_for("cmn", "pinyin")


def test_every_espeak_language_ships_and_reads(tmp_path: Path) -> None:
    data = EspeakData(paths.espeak_data(), paths.espeak_languages(), tmp_path)
    espeak = Espeak(paths.espeak_library(), data)
    full = data.directory("de")
    # Only what German needs is unpacked: its dictionary, not the others.
    assert (full / "de_dict").is_file() and not (full / "ru_dict").exists()
    definitions = data.definitions(full)
    assert len(definitions) > 100
    shipped = json.loads((paths.espeak_languages() / "manifest.json").read_text())["files"]  # type: ignore[operator]
    missing = []
    for definition in definitions:
        name = definition.identifier.rsplit("/", 1)[-1]
        if definition.dictionary != "en" and f"{definition.dictionary}_dict.zst" not in shipped:
            # A few voice files have no dictionary in Piper's data either (Faroese, Pashto...).
            with pytest.raises(VoiceError, match=f"needs dictionary {definition.dictionary}_dict"):
                espeak.check_voice(name)
            missing.append(name)
            continue
        phonemes = "".join(c.phonemes for c in espeak.clauses(name, "1 2 3 ama"))
        assert phonemes.strip(), name
    assert len(missing) < 5, missing
    assert {"de_dict", "ru_dict", "pt_dict", "fr_dict"} <= {p.name for p in full.iterdir()}
    assert not [p for p in full.parent.iterdir() if p.name.endswith(".partial")]


def test_language_names_as_piper_configs_write_them(tmp_path: Path) -> None:
    data = EspeakData(paths.espeak_data(), paths.espeak_languages(), tmp_path)
    espeak = Espeak(paths.espeak_library(), data)
    for name in ("pt-br", "PT-BR", "es-419", "en-gb-x-rp", "cmn", "fa", "ka", "sw", "nb"):
        assert "".join(c.phonemes for c in espeak.clauses(name, "7")).strip(), name
    for name in ("no", "de-de"):  # piper-tts refuses these too
        with pytest.raises(VoiceError, match=f"no voice named '{name}'"):
            espeak.check_voice(name)
    assert is_english("en-gb-x-rp") and is_english("en") and not is_english("eo")


def test_unknown_espeak_voice_is_a_voice_error(tmp_path: Path) -> None:
    espeak = Espeak(paths.espeak_library(), EspeakData(paths.espeak_data(), paths.espeak_languages(), tmp_path))
    with pytest.raises(VoiceError, match="no voice or language named 'xx-nowhere'"):
        espeak.check_voice("xx-nowhere")


def test_a_cache_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    espeak = Espeak(paths.espeak_library(), EspeakData(paths.espeak_data(), paths.espeak_languages(), blocked))
    with pytest.raises(VoiceError, match="cannot unpack espeak-ng's data for 'de' into"):
        espeak.check_voice("de")


def test_an_interrupted_unpack_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    """A full disk (a 1 MB tmpfs: Russian's dictionary is 9 MB) fails cleanly, and once there
    is room the next run starts over and succeeds."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        data = EspeakData(paths.espeak_data(), paths.espeak_languages(), mount)
        espeak = Espeak(paths.espeak_library(), data)
        with pytest.raises(VoiceError, match="No space left on device"):
            espeak.check_voice("ru")
        leftovers = [p.name for p in mount.rglob("*") if p.name.endswith(".partial") or p.name == "ru_dict"]
        assert leftovers == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    data = EspeakData(paths.espeak_data(), paths.espeak_languages(), mount)
    Espeak(paths.espeak_library(), data).check_voice("ru")
    assert (data.full(paths.espeak_languages() or mount) / "ru_dict").stat().st_size > 1_000_000


def test_a_stale_partial_directory_is_ignored(tmp_path: Path) -> None:
    data = EspeakData(paths.espeak_data(), paths.espeak_languages(), tmp_path)
    languages = paths.espeak_languages()
    assert languages is not None
    full = data.full(languages)
    stale = full.parent / f".{full.name}.99999.partial"
    stale.mkdir(parents=True)
    (stale / "phondata").write_text("half")
    assert data.directory("fr") == full and (full / "fr_dict").is_file()
    shutil.rmtree(stale)
    assert os.listdir(full.parent) == [full.name]


@pytest.mark.parametrize("language", ["de", "fr", "ru"])
def test_streamed_input_is_cut_where_espeak_ends_sentences(espeak: Espeak, language: str) -> None:
    """A server's streamed text (text.frontend.StreamedText, as Wyoming's synthesize-chunk
    uses it) spoken piece by piece gives the ids of the whole text."""
    from edgesay.text.frontend import StreamedText

    frontend = config_for(language).frontend(espeak)
    text = " ".join((SENTENCES / f"{language}.txt").read_text(encoding="utf-8").splitlines()[:12])
    streamed, pieces = StreamedText(english=False), []
    for start in range(0, len(text), 7):  # arriving in chunks of 7 characters
        whole = streamed.feed(text[start:start + 7])
        if whole.strip():
            pieces.append(whole)
    pieces.append(streamed.pending)
    assert len(pieces) > 5
    assert [ids for piece in pieces for ids in ids_of(frontend, piece)] == ids_of(frontend, text)


def test_english_first_then_another_language_in_one_process(tmp_path: Path) -> None:
    """The default voice reads the package's English data; a German voice later in the same
    process (a server with both) switches espeak-ng to the full data and still finds German.
    In a fresh process, because espeak-ng's state is process-wide."""
    import sys

    script = ("from edgesay.text.espeak import Espeak\n"
              "e = Espeak.installed()\n"
              "print(e.clauses('en-us', 'Hello.')[0].phonemes)\n"
              "print(e.clauses('de', 'Guten Tag.')[0].phonemes)\n"
              "print(e.clauses('en-us', 'Hello.')[0].phonemes)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "EDGESAY_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["həlˈoʊ", "ɡˈuːtən tˈɑːk", "həlˈoʊ"], result.stdout


BLOCK_TEXTS = ["[[ haɪ ]]", "Say [[ təmˈɑːtoʊ ]] please.", "Hello. [[ ˈɛdʒseɪ ]] is here. And more.",
               "One.[[ wˈʌn ]]two. Three.", "Hi [[ a ]] [[ b ]] there", "[[ ]] Hello",
               "Word [[ x? ]], and [[ é ]] end.",
               "A first sentence. A second one [[ ɡˈoʊ ]] and a third? Yes!", "Unknown [[ Ω ]] phoneme.",
               "[[ hə ]][[ lˈoʊ ]]", "Trailing [[ ɛnd ]]", "Not a block [[ open only.", "x ]] [[ y",
               "Across [[ a\nline ]] is text."]


@pytest.mark.parametrize("language", ["en-us", "de", "fr", "ru"])
def test_phoneme_blocks_give_piper_ids(espeak: Espeak, language: str) -> None:
    """`[[ phonemes ]]` as piper-tts 1.8.0 reads them: where they join the sentences around
    them, spaces, several blocks, unknown phonemes skipped, brackets that are not a block."""
    frontend = config_for(language).frontend(espeak)
    for text, theirs in zip(BLOCK_TEXTS, piper_ids(BLOCK_TEXTS, language), strict=True):
        assert ids_of(frontend, text) == theirs, text
    assert ids_of(frontend, "[[ hə ]]") != ids_of(frontend, "hə")  # a block is not read as a word



@pytest.mark.parametrize("language", ["en-us", "de"])
@pytest.mark.parametrize("size", [1, 2, 5])
def test_streamed_input_is_never_cut_inside_or_before_a_block(espeak: Espeak, language: str, size: int) -> None:
    """Phoneme blocks streamed a few characters at a time give the ids of the whole text: no
    piece ends inside a block, or just before one (it joins the sentence before it)."""
    from edgesay.text.frontend import StreamedText

    frontend = config_for(language).frontend(espeak)
    text = ("Hello there. [[ ˈɛdʒseɪ. ]] is here. It speaks [[ wˈʌn. tˈuː! ]]. Then this. "
            "[[ unclosed. It goes on. And [[ a ]][[ b ]]. Done. Last [[ ɛnd ]]")
    streamed, pieces = StreamedText(english=language == "en-us"), []
    for start in range(0, len(text), size):
        whole = streamed.feed(text[start:start + size])
        if whole:
            pieces.append(whole)
    pieces.append(streamed.pending)
    assert len(pieces) == 3, pieces  # cut after "is here." and "Done.": not inside, before or at a block
    assert [ids for piece in pieces for ids in ids_of(frontend, piece)] == ids_of(frontend, text)
