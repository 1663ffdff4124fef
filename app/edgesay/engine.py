"""The engine: text in, a stream of audio chunks out.

    text -> normalize -> sentences/clauses -> espeak-ng phonemes -> ids
         -> latent (whole sentence) -> flow (head window, then the rest)
         -> decoder (fixed windows) -> 16-bit chunks

The first decoder window is small, so the first audio of a long sentence comes after the
latent graph and about 0.4 s worth of decoding, not after the whole sentence.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import paths
from .audio import AudioChunk, SentenceTimings, to_pcm16
from .config import SynthesisSettings, VoiceConfig
from .errors import InputError, VoiceError
from .espeak import Espeak
from .graphs import SplitVoice, split_voice
from .inference import Latent, Streamer, open_session
from .normalize import normalize
from .phoneme_ids import phonemes_to_ids, split_phonemes
from .pool import BufferPool
from .sentences import Sentence, split_sentences
from .threads import default_threads
from .windows import plan_windows

# Decoder windows, in frames of exact output (the model sees `pad` more on each side).
# The first is small for time to first audio; the rest are as small as keeps the overlap
# cost low, because decoder memory grows with the window, not with the sentence.
FIRST_WINDOW_FRAMES = 32
WINDOW_FRAMES = 104
MAX_TEXT_CHARS = 10_000_000


@dataclass(frozen=True)
class VoiceFiles:
    model: Path  # .onnx
    config: Path  # .onnx.json

    @classmethod
    def from_model(cls, model: Path, config: Path | None = None) -> "VoiceFiles":
        return cls(model, config or model.with_name(model.name + ".json"))

    @classmethod
    def default(cls) -> "VoiceFiles":
        return cls(*paths.default_voice())


def text_to_sentences(text: str) -> list[Sentence]:
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"text is {len(text)} characters; the limit per call is {MAX_TEXT_CHARS}")
    return split_sentences(normalize(text))


class Engine:
    """Synthesizes with one voice. One synthesis at a time per engine (espeak-ng and the
    pooled buffers are shared); make one engine per thread to synthesize in parallel."""

    def __init__(self, config: VoiceConfig, split: SplitVoice, latent: Latent, streamer: Streamer,
                 espeak: Espeak, pool: BufferPool, threads: int) -> None:
        self.config = config
        self.split = split
        self.latent = latent
        self.streamer = streamer
        self.espeak = espeak
        self.pool = pool
        self.threads = threads

    @classmethod
    def load(cls, voice: VoiceFiles | None = None, threads: int | None = None) -> "Engine":
        voice = voice or VoiceFiles.default()
        threads = threads or default_threads()
        if not voice.config.is_file():
            raise VoiceError(f"voice config {voice.config} does not exist (expected next to {voice.model.name})")
        config = VoiceConfig.from_file(voice.config)
        split = split_voice(voice.model, paths.cache_dir())
        pool = BufferPool()
        latent = Latent(open_session(split.latent, threads, fixed_shapes=False))
        streamer = Streamer(split, open_session(split.flow, threads, fixed_shapes=False),
                            open_session(split.decoder, threads, fixed_shapes=True), pool)
        espeak = Espeak(paths.espeak_library(), paths.espeak_data())
        return cls(config, split, latent, streamer, espeak, pool, threads)

    def sentence_ids(self, sentence: Sentence) -> list[int]:
        phonemes = "".join(self.espeak.clause_phonemes(self.config.espeak_voice, c) for c in sentence.clauses)
        return phonemes_to_ids(split_phonemes(phonemes, self.config.vowel_clusters), self.config)

    def synthesize(self, text: str, settings: SynthesisSettings | None = None) -> Iterator[AudioChunk]:
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
        pad = self.split.decoder_pad
        windows = plan_windows(frames, FIRST_WINDOW_FRAMES + pad, WINDOW_FRAMES + 2 * pad, pad)
        z = self.pool.take(z_p.shape)
        try:
            ready = self._flow_head(z_p, z, windows[0].stop, timings)
            for n, window in enumerate(windows):
                if window.stop > ready:
                    ready = self._flow_rest(z_p, z, ready, timings)
                t0 = time.perf_counter()
                samples = self.streamer.decode(z, window)
                hop = self.split.hop
                kept = samples.reshape(-1)[(window.keep_start - window.start) * hop:(window.keep_stop - window.start) * hop]
                pcm = to_pcm16(kept, settings.volume, self.pool)
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

    def _flow_head(self, z_p: np.ndarray, z: np.ndarray, needed: int, timings: SentenceTimings) -> int:
        """Run the flow on just enough frames for the first window; return frames ready."""
        t0 = time.perf_counter()
        frames, pad = z_p.shape[2], self.split.flow_pad
        if needed + pad >= frames:
            self.streamer.flow(z_p, z, 0, frames, 0, frames)
            needed = frames
        else:
            self.streamer.flow(z_p, z, 0, needed + pad, 0, needed)
        timings.flow += time.perf_counter() - t0
        return needed

    def _flow_rest(self, z_p: np.ndarray, z: np.ndarray, ready: int, timings: SentenceTimings) -> int:
        t0 = time.perf_counter()
        frames = z_p.shape[2]
        self.streamer.flow(z_p, z, max(0, ready - self.split.flow_pad), frames, ready, frames)
        timings.flow += time.perf_counter() - t0
        return frames

    def _silence(self, seconds: float, index: int, timings: SentenceTimings) -> Iterator[AudioChunk]:
        samples = int(seconds * self.config.sample_rate)
        pcm = self.pool.take((samples,), np.int16)
        pcm.fill(0)
        try:
            yield AudioChunk(pcm, self.config.sample_rate, index, True, timings)
        finally:
            self.pool.give(pcm)
