"""The engine: text in, a stream of audio chunks out.

    text -> normalize -> sentences/clauses -> espeak-ng phonemes -> ids
         -> latent (whole sentence) -> flow (head window, then the rest)
         -> decoder (fixed windows) -> 16-bit chunks

The first decoder window is small, so the first audio of a long sentence comes after the
latent graph and about 0.4 s worth of decoding, not after the whole sentence.
"""

import dataclasses
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..dsp.compensation import Compensator
from ..dsp.loudness import Limiter
from ..dsp.mel import N_FFT
from ..errors import EdgesayError, InputError
from ..system.pool import BufferPool
from ..text.espeak import Espeak
from ..text.frontend import EMPTY_IDS, ESPEAK, Frontend
from ..text.lexicon import Lexicon
from ..text.sentences import Sentence
from ..text.ssml import Part, Pause, Said
from ..text.ssml import parse as ssml_parse
from ..voice.bundle import VoiceLevel
from ..voice.config import SynthesisSettings
from ..voice.files import VoiceFiles
from ..voice.limits import LENGTH_SCALE
from .audio import AudioChunk, SentenceTimings, to_pcm16
from .markers import stage
from .sessions import ThreadPlan
from .streaming import Latent, Pending, Streamer, VoiceSessions
from .windows import Window, decoder_sizes, flow_sizes


@dataclasses.dataclass(frozen=True)
class Run:
    """One sentence's graph run (`ids`), or a pause (`ids` None), and the silence after it."""

    index: int  # the sentence's index in the text
    ids: list[int] | None
    timings: SentenceTimings
    scales: tuple[float, float, float]
    silence: float  # seconds after it (a pause's whole length)


