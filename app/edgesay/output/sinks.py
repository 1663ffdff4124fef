"""Where audio goes: a WAV file, raw PCM on stdout, or WAV on stdout.

A WAV file is written under a temporary name in the target folder and renamed when
complete, so an error or Ctrl-C never leaves a truncated file under the requested name;
a target that is not a regular file (/dev/null, a FIFO, /dev/stdout) is written through
(`system.files.OutputFile`).
"""

import contextlib
import fcntl
import os
import struct
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from ..errors import OutputError
from ..system.files import OutputFile


class Sink(Protocol):
    def write(self, samples: np.ndarray) -> None: ...  # int16, mono
    def close(self, complete: bool) -> None: ...


class RawSink:
    """16-bit little-endian mono PCM, flushed per chunk so a player starts at once."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, samples: np.ndarray) -> None:
        self._stream.write(samples.astype("<i2", copy=False).tobytes())
        self._stream.flush()

    def close(self, complete: bool) -> None:
        self._stream.flush()


def wav_header(sample_rate: int, data_bytes: int) -> bytes:
    """A 44-byte PCM WAV header. For a stream of unknown length, data_bytes is the largest
    value the format holds, which players (aplay, sox, ffmpeg) read as "until the end"."""
    riff = min(0xFFFFFFFF, data_bytes + 36)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16) +
            b"data" + struct.pack("<I", min(0xFFFFFFFF, data_bytes)))


def _patchable_offset(stream: IO[bytes]) -> int | None:
    """Where the header starts, if it can be rewritten at the end: not on a pipe, and not in
    append mode (`>>`), where every write lands at the end whatever the offset."""
    try:
        if not stream.seekable() or fcntl.fcntl(stream.fileno(), fcntl.F_GETFL) & os.O_APPEND:
            return None
        return stream.tell()
    except (OSError, ValueError):
        return None


class WavStreamSink(RawSink):
    """WAV on stdout: streamed; if stdout is a file, its sizes are patched at the end."""

    def __init__(self, stream: IO[bytes], sample_rate: int) -> None:
        super().__init__(stream)
        self._rate = sample_rate
        self._bytes = 0
        self._start = _patchable_offset(stream)
        stream.write(wav_header(sample_rate, 0xFFFFFFFF))

    def write(self, samples: np.ndarray) -> None:
        super().write(samples)
        self._bytes += samples.size * 2

    def close(self, complete: bool) -> None:
        if self._start is not None:
            self._stream.seek(self._start)
            self._stream.write(wav_header(self._rate, self._bytes))
            self._stream.seek(0, os.SEEK_END)
        super().close(complete)


class PlaybackSink(RawSink):
    """Plays through ALSA's aplay as audio is made, on `device` (a name as `aplay -L` lists
    them; None: ALSA's default)."""

    def __init__(self, sample_rate: int, device: str | None = None) -> None:
        import shutil
        import subprocess

        player = shutil.which("aplay")
        if player is None:
            raise OutputError("no audio player: aplay (alsa-utils) is not installed; use -o FILE or --raw")
        self._process = subprocess.Popen(
            [player, "-q", *(["-D", device] if device else []), "-t", "raw", "-f", "S16_LE", "-c", "1",
             "-r", str(sample_rate)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._process.stdin is not None  # for mypy; Popen made the pipe
        super().__init__(self._process.stdin)

    def write(self, samples: np.ndarray) -> None:
        try:
            super().write(samples)
        except BrokenPipeError as exc:
            raise OutputError(f"audio playback failed: {self._error()}") from exc

    def _error(self) -> str:
        self._process.wait(timeout=5)
        err = self._process.stderr.read().decode(errors="replace").strip() if self._process.stderr else ""
        return err.splitlines()[-1] if err else f"aplay exited with {self._process.returncode}"

    def close(self, complete: bool) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._stream.close()
        if not complete:
            self._process.terminate()
        if self._process.wait() != 0 and complete:
            raise OutputError(f"audio playback failed: {self._error()}")


class WavFileSink(WavStreamSink):
    """A WAV file a user named: streamed into `OutputFile`, its sizes patched at the end when
    the target can seek (a file, /dev/null), left as "until the end" when it cannot (a FIFO)."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        try:
            self._output = OutputFile(path)
            super().__init__(self._output.stream, sample_rate)
        except OSError as exc:
            if hasattr(self, "_output"):
                self._output.discard()
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def write(self, samples: np.ndarray) -> None:
        try:
            super().write(samples)
        except OSError as exc:  # disk full, a reader that went away
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def close(self, complete: bool) -> None:
        try:
            if complete:
                super().close(complete)
                self._output.commit()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        finally:
            self._output.discard()
