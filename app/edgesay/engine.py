"""The engine: text in, a stream of audio chunks out.

    text -> normalize -> sentences/clauses -> espeak-ng phonemes -> ids
         -> latent (whole sentence) -> flow (head window, then the rest)
         -> decoder (fixed windows) -> 16-bit chunks

The first decoder window is small, so the first audio of a long sentence comes after the
latent graph and about 0.4 s worth of decoding, not after the whole sentence.
"""

import dataclasses
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import paths
from .audio import AudioChunk, SentenceTimings, to_pcm16
from .bundle import SUFFIX
from .compensation import Compensator
from .config import SynthesisSettings, VoiceConfig
from .errors import InputError, VoiceError
from .espeak import Espeak
from .graphs import Graph, SplitVoice
from .inference import Latent, Streamer, open_session, seed_noise
from .mel import N_FFT
from .normalize import normalize
from .phoneme_ids import phonemes_to_ids, split_phonemes
from .pool import BufferPool
from .sentences import Sentence, split_sentences
from .threads import default_threads
from .windows import Window, plan_windows

# Decoder windows, in frames of exact output (the model sees `pad` more on each side).
# The first is small for time to first audio; the rest are as small as keeps the overlap
# cost low, because decoder memory grows with the window, not with the sentence.
FIRST_WINDOW_FRAMES = 32
WINDOW_FRAMES = 104
# The flow is cheap per frame but needs 33 frames of context: larger windows.
FLOW_WINDOW_FRAMES = 256
MAX_TEXT_CHARS = 10_000_000


@dataclass(frozen=True)
class VoiceFiles:
    model: Path  # .onnx (a Piper voice) or .edgesay (a bundle, which holds its config)
    config: Path | None  # .onnx.json; None for a bundle

    @classmethod
    def from_model(cls, model: Path, config: Path | None = None) -> "VoiceFiles":
        if model.suffix == SUFFIX:
            return cls(model, None)
        return cls(model, config or model.with_name(model.name + ".json"))

    @classmethod
    def default(cls) -> "VoiceFiles":
        return cls(*paths.default_voice())


def _unbytes(graph: Graph) -> Graph:
    """Graph bytes, or a bundle graph (which keeps the bundle's file mapped), are no longer needed."""
    return graph if isinstance(graph, Path) else b""


def check_voice(config: VoiceConfig, split: SplitVoice) -> None:
    """A config that does not belong to its graph would crash onnxruntime mid-sentence."""
    if (config.num_speakers > 1) != split.multi_speaker:
        graph = "several speakers" if split.multi_speaker else "one speaker"
        raise VoiceError(f"voice config {config.name} says {config.num_speakers} speaker(s) but its graph has {graph}")
    if config.hop_length != split.hop:
        raise VoiceError(f"voice config {config.name} says hop_length {config.hop_length} "
                         f"but its graph makes {split.hop} samples per frame")


def text_to_sentences(text: str) -> list[Sentence]:
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"text is {len(text)} characters; the limit per call is {MAX_TEXT_CHARS}")
    return split_sentences(normalize(text))


