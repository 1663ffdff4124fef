"""SSML (text/ssml.py): what each element reads as, errors with their position, hostile
documents, fuzzing of the parser, and SSML through the engine, the command and the server."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import run_cli, speak
from edgesay import InputError, SynthesisSettings
from edgesay.text.ssml import Pause, Said, is_ssml, parse

RATE = 22050


def said(document: str, english: bool = True) -> str:
    """The text of a document without breaks, spaces collapsed."""
    return " ".join("".join(p.text for p in parse(document, english) if isinstance(p, Said)).split())


@pytest.mark.parametrize(("element", "text"), [
    ('<say-as interpret-as="characters">ABC1</say-as>', "A B C one"),
    ('<say-as interpret-as="spell-out">ok</say-as>', "O K"),
    ('<say-as interpret-as="cardinal">1,250</say-as>', "one thousand two hundred fifty"),
    ('<say-as interpret-as="cardinal">-3.5</say-as>', "minus three point five"),
    ('<say-as interpret-as="ordinal">21</say-as>', "twenty first"),
    ('<say-as interpret-as="ordinal">3rd</say-as>', "third"),
    ('<say-as interpret-as="digits">2048</say-as>', "two zero four eight"),
    ('<say-as interpret-as="date" format="mdy">12/06/2026</say-as>', "December sixth, twenty twenty six"),
    ('<say-as interpret-as="date" format="dmy">6.12.2026</say-as>', "December sixth, twenty twenty six"),
    ('<say-as interpret-as="date">2026-12-06</say-as>', "December sixth, twenty twenty six"),
    ('<say-as interpret-as="date" format="md">12/06</say-as>', "December sixth"),
    ('<say-as interpret-as="date" format="mdy">13/45/2026</say-as>', "13/45/2026"),  # not a date: as written
    ('<say-as interpret-as="time">14:30</say-as>', "14:30"),  # the English rules read it (fourteen thirty)
    ('<say-as interpret-as="telephone">555-0123</say-as>', "five five five, zero one two three"),
    ('<sub alias="World Wide Web">WWW</sub>', "World Wide Web"),
    ('<phoneme alphabet="ipa" ph="təmˈɑːtoʊ">tomato</phoneme>', "[[ təmˈɑːtoʊ ]]"),
    ("<emphasis>loud</emphasis> <mark name='x'/>words", "loud words"),
    ("<audio src='chime.wav'>a chime</audio>", "a chime"),
])
def test_elements_read_as(element: str, text: str) -> None:
    assert said(f"<speak>{element}</speak>") == text


def test_other_languages_leave_numbers_to_espeak() -> None:
    assert said('<speak><say-as interpret-as="cardinal">1250</say-as></speak>', english=False) == "1250"
    assert said('<speak><say-as interpret-as="ordinal">3</say-as></speak>', english=False) == "3."
    assert said('<speak><say-as interpret-as="digits">204</say-as></speak>', english=False) == "2 0 4"


def test_breaks_prosody_and_languages_make_runs() -> None:
    parts = parse('<speak xml:lang="en-US">One <break time="750ms"/>two <break strength="strong"/>'
                  '<prosody rate="slow">three <prosody rate="50%">four</prosody></prosody> '
                  '<lang xml:lang="de-DE">fünf</lang> <s>six</s></speak>', True)
    runs = [(p.text.strip(), p.rate, p.language) for p in parts if isinstance(p, Said) and p.text.strip()]
    assert runs == [("One", 1.0, "en-US"), ("two", 1.0, "en-US"), ("three", 0.75, "en-US"),
                    ("four", 0.375, "en-US"), ("fünf", 1.0, "de-DE"), ("six", 1.0, "en-US")]
    assert [p.seconds for p in parts if isinstance(p, Pause)] == [0.75, 0.75]


@pytest.mark.parametrize(("document", "message"), [
    ("<speak>Hello", "SSML is not well-formed at line 1, column 13: no element found"),
    ("<speak>\n  <s>Hi</x></speak>", "SSML is not well-formed at line 2, column 10: mismatched tag"),
    ("<p>Hi</p>", "SSML must be one <speak> element; this one is <p>"),
    ('<speak><break time="forever"/></speak>', 'must be like "500ms" or "1.5s"'),
    ('<speak><break time="11s"/></speak>', "is over 10 s"),
    ('<speak><break strength="huge"/></speak>', "strength> must be one of"),
    ('<speak><prosody rate="warp">x</prosody></speak>', 'rate="warp" must be'),
    ('<speak><prosody rate="x-fast"><prosody rate="x-fast"><prosody rate="x-fast">x</prosody></prosody>'
     '</prosody></speak>', "makes the speed 5.35938x; it must be 0.25 to 4x"),
    ('<speak><say-as interpret-as="music">x</say-as></speak>', "interpret-as='music' is not read"),
    ('<speak><sub>x</sub></speak>', "needs an alias"),
    ('<speak><phoneme alphabet="x-sampa" ph="a">x</phoneme></speak>', "alphabet 'x-sampa' is not read"),
    ('<speak>' + "<s>" * 40 + "deep" + "</s>" * 40 + "</speak>", "nested more than 32 deep"),
])
def test_invalid_ssml_is_one_clear_error(document: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse(document, True)


@pytest.mark.parametrize("document", [
    # The billion laughs: entities that expand to gigabytes.
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><speak>&lol3;</speak>',
    # An external entity: reading a file of the server's.
    '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY secret SYSTEM "file:///etc/passwd">]><speak>&secret;</speak>',
    '<!DOCTYPE speak SYSTEM "http://example.invalid/speak.dtd"><speak>hi</speak>',
])
def test_hostile_documents_are_refused(document: str) -> None:
    with pytest.raises(InputError, match="may not declare a DTD or entities"):
        parse(document, True)


def test_what_counts_as_ssml() -> None:
    assert is_ssml("<speak>Hi</speak>") and is_ssml('  <?xml version="1.0"?>\n<speak>Hi</speak>')
    assert not is_ssml("Hi <speak>") and not is_ssml("<b>Hi</b>")


XML_PIECES = st.sampled_from(["<speak>", "</speak>", "<s>", "</s>", "<p>", "</p>", '<break time="1s"/>',
                              '<prosody rate="fast">', "</prosody>", '<say-as interpret-as="digits">',
                              "</say-as>", "<!--", "-->", "&amp;", "&lt;", "&bogus;", "<![CDATA[", "]]>", "<?pi x?>",
                              '<lang xml:lang="fr">', "</lang>", "[[", "]]", '"', "'", "<", ">", "&"])
DOCUMENTS = st.lists(st.one_of(st.text(max_size=20), XML_PIECES), max_size=60).map(lambda parts: "".join(parts))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
@example("<speak>" * 10000)
@example("<speak>" + "<s>" * 1000 + "</speak>")
def test_any_document_parses_or_is_an_input_error(document: str) -> None:
    try:
        parts = parse(document, True)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(p, Said | Pause) for p in parts)


def test_the_engine_reads_ssml_as_the_text_it_stands_for(engine) -> None:  # type: ignore[no-untyped-def]
    quiet = {"noise_scale": 0.0, "noise_w": 0.0}
    document = ('<speak>Call <say-as interpret-as="telephone">555-0123</say-as> at '
                '<say-as interpret-as="date" format="mdy">12/06/2026</say-as>.</speak>')
    ours = np.concatenate([c.samples.copy() for c in engine.synthesize(
        document, SynthesisSettings(normalize=False, **quiet), ssml=True)])
    plain = speak(engine, "Call five five five, zero one two three at December sixth, twenty twenty six.", **quiet)
    assert np.array_equal(ours, plain)


def ssml_audio(engine, document: str, **values: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    chunks = [c.samples.copy() for c in engine.synthesize(
        document, SynthesisSettings(normalize=False, noise_scale=0.0, noise_w=0.0, **values), ssml=True)]
    return np.concatenate(chunks)


def test_a_break_is_its_silence_and_nothing_more(engine) -> None:  # type: ignore[no-untyped-def]
    """A break inside a sentence splits its graph runs: the audio is both halves and exactly the
    break's silence, with no sentence silence added at the split."""
    halves = [ssml_audio(engine, f"<speak>{t}</speak>").size for t in ("The kettle", "is boiling.")]
    split = ssml_audio(engine, '<speak>The kettle <break time="1.5s"/>is boiling.</speak>', sentence_silence=0.5)
    assert split.size == sum(halves) + int(1.5 * RATE) + int(0.5 * RATE)  # one sentence end: one silence
    first = halves[0]
    assert not split[first:first + int(1.5 * RATE)].any()


