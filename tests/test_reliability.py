"""Unattended operation: flat memory and pool reuse over many utterances, bounded memory while a
huge text streams, voices that are broken in ways a checksum cannot see, and threads.
The long versions (2,000 utterances, signal timings) are `just soak` (bench/soak.py)."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import CLI, speak
from edgesay import Engine, SynthesisSettings, VoiceError, VoiceFiles
from edgesay.system.sysinfo import rss_mb
from edgesay.voice.bundle import Bundle, BundleSpec, pack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import soak

QUIET = SynthesisSettings(noise_scale=0.0, noise_w=0.0)


@pytest.mark.slow
def test_memory_is_flat_and_buffers_are_reused_after_warm_up(default_bundle: Path) -> None:
    report = soak.soak(count=150, warmup=50)  # measured: the last new buffer comes with the first utterance
    assert report["misses_after_warmup"] == 0
    assert report["hits"] > 1000
    assert report["rss_growth_percent"] < 5


@pytest.mark.slow
def test_ten_megabytes_of_text_stream_with_bounded_memory(tmp_path: Path) -> None:
    paragraph = ("The river rose slowly through the night, and by morning the low road was under water. "
                 "Nobody in the village was surprised; it happened every spring, give or take a week.\n")
    text = tmp_path / "book.txt"
    text.write_text(paragraph * (10_000_000 // len(paragraph) + 1), encoding="utf-8")
    assert text.stat().st_size >= 10_000_000
    with text.open("rb") as source:
        proc = subprocess.Popen([*CLI, "--raw"], stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        readings = []
        try:
            for _ in range(12):  # 12 x 1 MB of audio: about 4.5 minutes of speech
                assert len(proc.stdout.read(1 << 20)) == 1 << 20
                readings.append(rss_mb(Path(f"/proc/{proc.pid}/status")) or 0.0)
        finally:
            proc.kill()
            proc.communicate()
    # After the first few paragraphs the process holds what it will ever hold.
    assert max(readings[4:]) < readings[3] * 1.05, readings


def _bundle_with_graph(tmp_path: Path, graph: bytes) -> Path:
    config = {"audio": {"sample_rate": 22050}, "phoneme_id_map": {"^": [1], "$": [2], "_": [0], "a": [3]},
              "num_speakers": 1, "espeak": {"voice": "en-us"}, "inference": {}}
    meta = {"channels": 192, "hop": 256, "flow_pad": 1, "decoder_pad": 1, "multi_speaker": False}
    from edgesay.voice.bundle import LevelParts

    path = tmp_path / "broken.edgesay"
    pack(BundleSpec(config, meta, {"g.onnx": graph}, {"balanced": LevelParts("g.onnx", "g.onnx", "g.onnx")},
                    "balanced", {}), path)
    return path


@pytest.mark.parametrize("graph", [b"", b"\x08\x07" + bytes(range(256)) * 50, b"not a graph at all"])
def test_a_graph_onnxruntime_refuses_is_a_voice_error(tmp_path: Path, graph: bytes,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Intact bundle (checksums fine), nonsense inside: an error naming the file, no crash."""
    monkeypatch.setenv("EDGESAY_CACHE_DIR", str(tmp_path / "cache"))
    path = _bundle_with_graph(tmp_path, graph)
    with pytest.raises(VoiceError, match="onnxruntime cannot load"):
        Engine.load(VoiceFiles(path, None), threads=1)
    result = subprocess.run([*CLI, "--voice", str(path), "--text", "Hello.", "-o", str(tmp_path / "x.wav")],
                            capture_output=True, timeout=120)
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 3 and len(lines) == 1 and "onnxruntime cannot load" in lines[0]
    assert not (tmp_path / "x.wav").exists()


def test_an_empty_bundle_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.edgesay"
    path.write_bytes(b"")
    with pytest.raises(VoiceError, match=f"{path} is truncated"):
        Bundle.read(path)


def test_two_engines_in_two_threads_match_their_serial_output(default_bundle: Path) -> None:
    """Engines are independent; espeak-ng (process-wide) and the pool are locked inside."""
    texts = ["The first thread reads this sentence aloud.", "And the second thread, at the same time, this one."]
    engines = [Engine.load(threads=1) for _ in texts]
    serial = [speak(e, t, noise_scale=0.0, noise_w=0.0) for e, t in zip(engines, texts, strict=True)]
    results: list[np.ndarray | None] = [None, None]

    def run(n: int) -> None:
        for _ in range(3):
            results[n] = speak(engines[n], texts[n], noise_scale=0.0, noise_w=0.0)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for got, expected in zip(results, serial, strict=True):
        assert got is not None
        np.testing.assert_array_equal(got, expected)


def test_a_cancelled_synthesis_does_not_disturb_the_next_on_another_thread(balanced) -> None:  # type: ignore[no-untyped-def]
    """The TUI's case: Stop during a long text, Speak again at once from a new worker thread."""
    from edgesay.tui.runner import speak as session_speak

    expected = speak(balanced, "Short and clear.", noise_scale=0.0, noise_w=0.0, normalize=True)
    lent = balanced.pool.stats().bytes_in_use  # what the engine keeps for itself (the compensator's state)
    stop = threading.Event()
    long_text = "A long paragraph that will be stopped part of the way through. " * 30
    first: list = []

    def long_run() -> None:
        first.append(session_speak(balanced, long_text, QUIET, stop,
                                   on_chunk=lambda u: stop.set() if u.first_audio else None))

    worker = threading.Thread(target=long_run)
    worker.start()
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = session_speak(balanced, "Short and clear.", QUIET, threading.Event())
    worker.join(timeout=60)
    assert first and first[0].stopped
    np.testing.assert_array_equal(second.audio, expected)
    assert balanced.pool.stats().bytes_in_use == lent
