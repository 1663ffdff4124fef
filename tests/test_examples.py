"""Every file in examples/ runs, so none can rot: the Python streaming example, the JSON-lines
script and the systemd unit here; the Wyoming client against a live server in test_serve.py."""

import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import BINARY, ROOT

EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.skipif(BINARY is not None, reason="the examples use the Python package")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), np.int16), wav.getframerate()


def longest_zero_run(samples: np.ndarray) -> int:
    edges = np.diff(np.concatenate([[0], (samples == 0).astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((stops - starts).max(initial=0))


def test_stream_example_writes_speech(tmp_path: Path) -> None:
    out = tmp_path / "door.wav"
    result = subprocess.run([sys.executable, str(EXAMPLES / "stream.py"), "The garage door is open.", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    samples, rate = read_wav(out)
    assert rate == 22050
    assert 0.8 < len(samples) / rate < 4  # a short sentence
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 500  # speech, not silence
    assert "first audio after" in result.stdout and f"{len(samples) / rate:.2f} s of audio" in result.stdout


def test_json_lines_example_writes_each_file(tmp_path: Path) -> None:
    env_path = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # the edgesay installed beside this Python
    result = subprocess.run(["sh", str(EXAMPLES / "json_lines.sh"), str(tmp_path / "out")], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PATH": env_path})
    assert result.returncode == 0, result.stderr
    door, _ = read_wav(tmp_path / "out" / "door.wav")
    weather, _ = read_wav(tmp_path / "out" / "weather.wav")
    pause, rate = read_wav(tmp_path / "out" / "pause.wav")
    assert len(weather) > len(door) > rate // 2
    assert longest_zero_run(pause) >= 0.5 * rate - 1  # the SSML break: half a second of silence
    assert longest_zero_run(door) < 0.5 * rate


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """The unit as shipped, but for its ExecStart path, which names where the binary would be
    copied: here it is the installed command (systemd-analyze checks that it is executable)."""
    command = shutil.which("edgesay", path=str(Path(sys.executable).parent))
    assert command is not None
    unit = tmp_path / "edgesay.service"
    text = (EXAMPLES / "edgesay.service").read_text()
    assert "ExecStart=/usr/local/bin/edgesay serve" in text
    unit.write_text(text.replace("/usr/local/bin/edgesay", command))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on a line it ignores, so anything it says is a failure
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