class Engine:
    """Synthesizes with one voice. One synthesis at a time per engine (espeak-ng and the
    pooled buffers are shared); make one engine per thread to synthesize in parallel.

    Made from a voice level and its onnxruntime sessions, checked against each other
    (loading.factory.open_sessions); `Engine.load` finds, prepares and opens those."""

    # What `load` calls: edgesay.loading.factory.load (find, prepare, open a voice), a layer above
    # this one, installed when that module is imported (`from edgesay import Engine` does).
    factory: ClassVar["Callable[..., Engine] | None"] = None

    @classmethod
    def load(cls, voice: VoiceFiles | None = None, threads: int | None = None, quality: str | None = None,
             compensate: bool = True, warm: bool = True, profile: bool = False, prepare: bool = True) -> "Engine":
        """The engine for `voice` (None: the default voice) at `quality` (None: the voice's
        default level), with `threads` (None: the idle cores, 1 to 4). `prepare`: a Piper voice
        not prepared on this machine is prepared now (minutes, once; progress on stderr), else
        it is NotPrepared. `compensate=False` leaves out the Mel gain compensation (to measure
        what it does). `warm=False` skips `reserve()`, for a process that speaks one short text
        and exits: there the warm-up run would cost as much as the speech. `profile=True` turns
        on onnxruntime's profiler in every session (`engine.sessions.*.end_profiling()`)."""
        if cls.factory is None:
            raise RuntimeError("Engine.load needs edgesay.loading: use `from edgesay import Engine`")
        return cls.factory(voice, threads, quality, compensate, warm, profile, prepare)

    def __init__(self, level: VoiceLevel, sessions: VoiceSessions, threads: int, compensate: bool = True) -> None:
        """`compensate=False` leaves out the Mel gain compensation (to measure what it does)."""
        self.config = level.config
        self.split = level.split.without_graphs()
        self.quality = level.quality
        self.digest = level.digest  # the voice level's content, as VoiceLevel.digest
        self.threads = threads
        self.sessions = sessions
        self.pool = BufferPool()
        self.latent = Latent(sessions.latent)
        self.espeak = Espeak.installed()
        if self.config.phoneme_type == ESPEAK:
            self.espeak.check_voice(self.config.espeak_voice)  # a language espeak-ng lacks: refused now
        self.frontend = self.config.frontend(self.espeak)
        self.lexicon = Lexicon()  # none until use_lexicon
        self._decoder_sizes = decoder_sizes(self.split.window_pad)
        # With two or more threads, the flow and the decoder's head of the next window run on a
        # worker while the tail and the compensation of the current one run here: the small
        # graphs barely use a second core by themselves (1.0-1.2x), so overlapping them with
        # the tail is what lets a second core help. The tail itself runs in parts, one here
        # and the others on threads of their own (runtime/sessions.ThreadPlan).
        plan = ThreadPlan(threads, sessions.decoder_tail is not None)
        # The next window's decoder head (and the flow it waits for).
        self._heads = ThreadPoolExecutor(1, "edgesay-head") if threads > 1 else None
        # The flow over the whole sentence, queued at its start, and the next sentence's latent
        # graph run on a thread of their own: beside the heads, a 512-frame flow window (or a
        # latent graph) held up the next head for several windows' worth of tail.
        self._ahead = ThreadPoolExecutor(1, "edgesay-flow") if threads > 1 else None
        self._flow_sizes = flow_sizes(self.split.flow_pad, self.split.window_pad, ahead=self._ahead is not None)
        self._tail_parts = ThreadPoolExecutor(plan.parts - 1, "edgesay-tail") if plan.parts > 1 else None
        self.streamer = Streamer(self.split, sessions.flow, sessions.decoder, self.pool, sessions.decoder_tail,
                                 self._flow_sizes.size, self._decoder_sizes.size, self._tail_parts, plan.parts)
        self.gain = level.gain  # the voice's loudness gain, measured when it was prepared
        # The most samples one chunk holds: a whole window and the compensation's tail. Every
        # chunk's buffers come from the pool's class for that, so a short last window needs
        # no new buffer.
        window_samples = self._decoder_sizes.size * self.split.hop  # the most one window decodes
        self._chunk_room = window_samples + N_FFT
        self.limiter = Limiter(self.config.sample_rate, self.pool, self._chunk_room)
        self.compensator = None
        if level.compensation is not None and compensate:
            self.compensator = Compensator(level.compensation, self.pool, window_samples)

    def sentence_ids(self, sentence: Sentence) -> list[int]:
        return self.frontend.sentence_ids(sentence)

    def use_lexicon(self, files: Sequence[Path] = ()) -> None:
        """Say words as the user's lexicons say (text/lexicon.py): the default files of this
        voice's language, then `files`; LexiconError if one is malformed or has a phoneme this
        voice lacks."""
        self.lexicon = Lexicon.for_voice(self.config.espeak_voice, self.config.phoneme_id_map,
                                         self.config.phoneme_type == ESPEAK, files)

    def synthesize(self, text: str, settings: SynthesisSettings | None = None,
                   ssml: bool = False) -> Generator[AudioChunk, None, None]:
        """Chunks of speech for `text`, each yielded as soon as it is decoded. `ssml`: the text
        is an SSML document (text/ssml.py), checked whole before any audio."""
        settings = settings or SynthesisSettings()
        started = time.perf_counter()
        yield from self.speak(self.runs(text, settings, ssml, started), settings, started)

    def runs(self, text: str, settings: SynthesisSettings | None = None, ssml: bool = False,
             started: float | None = None) -> Iterator[Run]:
        """What `speak` turns into audio: each sentence of `text` as phoneme ids with its scales,
        and each SSML pause, in order. Read as it is iterated, so the first sentence is ready
        before the rest of the text is read; any engine of the voice may speak them."""
        settings = settings or SynthesisSettings()
        started = time.perf_counter() if started is None else started
        scales = settings.scales(self.config)
        with stage("text"):
            parts: list[Part] = ssml_parse(text, self.frontend.english) if ssml else [Said(text)]
            frontends = [self._frontend_for(part.language) if isinstance(part, Said) else None for part in parts]
            rated = [self._rated(scales, part.rate) if isinstance(part, Said) else scales for part in parts]
        text_time = time.perf_counter() - started
        index = 0
        for n, part in enumerate(parts):
            if isinstance(part, Pause):
                yield Run(index, None, SentenceTimings(text=text_time), scales, part.seconds)
                continue
            frontend = frontends[n]
            assert frontend is not None  # for mypy: made for every Said
            with stage("text"):
                sentences = frontend.sentences(self.lexicon.apply(part.text))
            silence = settings.sentence_silence
            coming = next(sentences, None)
            while coming is not None:  # (another language's are read here)
                sentence, coming = coming, next(sentences, None)
                timings = SentenceTimings(text=text_time)
                t0 = time.perf_counter()
                with stage("text"):
                    ids = frontend.sentence_ids(sentence)
                timings.phonemes = time.perf_counter() - t0
                # A sentence that ends a part followed by another (a break, another rate) gets
                # no sentence silence of its own.
                last = coming is None and n < len(parts) - 1
                if len(ids) > EMPTY_IDS:  # else espeak-ng found nothing to say
                    yield Run(index, ids, timings, rated[n], 0.0 if last else silence)
                index += 1

    def speak(self, runs: Iterable[Run], settings: SynthesisSettings | None = None,
              started: float | None = None) -> Generator[AudioChunk, None, None]:
        """The audio of `runs` (from `runs`), chunk by chunk; `started`: when the synthesis began,
        for the first audio's timing (default: now)."""
        settings = settings or SynthesisSettings()
        started = time.perf_counter() if started is None else started
        speaker = settings.speaker(self.config)
        queue = iter(runs)
        coming = next(queue, None)
        latent: Future[np.ndarray] | None = None  # the next sentence's, made on the worker
        number = 0  # the run's place among `runs`
        try:
            while coming is not None:
                run, coming = coming, next(queue, None)  # the one after, so its latent can start early
                if run.ids is None:
                    yield from self._silence(run.silence, run.index, run.timings, number)
                    number += 1
                    continue
                following = (coming.ids, coming.scales) if coming is not None and coming.ids is not None \
                    and self._heads is not None else None
                sentence = _Sentence(self, run, number, speaker, settings, started)
                try:
                    yield from sentence.chunks(latent, following)
                finally:
                    sentence.close()
                latent = sentence.next_latent
                if run.silence > 0:
                    yield from self._silence(run.silence, run.index, run.timings, number)
                number += 1
        finally:
            if latent is not None:  # stopped early: the worker must not be left running the latent graph
                with suppress(Exception):
                    latent.result()

    def _frontend_for(self, language: str | None) -> Frontend:
        """The voice's front end, or one reading another language (SSML's xml:lang) with the
        voice's phonemes: the tag as espeak-ng names it ("en-gb"), else its language ("fr")."""
        if language is None or self.config.phoneme_type != ESPEAK:
            return self.frontend
        tag = language.lower().replace("_", "-")
        for name in dict.fromkeys([tag, tag.split("-")[0]]):
            if name == self.frontend.espeak_voice:
                return self.frontend
            try:
                self.espeak.check_voice(name)
            except EdgesayError:
                continue
            return dataclasses.replace(self.frontend, espeak_voice=name)
        raise InputError(f"SSML xml:lang {language!r}: espeak-ng does not speak it")

    def _rated(self, scales: tuple[float, float, float], rate: float) -> tuple[float, float, float]:
        """The scales of a run at SSML's prosody rate (a speed: the length scale divided by it)."""
        if rate == 1.0:
            return scales
        noise, length, noise_w = scales
        if not LENGTH_SCALE.holds(length / rate):
            raise InputError(f"SSML prosody rate {rate:g}x makes the length scale {length / rate:g}; "
                             f"it must be {LENGTH_SCALE.range}")
        return noise, length / rate, noise_w

    def _finish_audio(self, samples: np.ndarray, settings: SynthesisSettings, last: bool,
                      timings: SentenceTimings) -> np.ndarray:
        """Compensated (INT8 levels), made as loud as Piper makes it (unless settings.normalize
        is off) and converted to a pooled int16 array."""
        if self.compensator is None:
            return self._to_pcm(samples, settings)
        t0 = time.perf_counter()
        with stage("compensation"):
            head = self.compensator.process(samples)
        timings.compensation += time.perf_counter() - t0
        if not last:
            return self._to_pcm(head, settings)
        with self.pool.lend((len(samples) + N_FFT,), room=self._chunk_room) as joined:
            count = len(head)
            joined[:count] = head
            t0 = time.perf_counter()
            with stage("compensation"):
                tail = self.compensator.finish()
            timings.compensation += time.perf_counter() - t0
            joined[count:count + len(tail)] = tail
            return self._to_pcm(joined[:count + len(tail)], settings)

    def _to_pcm(self, samples: np.ndarray, settings: SynthesisSettings) -> np.ndarray:
        with stage("loudness"):
            return self._loud_pcm(samples, settings)

    def _loud_pcm(self, samples: np.ndarray, settings: SynthesisSettings) -> np.ndarray:
        if not settings.normalize:
            return to_pcm16(samples, settings.volume, self.pool, self._chunk_room)
        with self.pool.lend((samples.size,), np.float32, self._chunk_room) as loud:
            np.multiply(samples.reshape(-1), np.float32(self.gain * settings.volume), out=loud)
            self.limiter.process(loud)
            return to_pcm16(loud, 1.0, self.pool, self._chunk_room)

    def reserve(self) -> None:
        """Run the flow and the decoder once on their largest fixed window, so onnxruntime
        and the pool hold their whole working set from the start: memory is then the
        same for a one-word sentence and a long one, and no later call allocates."""
        channels = self.split.channels
        flow_size, decoder_size = self._flow_sizes.size, self._decoder_sizes.size
        z = self.pool.take((1, channels, flow_size))
        try:
            z.fill(0.0)
            self.streamer.flow(z, z, Window(0, flow_size, 0, flow_size))
            self.pool.give(self.streamer.decode(z[:, :, :decoder_size], Window(0, decoder_size, 0, decoder_size))[0])
        finally:
            self.pool.give(z)

    def _silence(self, seconds: float, index: int, timings: SentenceTimings, number: int) -> Iterator[AudioChunk]:
        """Silence in chunks no longer than a window's, from the class windows use: however long
        the pause, it costs no memory of its own."""
        left = int(seconds * self.config.sample_rate)
        while left > 0:
            samples = min(left, self._chunk_room)
            pcm = self.pool.take((samples,), np.int16, self._chunk_room)
            pcm.fill(0)
            left -= samples
            try:
                yield AudioChunk(pcm, self.config.sample_rate, index, left == 0, timings, number, left == 0)
            finally:
                self.pool.give(pcm)

    def close(self) -> None:
        """Stop the engine's threads (their work is done: this engine speaks no more)."""
        for executor in (self._heads, self._ahead, self._tail_parts):
            if executor is not None:
                executor.shutdown(wait=False)