def test_prosody_rate_changes_the_length_scale_and_the_stream_stays_one(engine) -> None:  # type: ignore[no-untyped-def]
    normal = ssml_audio(engine, "<speak>Slowly now, please.</speak>").size
    slow = ssml_audio(engine, '<speak><prosody rate="slow">Slowly now, please.</prosody></speak>').size
    fast = ssml_audio(engine, '<speak><prosody rate="fast">Slowly now, please.</prosody></speak>').size
    assert slow > normal * 1.2 and fast < normal * 0.9
    # A rate change in mid-sentence: no sentence silence where the runs meet.
    once = ssml_audio(engine, '<speak>Slowly <prosody rate="fast">now,</prosody> please.</speak>',
                      sentence_silence=1.0).size
    none = ssml_audio(engine, '<speak>Slowly <prosody rate="fast">now,</prosody> please.</speak>').size
    assert once - none == RATE


def test_lang_reads_with_that_languages_rules(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine._frontend_for("de-DE").espeak_voice == "de"
    assert engine._frontend_for("pt-BR").espeak_voice == "pt-br"
    assert engine._frontend_for("en-GB").espeak_voice == "en"  # espeak-ng's British English
    assert engine._frontend_for("en-US") is engine.frontend
    german = ssml_audio(engine, '<speak><lang xml:lang="de">Acht Kinder.</lang></speak>')
    assert not np.array_equal(german, ssml_audio(engine, "<speak>Acht Kinder.</speak>"))
    with pytest.raises(InputError, match="xml:lang 'tlh': espeak-ng does not speak it"):
        ssml_audio(engine, '<speak><lang xml:lang="tlh">Qapla</lang></speak>')


def test_plain_text_is_never_read_as_ssml(engine) -> None:  # type: ignore[no-untyped-def]
    plain = speak(engine, "<speak>Hi</speak>", noise_scale=0.0, noise_w=0.0)
    assert plain.size > ssml_audio(engine, "<speak>Hi</speak>").size  # the tags were read as words


def test_the_command_takes_ssml(tmp_path: Path) -> None:
    document = '<speak>Hello <break time="1s"/> there.</speak>'
    out = tmp_path / "ssml.wav"
    result = run_cli("--ssml", "--text", document, "-o", str(out), "--noise-scale", "0", "--noise-w", "0")
    assert result.returncode == 0, result.stderr
    lines = tmp_path / "lines.wav"
    stdin = (json.dumps({"text": document, "ssml": True}) + "\n" + json.dumps({"text": "Plain."}) + "\n").encode()
    result = run_cli("--json-input", "-o", str(lines), "--noise-scale", "0", "--noise-w", "0", stdin=stdin)
    assert result.returncode == 0, result.stderr
    audio, lined = sf.read(out, dtype="int16")[0], sf.read(lines, dtype="int16")[0]
    assert np.array_equal(lined[:audio.size], audio) and lined.size > audio.size
    bad = run_cli("--ssml", "--text", "<speak>unclosed", "-o", str(tmp_path / "bad.wav"))
    assert bad.returncode == 2 and not (tmp_path / "bad.wav").exists()
    assert bad.stderr.decode().strip() == \
        "edgesay: SSML is not well-formed at line 1, column 16: no element found"
    assert os.path.getsize(out) > 44


def test_the_server_takes_ssml_on_both_transports(tmp_path: Path) -> None:
    import asyncio

    from wyoming.client import AsyncTcpClient
    from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeStop

    from test_serve import free_port, post, read_until, start, stop, synthesize, wav

    document = '<speak>Doors <break time="500ms"/> are <say-as interpret-as="characters">OK</say-as>.</speak>'
    http, wyoming = free_port(), free_port()
    s = start(tmp_path, "--http", f"127.0.0.1:{http}", "--uri", f"tcp://127.0.0.1:{wyoming}", "--noise-scale", "0",
              "--noise-w-scale", "0")
    try:
        status, _, body = post(http, {"text": document, "ssml": True})
        assert status == 200
        audio = wav(body)[0]
        assert post(http, {"text": "<speak>broken", "ssml": True})[0] == 400
        assert post(http, {"text": "Hi.", "ssml": "yes"})[0] == 400
        whole = asyncio.run(synthesize(wyoming, document))
        assert np.array_equal(whole.samples, audio)

        async def streamed() -> bytes:
            async with AsyncTcpClient("127.0.0.1", wyoming) as client:
                await client.write_event(SynthesizeStart().event())
                for at in range(0, len(document), 7):  # cut anywhere, inside tags too
                    await client.write_event(SynthesizeChunk(text=document[at:at + 7]).event())
                await client.write_event(SynthesizeStop().event())
                return (await read_until(client, "synthesize-stopped")).audio

        assert np.array_equal(np.frombuffer(asyncio.run(streamed()), np.int16), audio)
    finally:
        assert stop(s) == 0
