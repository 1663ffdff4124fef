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
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

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
from ..voice.limits import LENGTH_SCALE
from .audio import AudioChunk, SentenceTimings, to_pcm16
from .markers import stage
from .sessions import ThreadPlan
from .streaming import Latent, Pending, Streamer, VoiceSessions
from .windows import Window, decoder_sizes, flow_sizes


@dataclasses.dataclass(frozen=True)
class _Run:
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
    (loading.engine.open_sessions); `edgesay.Engine.load` finds, prepares and opens those."""

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
        # and the others on lanes (runtime/sessions.ThreadPlan).
        plan = ThreadPlan(threads, sessions.decoder_tail is not None)
        self._worker = ThreadPoolExecutor(1, "edgesay-front") if threads > 1 else None
        # The flow over the whole sentence, queued at its start, and the next sentence's latent
        # graph run on a thread of their own: on the worker, a 512-frame flow window (or a
        # latent graph) held up the next head for several windows' worth of tail.
        self._behind = ThreadPoolExecutor(1, "edgesay-flow") if threads > 1 else None
        self._flow_sizes = flow_sizes(self.split.flow_pad, self.split.window_pad, ahead=self._behind is not None)
        self._lanes = ThreadPoolExecutor(plan.parts - 1, "edgesay-lane") if plan.parts > 1 else None
        self.streamer = Streamer(self.split, sessions.flow, sessions.decoder, self.pool, sessions.decoder_tail,
                                 self._flow_sizes.size, self._decoder_sizes.size, self._lanes, plan.parts)
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
        scales = settings.scales(self.config)
        speaker = settings.speaker(self.config)
        with stage("text"):
            parts: list[Part] = ssml_parse(text, self.frontend.english) if ssml else [Said(text)]
            frontends = [self._frontend_for(part.language) if isinstance(part, Said) else None for part in parts]
            rated = [self._rated(scales, part.rate) if isinstance(part, Said) else scales for part in parts]
        text_time = time.perf_counter() - started

        def runs() -> Iterator[_Run]:
            """Each sentence to speak, and each pause, in order; a sentence that ends a part
            followed by another (a break, another rate) gets no sentence silence of its own."""
            index = 0
            for n, part in enumerate(parts):
                if isinstance(part, Pause):
                    yield _Run(index, None, SentenceTimings(text=text_time), scales, part.seconds)
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
                    last = coming is None and n < len(parts) - 1
                    if len(ids) > EMPTY_IDS:  # else espeak-ng found nothing to say
                        yield _Run(index, ids, timings, rated[n], 0.0 if last else silence)
                    index += 1

        queue = runs()
        coming = next(queue, None)
        latent: Future[np.ndarray] | None = None  # the next sentence's, made on the worker
        try:
            while coming is not None:
                run, coming = coming, next(queue, None)  # the one after, so its latent can start early
                if run.ids is None:
                    yield from self._silence(run.silence, run.index, run.timings)
                    continue
                following = (coming.ids, coming.scales) if coming is not None and coming.ids is not None \
                    and self._worker is not None else None
                latent = yield from self._speak(run.ids, latent, following, run.scales, speaker, settings, run.index,
                                                run.timings, started)
                if run.silence > 0:
                    yield from self._silence(run.silence, run.index, run.timings)
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

    def _speak(self, ids: list[int], latent: "Future[np.ndarray] | None",
               following: tuple[list[int], tuple[float, float, float]] | None,
               scales: tuple[float, float, float], speaker: int | None, settings: SynthesisSettings, index: int,
               timings: SentenceTimings, started: float) -> Generator[AudioChunk, None, "Future[np.ndarray] | None"]:
        """One sentence's chunks. `latent`: its latent graph's run, if the worker started it; the
        return value: the worker's run of the `following` sentence's, started once this
        sentence's last window no longer needs the worker (None without a worker)."""
        t0 = time.perf_counter()
        with stage("latent"):
            z_p = latent.result() if latent is not None else self.latent.run(ids, scales, speaker)
        timings.latent = time.perf_counter() - t0  # with a worker: the time waited for it
        self.streamer.set_speaker(speaker)
        frames = z_p.shape[2]
        windows = self._decoder_sizes.plan(frames)
        flow_plan = self._flow_sizes.plan(frames)
        # Every sentence up to one flow window long shares the class of the buffer reserve()
        # makes (a one-word sentence drawn shorter than any before would otherwise need a new,
        # smaller class; seen after 68 utterances of the soak).
        z = self.pool.take(z_p.shape, room=z_p.shape[1] * self._flow_sizes.size)
        # Each flow window after the one before (it writes z, which the heads read only up to
        # what is done).
        flows: list[Future[None]] = []
        queued = threading.Lock()

        def queue_flows(upto: int) -> None:
            """Queue flow windows up to `upto` on the flow thread, in order (once each)."""
            if self._behind is None:
                return
            with queued:
                while len(flows) < min(upto, len(flow_plan)):
                    flows.append(self._behind.submit(self.streamer.flow, z_p, z, flow_plan[len(flows)]))

        # A sentence whose latent graph the worker made follows audio already out: its windows
        # fill every core from the start. The first sentence's first window is what the
        # listener waits for: it gets the cores to itself, and the second window's flow and head
        # start after its audio (with them beside it, its tail parts each ran twice as long).
        eager = latent is not None
        # The first flow windows now (the first two when eager); the rest after the first
        # audio, which they would otherwise slow down by taking a core.
        queue_flows(2 if eager else 1)
        flowed = 0  # flow windows done
        ready = 0  # frames of z done

        def front(window: Window) -> tuple[np.ndarray, int]:
            """The flow as far as the window needs (it runs ahead of the decoder), then the
            decoder's head: on the worker thread for every window but the first."""
            nonlocal ready, flowed
            while window.stop > ready:
                t0 = time.perf_counter()
                if self._behind is not None:
                    queue_flows(flowed + 1)  # (queued already, unless a window outruns the plan)
                    flows[flowed].result()  # with threads: the time waited for it
                else:
                    with stage("flow"):
                        self.streamer.flow(z_p, z, flow_plan[flowed])
                ready = flow_plan[flowed].keep_stop
                flowed += 1
                timings.flow += time.perf_counter() - t0
            with stage("head"):
                return self.streamer.front(z, window)

        ahead: Future[tuple[np.ndarray, int]] | None = None  # the next window's front, on the worker
        pending: Pending | None = None  # a window's tail, started

        def begin(n: int) -> Pending:
            """Start window n's tail (its head from the worker, or made here), and the next
            window's front on the worker."""
            nonlocal ahead
            if ahead is not None:
                made, offset = ahead.result()
                ahead = None
            else:
                made, offset = front(windows[n])
            if self._worker is not None and n + 1 < len(windows) and (n > 0 or eager):
                ahead = self._worker.submit(front, windows[n + 1])
            with stage("tail"):
                return self.streamer.back_start(made, offset)

        next_latent: Future[np.ndarray] | None = None
        finished = False
        try:
            for n, window in enumerate(windows):
                t0 = time.perf_counter()
                this = pending if pending is not None else begin(n)
                pending = None
                with stage("tail"):
                    samples, offset = self.streamer.back_finish(this), this.offset
                if ahead is not None and n > 0:
                    # With threads, the next window's tail starts on the lanes now, beside this
                    # window's compensation (which otherwise ran with the lanes idle); not after
                    # the first window, whose audio must not wait for the second's head.
                    try:
                        pending = begin(n + 1)
                    except BaseException:
                        self.pool.give(samples)
                        raise
                hop, start = self.split.hop, window.start + offset  # the frame samples[0] belongs to
                first, last = (window.keep_start - start) * hop, (window.keep_stop - start) * hop
                kept = samples.reshape(-1)[first:last]
                try:
                    pcm = self._finish_audio(kept, settings, n == len(windows) - 1, timings)
                finally:
                    self.pool.give(samples)
                timings.windows.append(time.perf_counter() - t0)
                if n == 0:
                    timings.first_audio = time.perf_counter() - started
                    queue_flows(len(flow_plan))
                if self._behind is not None and following is not None and next_latent is None:
                    # The next sentence's latent graph, on a thread of its own beside this
                    # sentence's windows (after the first audio, which it must not delay).
                    next_latent = self._behind.submit(self.latent.run, *following, speaker)
                try:
                    yield AudioChunk(pcm, self.config.sample_rate, index, n == len(windows) - 1, timings)
                finally:
                    self.pool.give(pcm)
            finished = True
            return next_latent
        finally:
            with queued:  # no more flow windows from here on
                flow_plan = flow_plan[:len(flows)]
            for flow in flows:  # stopped early: flow windows not started never will be
                flow.cancel()
            if ahead is not None:  # stopped early: the next window is still using z
                with suppress(Exception):  # its own error does not matter once we stop
                    ahead.result()
            if pending is not None:  # stopped early: a started tail is still using its buffers
                self.streamer.abandon(pending)
            for flow in flows:  # one may still be writing z
                with suppress(Exception):
                    flow.exception()
            if next_latent is not None and not finished:
                with suppress(Exception):  # stopped early: the next sentence will not be spoken
                    next_latent.result()
            self.pool.give(z)
            self.limiter.reset()  # each sentence starts at full gain, as if it were alone
            if self.compensator is not None:
                self.compensator.reset()  # a sentence cut short leaves no tail for the next

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

    def _silence(self, seconds: float, index: int, timings: SentenceTimings) -> Iterator[AudioChunk]:
        """Silence in chunks no longer than a window's, from the class windows use: however long
        the pause, it costs no memory of its own."""
        left = int(seconds * self.config.sample_rate)
        while left > 0:
            samples = min(left, self._chunk_room)
            pcm = self.pool.take((samples,), np.int16, self._chunk_room)
            pcm.fill(0)
            left -= samples
            try:
                yield AudioChunk(pcm, self.config.sample_rate, index, left == 0, timings)
            finally:
                self.pool.give(pcm)

    def close(self) -> None:
        """Stop the engine's threads (their work is done: this engine speaks no more)."""
        for executor in (self._worker, self._behind, self._lanes):
            if executor is not None:
                executor.shutdown(wait=False)