class Engine:
    """Synthesizes with one voice. One synthesis at a time per engine (espeak-ng and the
    pooled buffers are shared); make one engine per thread to synthesize in parallel."""

    def __init__(self, config: VoiceConfig, split: SplitVoice, latent: Latent, streamer: Streamer,
                 espeak: Espeak, pool: BufferPool, threads: int, quality: str,
                 compensator: Compensator | None, digest: str = "") -> None:
        self.config = config
        self.split = split
        self.latent = latent
        self.streamer = streamer
        self.espeak = espeak
        self.pool = pool
        self.threads = threads
        self.quality = quality
        self.compensator = compensator
        self.digest = digest  # the voice level's content, as VoiceLevel.digest

    @classmethod
    def load(cls, voice: VoiceFiles | None = None, threads: int | None = None,
             quality: str | None = None, compensate: bool = True, warm: bool = True) -> "Engine":
        """The engine for `voice` (None: the default voice) at `quality` (None: the
        voice's default level; a Piper voice is prepared once for the INT8 levels).
        `compensate=False` leaves out the Mel gain compensation (to measure what it does).
        `warm=False` skips `reserve()`, for a process that speaks one short text and exits:
        there the warm-up run would cost as much as the speech."""
        from .store import load_level

        threads = threads or default_threads()
        level = load_level(voice.model if voice else None, voice.config if voice else None, quality)
        config, split = level.config, level.split
        check_voice(config, split)
        pool = BufferPool()
        seed_noise()
        latent = Latent(open_session(split.latent, threads, "the voice's latent graph"))
        streamer = Streamer(split, open_session(split.flow, threads, "the voice's flow graph"),
                            open_session(split.decoder, threads, "the voice's decoder graph"), pool)
        espeak = Espeak(paths.espeak_library(), paths.espeak_data())
        # onnxruntime holds its own copy of each graph: do not keep the bundle's bytes too.
        split = dataclasses.replace(split, latent=_unbytes(split.latent), flow=_unbytes(split.flow),
                                    decoder=_unbytes(split.decoder))
        compensator = None
        if level.compensation is not None and compensate:
            # A window keeps at most all its frames (the last one, aligned to the end).
            compensator = Compensator(level.compensation, pool, (WINDOW_FRAMES + 2 * split.decoder_pad) * split.hop)
        engine = cls(config, split, latent, streamer, espeak, pool, threads, level.quality, compensator,
                     level.digest)
        if warm:
            engine.reserve()
        return engine

    def sentence_ids(self, sentence: Sentence) -> list[int]:
        phonemes = "".join(self.espeak.clause_phonemes(self.config.espeak_voice, c) for c in sentence.clauses)
        return phonemes_to_ids(split_phonemes(phonemes, self.config.vowel_clusters), self.config)

    def synthesize(self, text: str, settings: SynthesisSettings | None = None) -> Generator[AudioChunk, None, None]:
        """Chunks of speech for `text`, each yielded as soon as it is decoded."""
        settings = settings or SynthesisSettings()
        started = time.perf_counter()
        scales = settings.scales(self.config)
        speaker = settings.speaker(self.config)
        sentences = text_to_sentences(text)
        text_time = time.perf_counter() - started
        for index, sentence in enumerate(sentences):
            timings = SentenceTimings(text=text_time)
            t0 = time.perf_counter()
            ids = self.sentence_ids(sentence)
            timings.phonemes = time.perf_counter() - t0
            if len(ids) <= 3:  # BOS PAD EOS: espeak-ng found nothing to say
                continue
            yield from self._speak(ids, scales, speaker, settings, index, timings, started)
            if settings.sentence_silence > 0:
                yield from self._silence(settings.sentence_silence, index, timings)

    def _speak(self, ids: list[int], scales: tuple[float, float, float], speaker: int | None,
               settings: SynthesisSettings, index: int, timings: SentenceTimings,
               started: float) -> Iterator[AudioChunk]:
        t0 = time.perf_counter()
        z_p = self.latent.run(ids, scales, speaker)
        timings.latent = time.perf_counter() - t0
        self.streamer.set_speaker(speaker)
        frames = z_p.shape[2]
        windows = plan_windows(frames, *self._decoder_sizes())
        flow_windows = iter(plan_windows(frames, *self._flow_sizes()))
        z = self.pool.take(z_p.shape)
        try:
            ready = 0
            for n, window in enumerate(windows):
                while window.stop > ready:  # the flow runs just ahead of the decoder
                    t0 = time.perf_counter()
                    flow_window = next(flow_windows)
                    self.streamer.flow(z_p, z, flow_window)
                    ready = flow_window.keep_stop
                    timings.flow += time.perf_counter() - t0
                t0 = time.perf_counter()
                samples = self.streamer.decode(z, window)
                hop = self.split.hop
                first, last = (window.keep_start - window.start) * hop, (window.keep_stop - window.start) * hop
                kept = samples.reshape(-1)[first:last]
                try:
                    pcm = self._finish_audio(kept, settings.volume, n == len(windows) - 1, timings)
                finally:
                    self.pool.give(samples)
                timings.windows.append(time.perf_counter() - t0)
                if n == 0:
                    timings.first_audio = time.perf_counter() - started
                try:
                    yield AudioChunk(pcm, self.config.sample_rate, index, n == len(windows) - 1, timings)
                finally:
                    self.pool.give(pcm)
        finally:
            self.pool.give(z)
            if self.compensator is not None:
                self.compensator.reset()  # a sentence cut short leaves no tail for the next

    def _finish_audio(self, samples: np.ndarray, volume: float, last: bool, timings: SentenceTimings) -> np.ndarray:
        """Compensated (INT8 levels) and converted to a pooled int16 array."""
        if self.compensator is None:
            return to_pcm16(samples, volume, self.pool)
        t0 = time.perf_counter()
        head = self.compensator.process(samples)
        timings.compensation += time.perf_counter() - t0
        if not last:
            return to_pcm16(head, volume, self.pool)
        with self.pool.lend((len(samples) + N_FFT,)) as joined:
            count = len(head)
            joined[:count] = head
            t0 = time.perf_counter()
            tail = self.compensator.finish()
            timings.compensation += time.perf_counter() - t0
            joined[count:count + len(tail)] = tail
            return to_pcm16(joined[:count + len(tail)], volume, self.pool)

    def _decoder_sizes(self) -> tuple[int, int, int]:
        pad = self.split.decoder_pad
        return FIRST_WINDOW_FRAMES + pad, WINDOW_FRAMES + 2 * pad, pad

    def _flow_sizes(self) -> tuple[int, int, int]:
        pad = self.split.flow_pad
        first_decoder_window = self._decoder_sizes()[0]
        return first_decoder_window + pad, FLOW_WINDOW_FRAMES + 2 * pad, pad

    def reserve(self) -> None:
        """Run the flow and the decoder once on their largest fixed window, so onnxruntime
        and the pool hold their whole working set from the start: memory is then the
        same for a one-word sentence and a long one, and no later call allocates."""
        channels = self.split.channels
        flow_size, decoder_size = self._flow_sizes()[1], self._decoder_sizes()[1]
        z = self.pool.take((1, channels, flow_size))
        try:
            z.fill(0.0)
            self.streamer.flow(z, z, Window(0, flow_size, 0, flow_size))
            self.pool.give(self.streamer.decode(z, Window(0, decoder_size, 0, decoder_size)))
        finally:
            self.pool.give(z)

    def _silence(self, seconds: float, index: int, timings: SentenceTimings) -> Iterator[AudioChunk]:
        samples = int(seconds * self.config.sample_rate)
        pcm = self.pool.take((samples,), np.int16)
        pcm.fill(0)
        try:
            yield AudioChunk(pcm, self.config.sample_rate, index, True, timings)
        finally:
            self.pool.give(pcm)
