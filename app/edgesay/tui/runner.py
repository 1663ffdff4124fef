"""One utterance for the field-testing TUI: synthesis on a worker thread, playback on another,
cancellable, with the figures the TUI shows. No Textual here, so it is tested on its own.

Playback runs on its own thread so that a player that blocks (aplay plays in real time) never
slows synthesis down: the figures are the engine's, not the sound card's.
"""

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import EdgesayError, OutputError
from ..output.sinks import Sink
from ..runtime.audio import SentenceTimings
from ..runtime.engine import Engine
from ..voice.config import SynthesisSettings


@dataclass
class Utterance:
    """What was said and how long each stage took."""

    text: str
    sample_rate: int
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))  # int16, all chunks
    sentences: list[SentenceTimings] = field(default_factory=list)
    first_audio: float | None = None  # seconds from Speak to the first chunk
    total: float = 0.0  # seconds of synthesis
    stopped: bool = False

    @property
    def audio_seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def rtf(self) -> float | None:
        """Real-time factor: synthesis seconds per second of audio (< 1 is faster than real time)."""
        return self.total / self.audio_seconds if self.audio_seconds else None

    def stage(self, name: str) -> float:
        if name == "windows":
            return sum(sum(t.windows) for t in self.sentences)
        if name == "text":  # shared by all sentences: counted once
            return self.sentences[0].text if self.sentences else 0.0
        return sum(float(getattr(t, name)) for t in self.sentences)


class Player:
    """Feeds a sink from a queue on its own thread; stop() silences it at once, from any thread."""

    def __init__(self, sink: Sink, on_error: Callable[[str], None]) -> None:
        self._sink, self._on_error = sink, on_error
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue()
        self._failed = self._stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="edgesay-player", daemon=True)
        self._thread.start()

    def play(self, samples: np.ndarray) -> None:
        if not (self._failed or self._stopped):
            self._queue.put(samples)

    def _run(self) -> None:
        while (samples := self._queue.get()) is not None:
            if self._failed or self._stopped:
                continue
            try:
                self._sink.write(samples)
            except OutputError as exc:
                self._failed = True
                if not self._stopped:  # a write cut off by stop() is not an error
                    self._on_error(str(exc))

    def stop(self) -> None:
        """Cut the sound off now (the player process is ended, queued audio dropped)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        with contextlib.suppress(OutputError):
            self._sink.close(complete=False)

    def finish(self, complete: bool) -> None:
        """Wait until the queued audio has played (complete), or stop."""
        if not complete:
            self.stop()
        self._queue.put(None)
        self._thread.join(timeout=None if complete else 2)
        if complete and not (self._failed or self._stopped):
            try:
                self._sink.close(complete=True)
            except OutputError as exc:
                self._on_error(str(exc))


# One utterance at a time in the process: an engine streams with state (the compensator's
# overlap, the pool), and a new Speak may start while the stopped one finishes its window.
_SPEAKING = threading.Lock()


def speak(engine: Engine, text: str, settings: SynthesisSettings, stop: threading.Event,
          player: Player | None = None, on_chunk: Callable[[Utterance], None] | None = None) -> Utterance:
    """Synthesize `text`, playing it as it comes; returns early (stopped) once `stop` is set."""
    with _SPEAKING:
        return _speak(engine, text, settings, stop, player, on_chunk)


def _speak(engine: Engine, text: str, settings: SynthesisSettings, stop: threading.Event,
           player: Player | None, on_chunk: Callable[[Utterance], None] | None) -> Utterance:
    utterance = Utterance(text, engine.config.sample_rate)
    pieces: list[np.ndarray] = []
    started = time.perf_counter()
    stream = engine.synthesize(text, settings)
    try:
        for chunk in stream:
            if stop.is_set():
                utterance.stopped = True
                break
            if utterance.first_audio is None:
                utterance.first_audio = time.perf_counter() - started
            samples = chunk.samples.copy()  # the chunk's buffer goes back to the pool
            pieces.append(samples)
            if chunk.sentence >= len(utterance.sentences):
                utterance.sentences.append(chunk.timings)
            if player is not None:
                player.play(samples)
            if on_chunk is not None:
                utterance.total = time.perf_counter() - started
                on_chunk(utterance)
    except EdgesayError:
        if player is not None:
            player.finish(complete=False)
        raise
    finally:
        stream.close()  # returns the generator's pooled buffers if we broke out early
        utterance.total = time.perf_counter() - started
        utterance.audio = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    if player is not None:
        player.finish(complete=not utterance.stopped)
    return utterance