class _Sentence:
    """One sentence's run through the flow and the decoder, window by window.

    The flow runs ahead over the whole sentence on the engine's `_ahead` thread, each window's
    decoder head runs one window early on the `_heads` thread, and each window's tail starts (in
    parts) beside the previous window's compensation. The first sentence's first window, what
    the listener waits for, runs with nothing beside it. `close()`, always called, waits for
    what those threads still do with the sentence's buffers and gives the buffers back."""

    def __init__(self, engine: "Engine", run: Run, number: int, speaker: int | None,
                 settings: SynthesisSettings, started: float) -> None:
        assert run.ids is not None  # a sentence, not a pause
        self.engine = engine
        self.run = run
        self.ids: list[int] = run.ids
        self.number = number  # the run's place (AudioChunk.run)
        self.speaker = speaker
        self.settings = settings
        self.started = started
        self.timings = run.timings
        self.next_latent: Future[np.ndarray] | None = None  # the following sentence's, on `_ahead`
        self._z: np.ndarray | None = None  # the flow's output for the whole sentence, from the pool
        self._flows: list[Future[None]] = []  # flow windows queued on `_ahead`, in order
        self._queued = threading.Lock()
        self._flow_plan: list[Window] = []
        self._flowed = 0  # flow windows done
        self._ready = 0  # frames of z done
        self._head_next: Future[tuple[np.ndarray, int]] | None = None  # the next window's head
        self._tail_next: Pending | None = None  # the next window's tail, started
        self._eager = False  # its latent graph was made ahead: its windows fill every core at once
        self._z_p = np.zeros((1, 1, 0), np.float32)  # the latent graph's output (chunks() sets it)
        self._finished = False

    def chunks(self, latent: "Future[np.ndarray] | None",
               following: tuple[list[int], tuple[float, float, float]] | None) -> Iterator[AudioChunk]:
        """The sentence's audio. `latent`: its latent graph's run, if `_ahead` made it after the
        sentence before; `following`: the next sentence's ids and scales, whose latent graph
        starts on `_ahead` after this one's first audio (`next_latent`)."""
        engine, timings = self.engine, self.timings
        t0 = time.perf_counter()
        with stage("latent"):
            z_p = latent.result() if latent is not None else engine.latent.run(self.ids, self.run.scales, self.speaker)
        timings.latent = time.perf_counter() - t0  # with threads: the time waited for it
        engine.streamer.set_speaker(self.speaker)
        frames = z_p.shape[2]
        windows = engine._decoder_sizes.plan(frames)
        self._flow_plan = engine._flow_sizes.plan(frames)
        # Every sentence up to one flow window long shares the class of the buffer reserve()
        # makes (a one-word sentence drawn shorter than any before would otherwise need a new,
        # smaller class).
        self._z = engine.pool.take(z_p.shape, room=z_p.shape[1] * engine._flow_sizes.size)
        # A sentence whose latent graph was made ahead follows audio already out: its windows
        # fill every core from the start. The first sentence's first window gets the cores to
        # itself, and the second window's flow and head start after its audio.
        self._eager = latent is not None
        self._z_p = z_p
        # The first flow windows now (the first two when eager); the rest after the first
        # audio, which they would otherwise slow down by taking a core.
        self._queue_flows(2 if self._eager else 1)
        for n, window in enumerate(windows):
            t0 = time.perf_counter()
            this = self._tail_next if self._tail_next is not None else self._start_tail(windows, n)
            self._tail_next = None
            with stage("tail"):
                samples, offset = engine.streamer.finish_tail(this), this.offset
            if self._head_next is not None and n > 0:
                # With threads, the next window's tail starts on the tail parts' threads now,
                # beside this window's compensation (which otherwise ran with them idle); not
                # after the first window, whose audio must not wait for the second's head.
                try:
                    self._tail_next = self._start_tail(windows, n + 1)
                except BaseException:
                    engine.pool.give(samples)
                    raise
            hop, start = engine.split.hop, window.start + offset  # the frame samples[0] belongs to
            first, last = (window.keep_start - start) * hop, (window.keep_stop - start) * hop
            kept = samples.reshape(-1)[first:last]
            final = n == len(windows) - 1
            try:
                pcm = engine._finish_audio(kept, self.settings, final, timings)
            finally:
                engine.pool.give(samples)
            timings.windows.append(time.perf_counter() - t0)
            if n == 0:
                timings.first_audio = time.perf_counter() - self.started
                self._queue_flows(len(self._flow_plan))
            if engine._ahead is not None and following is not None and self.next_latent is None:
                # The next sentence's latent graph, beside this sentence's windows (after the
                # first audio, which it must not delay).
                self.next_latent = engine._ahead.submit(engine.latent.run, *following, self.speaker)
            try:
                yield AudioChunk(pcm, engine.config.sample_rate, self.run.index, final, timings, self.number,
                                 final and self.run.silence <= 0)
            finally:
                engine.pool.give(pcm)
        self._finished = True

    def _queue_flows(self, upto: int) -> None:
        """Queue flow windows up to `upto` on `_ahead`, in order (once each)."""
        ahead = self.engine._ahead
        if ahead is None:
            return
        z = self._z
        assert z is not None  # taken before any flow window is queued
        with self._queued:
            while len(self._flows) < min(upto, len(self._flow_plan)):
                window = self._flow_plan[len(self._flows)]
                self._flows.append(ahead.submit(self.engine.streamer.flow, self._z_p, z, window))

    def _head(self, window: Window) -> tuple[np.ndarray, int]:
        """The flow as far as the window needs (it runs ahead of the decoder), then the decoder's
        head: on the `_heads` thread for every window but the first."""
        engine, z = self.engine, self._z
        assert z is not None  # taken before any window is decoded
        while window.stop > self._ready:
            t0 = time.perf_counter()
            if engine._ahead is not None:
                self._queue_flows(self._flowed + 1)  # (queued already, unless a window outruns the plan)
                self._flows[self._flowed].result()  # with threads: the time waited for it
            else:
                with stage("flow"):
                    engine.streamer.flow(self._z_p, z, self._flow_plan[self._flowed])
            self._ready = self._flow_plan[self._flowed].keep_stop
            self._flowed += 1
            self.timings.flow += time.perf_counter() - t0
        with stage("head"):
            return engine.streamer.run_head(z, window)

    def _start_tail(self, windows: list[Window], n: int) -> Pending:
        """Start window n's tail (its head from `_heads`, or made here), and the next window's
        head on `_heads`."""
        engine = self.engine
        if self._head_next is not None:
            made, offset = self._head_next.result()
            self._head_next = None
        else:
            made, offset = self._head(windows[n])
        if engine._heads is not None and n + 1 < len(windows) and (n > 0 or self._eager):
            self._head_next = engine._heads.submit(self._head, windows[n + 1])
        with stage("tail"):
            return engine.streamer.start_tail(made, offset)

    def close(self) -> None:
        """Wait for what the threads still do with this sentence's buffers (stopped early:
        nothing new starts), then give the buffers back."""
        engine = self.engine
        with self._queued:  # no more flow windows from here on
            self._flow_plan = self._flow_plan[:len(self._flows)]
        for flow in self._flows:  # stopped early: flow windows not started never will be
            flow.cancel()
        if self._head_next is not None:  # stopped early: the next window is still using z
            with suppress(Exception):  # its own error does not matter once we stop
                self._head_next.result()
        if self._tail_next is not None:  # stopped early: a started tail is still using its buffers
            engine.streamer.abandon(self._tail_next)
        for flow in self._flows:  # one may still be writing z
            with suppress(Exception):
                flow.exception()
        if self.next_latent is not None and not self._finished:
            with suppress(Exception):  # stopped early: the next sentence will not be spoken
                self.next_latent.result()
            self.next_latent = None
        if self._z is not None:
            engine.pool.give(self._z)
        engine.limiter.reset()  # each sentence starts at full gain, as if it were alone
        if engine.compensator is not None:
            engine.compensator.reset()  # a sentence cut short leaves no tail for the next
