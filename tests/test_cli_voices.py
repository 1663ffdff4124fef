"""Any Piper voice through the command (the Python package, or the binary with
`just test-binary`): tiny voices in eight languages and every Piper architecture prepared on
first use and spoken at every level, `edgesay prepare` writing a bundle another device loads
without preparing, the progress display, and bad voices."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from edgesay.voice import levels

DATA = Path(__file__).parent / "data"
LANGUAGES = {"de": "de_DE", "fr": "fr_FR", "es": "es_ES", "it": "it_IT", "nl": "nl_NL", "pl": "pl_PL",
             "ru": "ru_RU", "pt-br": "pt_BR"}
SAY = {"de": "Guten Morgen, am 3. Mai.", "fr": "Bonjour, le 3 mai.", "es": "Buenos días, el 3 de mayo.",
       "it": "Buongiorno, il 3 maggio.", "nl": "Goedemorgen, op 3 mei.", "pl": "Dzień dobry, 3 maja.",
       "ru": "Доброе утро, 3 мая.", "pt-br": "Bom dia, 3 de maio."}
LEVELS = levels.NAMES


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A cache of this module's own: every voice here is prepared from nothing."""
    return {**os.environ, "EDGESAY_CACHE_DIR": str(tmp_path_factory.mktemp("voices-cache"))}


