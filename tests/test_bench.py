"""`edgesay bench`: it runs (package, or the binary under `just test-binary`), its JSON has every
field, and the values are plausible for the machine it ran on."""

import json
import os
import platform
from pathlib import Path

from conftest import run_cli
from edgesay.cli import bench as benchmark


def test_bench_json_has_every_field_with_plausible_values(tmp_path: Path) -> None:
    result = run_cli("bench", "--json", "--reps", "1", "--threads", "1", timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    record = json.loads(result.stdout)
    assert record["edgesay_version"] and record["quality"] == "balanced" and record["threads"] == 1
    assert len(record["voice_sha256"]) == 16 and int(record["voice_sha256"], 16) >= 0
    assert "en_US-joe-medium" in record["voice"]
    dev = record["device"]
    assert dev["machine"] == platform.machine() and dev["cores"] == os.cpu_count() and dev["cpu_model"]
    assert set(dev["int8_features"]) <= set(benchmark.INT8_FEATURES)
    assert all(f in dev["features"].split() for f in dev["int8_features"])
    for key in ("before", "after"):
        assert set(record[key]) == {"temperature_c", "frequency_mhz"}
    assert len(record["startup_s"]) == 2 and all(0.05 < s < 60 for s in record["startup_s"])
    assert 0 < record["load_s"] < 60
    sentences = record["sentences"]
    assert [s["text"] for s in sentences] == list(benchmark.SENTENCES)
    for s in sentences:
        assert 0.3 < s["audio_s"] < 20 and 0 < s["rtf"] < 5
        assert all(0 < first <= total for first, total in zip(s["first_audio_s"], s["total_s"], strict=True))
    assert max(s["audio_s"] for s in sentences) > 8  # the ten-second sentence
    assert 30 < record["peak_rss_mb"] < 2000
    summary = record["summary"]
    assert summary["rtf"] == sum(s["total_s"][0] for s in sentences) / sum(s["audio_s"] for s in sentences)
    assert summary["first_audio_longest_sentence_s"] == sentences[-1]["first_audio_s"][0]
    assert summary["startup_s"] == min(record["startup_s"])
    assert 0 < record["seconds"] < 120


def test_bench_table_and_own_sentences(tmp_path: Path) -> None:
    own = tmp_path / "mine.txt"
    own.write_text("First test sentence.\n\nA second, somewhat longer test sentence.\n", encoding="utf-8")
    result = run_cli("bench", "--reps", "1", "--no-startup", "--sentences", str(own), timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    table = result.stdout.decode()
    assert "First test sentence." in table and "A second, somewhat longer" in table
    assert "real-time factor" in table and "start-up to a finished Hello WAV: not measured" in table
    assert "edgesay bench: sentence 2/2" in result.stderr.decode()


def test_bench_bad_sentences_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("bench", "--sentences", str(tmp_path / "missing.txt"))
    assert result.returncode != 0
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "missing.txt" in lines[0]


def test_bench_with_a_missing_voice_is_one_line(tmp_path: Path) -> None:
    result = run_cli("bench", "--voice", str(tmp_path / "gone.edgesay"), "--reps", "0")
    assert result.returncode == 2 and result.stderr.decode().endswith("(see edgesay bench --help)\n")
    result = run_cli("bench", "--no-startup", "--voice", str(tmp_path / "gone.edgesay"))
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 3 and len(lines) == 1 and "gone.edgesay does not exist" in lines[0]
    assert result.stdout == b""


def test_device_on_a_raspberry_pi(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 108.00\n"
                       "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
                       "asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n\n"
                       "processor\t: 1\nFeatures\t: fp\n")
    model = tmp_path / "model"
    model.write_text("Raspberry Pi 5 Model B Rev 1.0\x00")
    found = benchmark.device(cpuinfo, model)
    assert found.board == "Raspberry Pi 5 Model B Rev 1.0"
    assert found.int8_features == ["asimddp"]
    assert found.cpu_model == "ARM implementer 0x41 part 0xd0b"


def test_device_without_cpuinfo(tmp_path: Path) -> None:
    found = benchmark.device(tmp_path / "none", tmp_path / "none")
    assert found.board is None and found.int8_features == [] and found.cores == os.cpu_count()


def test_bench_brackets_its_timed_sentences_for_the_instruction_counter(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With EDGESAY_STAGE_MARKERS, the counting plugin (bench/arm.py counts the aarch64 binary this
    way) sees the span start after the warm-up and end after the last timed sentence, with the
    engine's stages inside it; without it, no marker call is made at all."""
    from edgesay import Engine
    from edgesay.runtime import markers

    calls: list[tuple[int, ...]] = []
    engine = Engine.load(threads=1)

    def load():  # type: ignore[no-untyped-def]
        return engine, "voice", engine.digest, engine.quality

    monkeypatch.setattr(markers, "_call", lambda *args: calls.append(args) or 0)
    result = benchmark.run(load, ["One.", "Two."], reps=1, threads=1, startup=False)
    start, end = calls.index((4242, 1)), calls.index((4242, 2))
    assert 0 < start < end == len(calls) - 1  # the warm-up's stages came before the span
    inside = {markers.STAGES[c[2]] for c in calls[start + 1:end] if c[:2] == (4242, 3)}
    assert {"text", "latent", "flow", "head", "tail"} <= inside
    assert len(result.sentences) == 2
    calls.clear()
    monkeypatch.setattr(markers, "_call", None)
    benchmark.run(load, ["One."], reps=1, threads=1, startup=False)
    assert calls == []
