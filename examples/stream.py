"""Stream speech from Python: each chunk is written (or played) as soon as it is decoded.

    python3 examples/stream.py "The garage door is open." out.wav   # into a WAV file
    python3 examples/stream.py "The garage door is open."           # through aplay

Prints when the first audio came and how long the audio is.
"""

import contextlib
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator

from edgesay import Engine, SynthesisSettings


@contextlib.contextmanager
def sink(path: str | None, rate: int) -> Iterator[Callable[[bytes], object]]:
    """Somewhere to write 16-bit mono samples: a WAV file, or aplay playing them as they come."""
    if path:
        with wave.open(path, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            yield wav.writeframes
        return
    with subprocess.Popen(["aplay", "-q", "-r", str(rate), "-f", "S16_LE", "-c", "1"], stdin=subprocess.PIPE) as player:
        assert player.stdin is not None
        yield player.stdin.write


def main() -> None:
    text = sys.argv[1] if len(sys.argv) > 1 else "Hello from Python."
    engine = Engine.load()  # the default voice, default level; another: Engine.load(VoiceFiles.from_model(path))
    rate = engine.config.sample_rate
    started = time.monotonic()
    first = None
    samples = 0
    with sink(sys.argv[2] if len(sys.argv) > 2 else None, rate) as write:
        for chunk in engine.synthesize(text, SynthesisSettings(length_scale=1.0)):
            if first is None:
                first = time.monotonic() - started
            write(chunk.samples.tobytes())  # int16 mono; its buffer is reused once the next chunk is asked for
            samples += len(chunk.samples)
    print(f"first audio after {first:.3f} s; {samples / rate:.2f} s of audio")


if __name__ == "__main__":
    main()