def tiny_voice(folder: Path, base: str, espeak_voice: str, code: str) -> Path:
    """A tiny generated voice (tests/data) given another language, as a Piper voice file pair."""
    model = folder / f"{code}-{base}.onnx"
    if not model.exists():
        shutil.copyfile(DATA / f"{base}.onnx", model)
        config = json.loads((DATA / f"{base}.onnx.json").read_text(encoding="utf-8"))
        config["espeak"]["voice"] = espeak_voice
        config["language"] = {"code": code, "family": code[:2]}
        (folder / f"{model.name}.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return model


def spoken(path: Path, rate: int) -> np.ndarray:
    audio, got = sf.read(path, dtype="int16")
    assert got == rate and audio.size > rate // 4 and np.abs(audio.astype(np.int32)).max() > 100
    return audio


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_voice_in_another_language_is_prepared_once_and_speaks_at_every_level(
        language: str, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp(f"voice-{language}")
    model = tiny_voice(folder, "tiny-x_low", language, LANGUAGES[language])
    for n, level in enumerate(LEVELS):
        out = folder / f"{level}.wav"
        result = run_cli("--voice", str(model), "--quality", level, "--text", SAY[language], "-o", str(out),
                         env=env, timeout=600)
        assert result.returncode == 0, result.stderr.decode()
        preparing = b"preparing the voice" in result.stderr
        assert preparing == (n == 0 and level != "reference"), result.stderr.decode()
        spoken(out, 16000)


@pytest.mark.parametrize("base", ["tiny-high", "tiny-multi"])
def test_every_architecture_and_named_speakers(base: str, env: dict[str, str], tmp_path: Path) -> None:
    model = tiny_voice(tmp_path, base, "en-us", "en_US")
    config = json.loads((DATA / f"{base}.onnx.json").read_text())
    speakers = list(config["speaker_id_map"])
    outputs = []
    for speaker in (speakers[0], speakers[-1]):
        out = tmp_path / f"{speaker}.wav"
        result = run_cli("--voice", str(model), "--speaker", speaker, "--text", "Hello there.", "-o", str(out),
                         "--noise-scale", "0", "--noise-w", "0", env=env, timeout=600)
        assert result.returncode == 0, result.stderr.decode()
        outputs.append(spoken(out, config["audio"]["sample_rate"]))
    assert not np.array_equal(outputs[0], outputs[1])
    listed = run_cli("--list-voices", env={**env, "EDGESAY_VOICE_DIR": str(tmp_path)}).stdout.decode()
    assert config["audio"]["quality"] in listed and speakers[-1] in listed


def test_prepare_writes_a_bundle_another_device_loads_without_preparing(env: dict[str, str], tmp_path: Path) -> None:
    model = tiny_voice(tmp_path, "tiny-multi", "de", "de_DE")
    bundle = tmp_path / "out" / "german.edgesay"
    bundle.parent.mkdir()
    made = run_cli("prepare", str(model), "-o", str(bundle), env=env, timeout=600)
    assert made.returncode == 0, made.stderr.decode()
    assert f"wrote {bundle}".encode() in made.stderr and bundle.stat().st_size > 100_000
    # "Another device": an empty cache. Nothing is prepared; it speaks German.
    other = {**os.environ, "EDGESAY_CACHE_DIR": str(tmp_path / "other-cache")}
    out = tmp_path / "de.wav"
    result = run_cli("--voice", str(bundle), "--text", "Guten Tag.", "-o", str(out), env=other)
    assert result.returncode == 0 and b"preparing" not in result.stderr, result.stderr.decode()
    spoken(out, 16000)
    listed = run_cli("--list-voices", env={**other, "EDGESAY_VOICE_DIR": str(bundle.parent)}).stdout.decode()
    assert "german" in listed and "de_DE" in listed


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place_then_one_done_line() -> None:
    """Rich's bar, redrawn in place with the step, percent and time left; when the job ends the
    bar goes and one line says how long it took."""
    import io
    import time

    from edgesay.system.progress import StepProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    shown = StepProgress("preparing the voice", (("splitting", 1.0), ("quantizing", 1.0)), stream=out)
    shown("splitting")
    time.sleep(0.6)
    shown("quantizing")
    time.sleep(0.6)
    shown.close()
    text = out.getvalue()
    assert "\r" in text and "━" in text  # redrawn in place, as a bar
    assert "splitting (0 %, estimating time left)" in text and "quantizing (" in text and " left)" in text
    assert text.endswith("\x1b[2Kedgesay: preparing the voice: done in 0:01\n"), text[-200:]


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    model = tiny_voice(tmp_path, "tiny-x_low", "fr", "fr_FR")
    env = {**os.environ, "EDGESAY_CACHE_DIR": str(tmp_path / "cache")}
    result = run_cli("prepare", str(model), "-o", str(tmp_path / "fr.edgesay"), env=env, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    lines = [line for line in result.stderr.decode().splitlines() if "preparing the voice" in line]
    assert len(lines) >= 5 and "\r" not in result.stderr.decode() and "\x1b" not in result.stderr.decode()
    assert "splitting the graph (0 %, estimating time left)" in lines[0]
    assert all(" %, about " in line and " left)" in line for line in lines[1:]), lines
    percents = [int(line.split("(")[-1].split(" %")[0]) for line in lines]
    assert percents == sorted(percents) and percents[-1] >= 90


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["espeak"].update(voice="xx-nowhere"), "espeak-ng has no voice or language named 'xx-nowhere'"),
    (lambda c: c.update(phoneme_type="pinyin"), "phoneme_type 'pinyin' needs a phonemizer edgesay does not have"),
    (lambda c: c.update(phoneme_id_map={"^": [1], "$": [2]}), "phoneme_id_map has no '_'"),
])
def test_a_voice_edgesay_cannot_serve_is_one_line_and_exit_3(change, message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = tiny_voice(tmp_path, "tiny-x_low", "de", "de_DE")
    config_path = tmp_path / f"{model.name}.json"
    config = json.loads(config_path.read_text())
    change(config)
    config_path.write_text(json.dumps(config))
    env = {**os.environ, "EDGESAY_CACHE_DIR": str(tmp_path / "cache")}
    result = run_cli("--voice", str(model), "--text", "Hallo.", "-o", str(tmp_path / "x.wav"), env=env, timeout=600)
    assert result.returncode == 3, result.stderr.decode()
    assert message in result.stderr.decode() and len(result.stderr.decode().strip().splitlines()) <= 1 + \
        result.stderr.decode().count("preparing the voice")
    assert not (tmp_path / "x.wav").exists()


def test_phonemes_missing_from_the_map_are_skipped_as_in_piper(tmp_path: Path) -> None:
    """A config whose map lacks some of the language's phonemes still speaks (Piper skips
    them too); one that lacks all of them has nothing to say: exit 2."""
    model = tiny_voice(tmp_path, "tiny-x_low", "ru", "ru_RU")
    config_path = tmp_path / f"{model.name}.json"
    config = json.loads(config_path.read_text())
    config["phoneme_id_map"] = {k: v for k, v in config["phoneme_id_map"].items() if k not in ("ʲ", "ɐ", "ɨ")}
    config_path.write_text(json.dumps(config))
    env = {**os.environ, "EDGESAY_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "ru.wav"
    result = run_cli("--voice", str(model), "--quality", "reference", "--text", "Доброе утро.", "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr.decode()
    spoken(out, 16000)


def test_a_truncated_voice_is_exit_3_and_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    model = tiny_voice(tmp_path, "tiny-x_low", "de", "de_DE")
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    cache = tmp_path / "cache"
    env = {**os.environ, "EDGESAY_CACHE_DIR": str(cache)}
    result = run_cli("--voice", str(model), "--text", "Hallo.", "-o", str(tmp_path / "x.wav"), env=env, timeout=600)
    assert result.returncode == 3, result.stderr.decode()
    assert str(model.name) in result.stderr.decode()
    assert not list(cache.rglob("*.edgesay")) and not (tmp_path / "x.wav").exists()


def test_a_full_cache_during_preparation_leaves_nothing_half_written(tmp_path: Path) -> None:
    import subprocess

    model = tiny_voice(tmp_path, "tiny-x_low", "de", "de_DE")
    cache = tmp_path / "cache"
    cache.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(cache)]
    if subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        env = {**os.environ, "EDGESAY_CACHE_DIR": str(cache)}
        out = tmp_path / "x.wav"
        result = run_cli("--voice", str(model), "--text", "Hallo.", "-o", str(out), env=env, timeout=600)
        assert result.returncode == 3, result.stderr.decode()
        assert "cannot write the voice cache" in result.stderr.decode(), result.stderr.decode()
        assert "No space left on device" in result.stderr.decode()
        assert not out.exists() and not list(cache.rglob("*.edgesay"))
        assert not [p for p in cache.rglob(".*") if p.is_file()]  # no temporary file left either
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    # With room again, the next run starts over and speaks.
    result = run_cli("--voice", str(model), "--text", "Hallo.", "-o", str(out), env=env, timeout=600)
    assert result.returncode == 0, result.stderr.decode()


def test_ctrl_c_during_preparation_is_130_and_the_next_run_starts_over(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from conftest import CLI

    model = tiny_voice(tmp_path, "tiny-high", "fr", "fr_FR")
    cache = tmp_path / "cache"
    env = {**os.environ, "EDGESAY_CACHE_DIR": str(cache)}
    out = tmp_path / "x.wav"
    process = subprocess.Popen([*CLI, "--voice", str(model), "--text", "Bonjour.", "-o", str(out)], env=env,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    seen = b""
    while b"quantizing the decoder" not in seen:  # well inside the preparation
        line = process.stderr.readline()
        assert line, seen.decode()
        seen += line
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130, rest.decode()
    assert b"edgesay: interrupted" in rest
    assert not out.exists() and not list(cache.rglob("*.edgesay"))
    assert not [p for p in cache.rglob("*") if p.name.startswith(".") and p.is_file()]
    result = run_cli("--voice", str(model), "--text", "Bonjour.", "-o", str(out), env=env, timeout=600)
    assert result.returncode == 0 and b"preparing the voice" in result.stderr, result.stderr.decode()


def test_a_cache_that_cannot_be_written_is_exit_3(tmp_path: Path) -> None:
    """A cache that cannot be written (here a file where the folder should be: root ignores
    permission bits) is named in one line; nothing is spoken, nothing is left."""
    model = tiny_voice(tmp_path, "tiny-x_low", "it", "it_IT")
    blocked = tmp_path / "cache"
    blocked.write_text("")
    out = tmp_path / "x.wav"
    result = run_cli("--voice", str(model), "--text", "Ciao.", "-o", str(out),
                     env={**os.environ, "EDGESAY_CACHE_DIR": str(blocked)}, timeout=600)
    assert result.returncode == 3, result.stderr.decode()
    lines = [line for line in result.stderr.decode().splitlines() if "preparing the voice" not in line]
    assert len(lines) == 1 and str(blocked) in lines[0], lines
    assert not out.exists()
