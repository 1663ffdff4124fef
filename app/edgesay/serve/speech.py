"""One request's speech: synthesized on a worker thread, handed to the event loop as it is made.

Both transports (Wyoming, HTTP) go through `Speech.stream`: worker slots given earliest deadline
first (`Workers`), an engine of the requested voice while it computes, and a bounded buffer
between the engine and the client, so a slow reader holds at most its own slot and
`BUFFERED_CHUNKS` of audio; a client that is ahead gives its engine back between sentences, and
a client that leaves stops its synthesis after the window being decoded. A client that has gone
before its turn never takes a slot.
"""

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import heapq
import itertools
import math
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field

from ..errors import EdgesayError, InputError, VoiceError
from ..runtime.engine import Engine, Run
from ..system.memory import Trimmer
from ..voice.config import SynthesisSettings, VoiceConfig
from ..voice.limits import MAX_UTTERANCE_CHARS
from .voices import LOG, ClientGone, LoadedVoice, LoadedVoices, NotPrepared, UnknownVoice

# Decoder windows of audio a client may fall behind by before its synthesis waits for it and
# gives up its worker slot (a window is 1.2 s of speech for a medium voice; the socket holds
# more on top). With the engine's own working set, this bounds one request's memory.
BUFFERED_CHUNKS = 16
_POLL = 0.1  # seconds: how often a waiting worker, or a request waiting for one, looks whether its client left
# A client that has taken none of the audio waiting for it for this long is not reading (one
# playing in real time takes a window, 1.2 s of speech, as it plays it; one whose audio is not made yet is
# waiting, not stalled): when every engine is taken, its synthesis is the one ended to make room.
STALLED_SECONDS = 2.0
_WATCH = 0.25  # seconds: how often the server looks for such a client while every engine is taken
# A stream whose client has this much audio in hand (beyond what it has played, if it plays in
# real time) makes no more while a request without audio yet is being served: that one gets
# the cores. It stops at the end of a sentence and gives its engine back meanwhile (a sentence
# starts afresh on any engine), so a client that is ahead holds no engine; its client keeps
# playing, and once it is down to this, the stream takes an engine and runs again.
IN_HAND_SECONDS = 3.0
# Inside a sentence it stops only with this much in hand, keeping its engine (a sentence cannot
# move to another engine halfway): long sentences do not take the cores from new requests.
IN_HAND_MID_SENTENCE_SECONDS = 5.0
# A client with this many windows made and not taken is not keeping up with its engine (one that
# plays in real time has about 10 s in hand then): its stream stops at a sentence's end and gives
# its engine back whether or not another request waits, so a client that reads nothing holds an
# engine only while one sentence fills its buffer, not until it is dropped for stalling.
BEHIND_CHUNKS = BUFFERED_CHUNKS // 2
_REST = 0.05  # seconds: how often a stream resting between sentences looks whether it may go on


class ServerStopping(EdgesayError):
    """The server is shutting down: the request ends where it is."""


@dataclass(frozen=True)
class SpeechRequest:
    """What a client asks for, from either transport; None: the server's default."""

    text: str
    voice: str | None = None
    speaker: str | int | None = None
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    sentence_silence: float | None = None
    ssml: bool = False  # `text` is an SSML document


# The settings a request may set over the server's (SpeechRequest's fields, SynthesisSettings' names).
_OVERRIDES = ("length_scale", "noise_scale", "noise_w", "sentence_silence")


@dataclass(frozen=True)
class Defaults:
    """The server's flags that a request may override: a speaker by name or id (resolved per
    voice), and the rest of the settings as the command takes them."""

    speaker: str | None = None
    settings: SynthesisSettings = field(default_factory=SynthesisSettings)


@dataclass
class Spoken:
    """What one request produced, for its log line."""

    voice: str = ""
    sample_rate: int = 0
    samples: int = 0
    first_audio: float | None = None  # seconds from the request to the first audio
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0


def public_message(exc: EdgesayError) -> str:
    """What a client is told: its own mistakes in full; of the server's voice files, nothing
    (their paths and contents are for the server's log)."""
    if isinstance(exc, VoiceError) and not isinstance(exc, UnknownVoice | NotPrepared):
        return "a voice on this server cannot be loaded; its log says why"
    return str(exc)


class _Left(Exception):
    """The client left; the worker stops."""


class Workers:
    """The worker slots, handed out earliest deadline first. A request's deadline is when its
    client runs out of audio if it plays what it has in real time: a request with no audio yet
    was due when it arrived, so it goes before a stream with audio in hand, and of two streams
    the one closer to running dry goes first. A synthesis asks between windows whether a more
    urgent request waits (`due`) and hands its slot over if one does, so a new request waits
    for at most one window of another's, not for its whole text.

    Taken and given only on the event loop's thread; synthesis threads only read `due`."""

    def __init__(self, count: int) -> None:
        self.free = count
        self._queue: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # first come, first served among equal deadlines
        self.due = math.inf  # the earliest deadline waiting (inf: none)
        self.fresh = 0  # requests served that have no audio out yet

    def _settle(self) -> None:
        while self._queue and self._queue[0][2].done():  # left the queue (their clients went)
            heapq.heappop(self._queue)
        self.due = self._queue[0][0] if self._queue else math.inf

    async def take(self, deadline: float, gone: Callable[[], bool]) -> None:
        """Wait for a slot, but give up as soon as the client has gone: an abandoned request
        never computes anything."""
        if self.free:  # (a free slot means nobody waits: `give` hands slots to waiters first)
            self.free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (deadline, next(self._order), turn))
        self._settle()
        try:
            while not (await asyncio.wait({turn}, timeout=_POLL))[0]:
                if gone():
                    raise ClientGone("the client left while waiting for a worker")
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.give()  # handed over in the same instant: it goes to the next
            else:
                turn.cancel()
            raise
        finally:
            self._settle()

    def give(self) -> None:
        self._settle()
        if self._queue:
            heapq.heappop(self._queue)[2].set_result(None)
            self._settle()
        else:
            self.free += 1


@dataclass
class _Turn:
    """One request's hold on a worker slot, so that whether it is held is never in doubt."""

    workers: Workers
    gone: Callable[[], bool]
    held: bool = False

    async def take(self, deadline: float) -> None:
        if self.held:
            return
        await self.workers.take(deadline, self.gone)
        self.held = True
        if self.gone():  # left in the same instant: the slot goes straight to the next
            self.give()
            raise ClientGone("the client left while waiting for a worker")

    def give(self) -> None:
        if self.held:
            self.held = False
            self.workers.give()


@dataclass(eq=False)
class _Active:
    """A synthesis in progress, as the engine limit sees it."""

    drop: Callable[[], None]  # close the client's connection: its synthesis then ends
    buffer: "asyncio.Queue[bytes | BaseException | None]"  # made, not yet taken by the client
    taken: float = field(default_factory=time.monotonic)  # when the client last took audio
    sending: float | None = None  # since when the client's connection has been taking a piece
    engine: bool = False  # holds an engine now (not while it rests between sentences)

    def stalled(self, now: float) -> bool:
        """Audio has waited for the client for STALLED_SECONDS: a piece its connection has not
        taken, or pieces it has not asked for."""
        return (self.sending is not None and now - self.sending >= STALLED_SECONDS) or \
            (not self.buffer.empty() and now - self.taken >= STALLED_SECONDS)


class _Runs:
    """A request's runs (Engine.runs), handed to one engine after another: those an engine took
    but did not finish (it reads one ahead) go to the next one first."""

    def __init__(self, runs: Iterator[Run]) -> None:
        self._source = runs
        self._taken: collections.deque[Run] = collections.deque()
        self._finished = 0  # of the current feed's runs
        self._read_all = False  # the source has no more

    @property
    def done(self) -> bool:
        """Every run is spoken."""
        return self._read_all and not self._taken

    def feed(self, more: Callable[[], bool]) -> Iterator[Run]:
        """The runs left, for one engine's pass: while `more()` says so, after the first (the
        engine asks for a run as it starts the one before, to make its latent graph ahead: a
        pass that is to end after this run does not ask it for work it would throw away)."""
        self._finished = 0
        again = list(self._taken)
        for n in itertools.count():
            if n and not more():
                return
            if n < len(again):
                yield again[n]
                continue
            run = next(self._source, None)
            if run is None:
                self._read_all = True
                return
            self._taken.append(run)
            yield run

    def finished(self, count: int) -> None:
        """The current pass has spoken its first `count` runs (AudioChunk.run + 1)."""
        while self._finished < count:
            self._taken.popleft()
            self._finished += 1


class _Synthesis:
    """One request's synthesis: passes of an engine on a synthesis thread, each speaking the
    request's runs until they end or until, at the end of a sentence, the client has audio
    enough in hand while another request waits for its first; between passes the engine and
    the worker slot go back. Audio goes into `buffer`, then None or the error that ended it."""

    def __init__(self, speech: "Speech", request: SpeechRequest, spoken: Spoken, gone: Callable[[], bool],
                 active: _Active) -> None:
        self.speech = speech
        self.request = request
        self.spoken = spoken
        self.gone = gone
        self.active = active
        self.buffer = active.buffer
        self.loop = asyncio.get_running_loop()
        self.left = threading.Event()  # the client's task is leaving: everything stops
        self.turn = _Turn(speech.workers, self.stopped)
        self.runs: _Runs | None = None
        self.settings = SynthesisSettings()
        self.produced = 0  # samples handed to the buffer
        self.first: float | None = None  # when the first of them was
        self.fresh = False  # counted in workers.fresh

    def stopped(self) -> bool:
        """The client left (or is leaving), or the server is stopping. gone() only reads the
        connection's state: safe from any thread."""
        return self.left.is_set() or self.speech._stopping.is_set() or self.gone()

    def due(self) -> float:
        """When the client runs out of audio, playing what it has from its first."""
        return self.spoken.started if self.first is None else self.first + self.produced / self.spoken.sample_rate

    def others_wait(self) -> bool:
        """A request has no audio yet or waits for an engine, or the next would wait for one."""
        voices = self.speech.voices
        return bool(self.speech.workers.fresh or voices.waiting or voices.exhausted())

    def ahead(self) -> bool:
        """The client has more than IN_HAND_SECONDS in hand while others wait, or BEHIND_CHUNKS
        not taken: this synthesis gives its engine back at its sentence's end."""
        # (qsize from a synthesis thread: the queue's length, read in one step under the GIL)
        return self.buffer.qsize() >= BEHIND_CHUNKS or \
            (self.due() - time.monotonic() > IN_HAND_SECONDS and self.others_wait())

    def yields(self) -> bool:
        """At a sentence's end, this pass ends and gives its engine back with its worker slot:
        the client is `ahead`, or a request closer to running dry waits for a slot (holding an
        engine while queueing for a slot would leave that request waiting for an engine)."""
        return self.ahead() or self.speech.workers.due < self.due()

    def waits_mid_sentence(self, in_hand: float) -> bool:
        """Inside a sentence, with more than `in_hand` seconds in hand: it waits for its client
        while a request has no audio yet, keeping its engine, unless a request waits for an
        engine (then it goes on to the sentence's end, where it gives this one back)."""
        return bool(self.speech.workers.fresh) and not self.speech.voices.waiting and \
            self.due() - time.monotonic() > in_hand

    def served(self) -> None:
        """On the loop: this request has audio out (or has ended)."""
        if self.fresh:
            self.fresh = False
            self.speech.workers.fresh -= 1

    # --- on the loop ---------------------------------------------------------------------

    async def produce(self, voice: LoadedVoice) -> None:
        """Every pass, then None into the buffer; an error goes there instead, for the client's
        task to raise."""
        voices = self.speech.voices
        try:
            while True:
                # A worker slot first, by deadline, then an engine: an engine is held only to
                # compute with at once, never by a stream queueing for a slot (which left requests
                # closer to their deadline waiting for an engine rather than for a slot).
                await self.turn.take(self.due())
                engine = await voices.take(voice, self.turn.give, self.stopped)
                self.active.engine = True
                try:
                    await self.turn.take(self.due())  # again if it was given up to wait for the engine
                    if self.runs is None:
                        self.begin(engine)
                    done = self.loop.run_in_executor(self.speech._threads, self.speak, engine)
                    ended = await done  # (never cancelled: the client's task waits for this one)
                finally:
                    self.active.engine = False
                    await voices.give(voice, engine)
                self.turn.give()
                if ended:
                    break
                await self.rest()
            await self.deliver(None)
        except _Left:
            if not self.left.is_set():  # the client's task may be waiting for audio: it gets why
                await self.deliver(ServerStopping("the server is stopping") if self.speech._stopping.is_set()
                                   else ClientGone("the client left"))
        except RuntimeError as exc:  # the threads are shut down: the server is stopping
            await self.deliver(ServerStopping("the server is stopping") if self.speech._stopping.is_set() else exc)
        except BaseException as exc:  # raised to the client's task, which reports it
            await self.deliver(exc)

    def begin(self, engine: Engine) -> None:
        """The request's settings against the voice (an error before any audio), its runs."""
        config = engine.config
        self.settings = self.speech.settings(self.request, config)
        self.spoken.voice = self.speech.voices.catalog.info(self.request.voice).name
        self.spoken.sample_rate = config.sample_rate
        self.runs = _Runs(engine.runs(self.request.text, self.settings, self.request.ssml))
        self.speech.workers.fresh += 1
        self.fresh = True

    async def rest(self) -> None:
        """Between sentences, without an engine: until the client has taken enough of its
        audio and is down to IN_HAND_SECONDS, or no request waits for its first audio or for an
        engine."""
        while self.ahead():
            if self.stopped():
                raise _Left
            await asyncio.sleep(_REST)

    async def deliver(self, item: bytes | BaseException | None) -> None:
        """The last item, unless the client's task has gone (then nobody takes it)."""
        while not self.left.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.buffer.put(item), _POLL)
                return

    # --- on a synthesis thread -------------------------------------------------------------

    def speak(self, engine: Engine) -> bool:
        """One pass: True when every run is spoken, False when it stopped at a sentence's end
        to give its engine back (`yields`). Between windows it hands its worker slot to a more urgent
        request, and inside a sentence it waits with IN_HAND_MID_SENTENCE_SECONDS in hand."""
        runs = self.runs
        assert runs is not None  # begin() made them
        workers = self.speech.workers
        chunks = engine.speak(runs.feed(lambda: not self.yields()), self.settings)
        try:
            for chunk in chunks:
                if self.stopped():  # a client that closed stops here, not 16 windows later
                    raise _Left
                self.put(chunk.samples.astype("<i2", copy=False).tobytes())  # a copy: the pool reuses it
                if self.first is None:
                    self.first = time.monotonic()
                    self.loop.call_soon_threadsafe(self.served)
                self.produced += chunk.samples.size
                if chunk.run_end:
                    runs.finished(chunk.run + 1)
                    if self.yields():  # (the next sentence's latent graph, made ahead, is thrown away)
                        return False
                if workers.due < self.due():  # a request closer to running dry waits
                    self.loop.call_soon_threadsafe(self.turn.give)
                    self.retake_turn()
                elif self.waits_mid_sentence(IN_HAND_MID_SENTENCE_SECONDS):
                    self.loop.call_soon_threadsafe(self.turn.give)
                    while self.waits_mid_sentence(IN_HAND_SECONDS):
                        if self.stopped():
                            raise _Left
                        time.sleep(_REST)
                    self.retake_turn()
            return runs.done
        finally:
            chunks.close()

    def put(self, item: bytes) -> None:
        future = asyncio.run_coroutine_threadsafe(self.buffer.put(item), self.loop)
        try:
            future.result(_POLL)
            return
        except concurrent.futures.TimeoutError:
            pass
        # The client is not keeping up: its buffer is full. Its worker slot goes to the next
        # request while it waits, and it queues again for one after.
        self.loop.call_soon_threadsafe(self.turn.give)
        LOG.debug("%s: the client is behind; worker slot given up", self.spoken.voice)
        self.wait(future)
        self.retake_turn()

    def retake_turn(self) -> None:
        """Queue for a worker slot again (given up to wait), by this stream's deadline."""
        self.wait(asyncio.run_coroutine_threadsafe(self.turn.take(self.due()), self.loop))

    def wait(self, future: "concurrent.futures.Future[None]") -> None:
        while True:
            try:
                return future.result(_POLL)
            except concurrent.futures.TimeoutError:
                # gone(): a client dropped for reading nothing frees its engine now, not once its
                # task has noticed.
                if self.stopped():
                    future.cancel()
                    raise _Left from None


class Speech:
    def __init__(self, voices: LoadedVoices, defaults: Defaults, workers: int) -> None:
        self.voices = voices
        self.defaults = defaults
        self.workers = Workers(workers)
        self._threads = concurrent.futures.ThreadPoolExecutor(voices.max_engines, "edgesay-synthesis")
        self._stopping = threading.Event()
        self._buffers: set[asyncio.Queue[bytes | BaseException | None]] = set()
        self._active: list[_Active] = []
        self._trim = Trimmer()  # when the last synthesis ends, free memory goes back to the system
        voices.reclaim = self._drop_stalled

    def _drop_stalled(self) -> bool:
        """Every engine is taken: end the synthesis of the client that has taken nothing for the
        longest, if that is past STALLED_SECONDS; False if none has."""
        now = time.monotonic()
        stalled = [a for a in self._active if a.engine and a.stalled(now)]
        if not stalled:
            return False
        oldest = min(stalled, key=lambda a: a.taken)
        self._active.remove(oldest)
        LOG.info("dropping a client that took nothing for %.0f s: its engine is needed", now - oldest.taken)
        oldest.drop()
        return True

    async def watch(self) -> None:
        """While every engine is taken, end the synthesis of a client that reads nothing now,
        not when the next request comes: that request then finds an engine instead of waiting
        for one to be freed."""
        while True:
            await asyncio.sleep(_WATCH)
            if self.voices.exhausted():
                self._drop_stalled()

    def check(self, request: SpeechRequest) -> None:
        """Refuse a request before it waits for a worker: text and voice are known now."""
        if not request.text.strip():
            raise InputError("the text is empty")
        if len(request.text) > MAX_UTTERANCE_CHARS:
            raise InputError(f"the text has {len(request.text):,} characters; the limit is {MAX_UTTERANCE_CHARS:,} "
                             "per request")
        self.voices.check(request.voice)

    def settings(self, request: SpeechRequest, config: VoiceConfig) -> SynthesisSettings:
        """The request's settings over the server's, checked against the voice: a bad speaker or
        scale is an error before any audio."""
        speaker = request.speaker if request.speaker not in (None, "") else self.defaults.speaker
        given = {name: value for name in _OVERRIDES if (value := getattr(request, name)) is not None}
        settings = dataclasses.replace(self.defaults.settings, speaker_id=config.speaker_id(speaker), **given)
        settings.scales(config)
        settings.speaker(config)
        return settings

    async def stream(self, request: SpeechRequest, spoken: Spoken, gone: Callable[[], bool] = lambda: False,
                     drop: Callable[[], None] = lambda: None) -> AsyncGenerator[bytes, None]:
        """16-bit mono PCM for `request`, piece by piece as the engine decodes it. Leaving the
        loop early (the client went away, an error) stops the synthesis. `gone` says whether
        the client has left; it is asked while the request waits for a worker. `drop` closes
        the client's connection, when it reads nothing and its engine is needed."""
        self.check(request)
        if self._stopping.is_set():
            raise ServerStopping("the server is stopping")
        buffer: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(BUFFERED_CHUNKS)
        active = _Active(drop, buffer)
        synthesis = _Synthesis(self, request, spoken, gone, active)
        await synthesis.turn.take(spoken.started)
        self._buffers.add(buffer)
        self._active.append(active)
        try:
            async with self.voices.voice(request.voice, synthesis.turn.give) as voice:
                producer = asyncio.create_task(synthesis.produce(voice))
                try:
                    while (item := await buffer.get()) is not None:
                        active.taken = time.monotonic()
                        if isinstance(item, BaseException):
                            raise item
                        if spoken.first_audio is None:
                            spoken.first_audio = time.monotonic() - spoken.started
                        spoken.samples += len(item) // 2
                        active.sending = time.monotonic()
                        yield item
                        active.sending = None
                finally:
                    synthesis.left.set()
                    synthesis.served()
                    # Its engines go back only once its thread is done with them, even when this
                    # task is being cancelled (the server stopping).
                    cancelled = False
                    while not producer.done():
                        try:
                            await asyncio.shield(producer)
                        except asyncio.CancelledError:
                            cancelled = True
                    if cancelled:
                        raise asyncio.CancelledError
        finally:
            self._buffers.discard(buffer)
            with contextlib.suppress(ValueError):  # already gone if it was dropped
                self._active.remove(active)
            synthesis.turn.give()
            if not self._buffers:
                self._trim()

    def shutdown(self) -> None:
        """Stop every synthesis at its next window, and wake every request waiting for audio
        with ServerStopping (their threads end with their windows)."""
        self._stopping.set()
        self._threads.shutdown(wait=False)
        for buffer in self._buffers:
            while not buffer.empty():  # audio a client has not taken yet is not sent now
                buffer.get_nowait()
            buffer.put_nowait(ServerStopping("the server is stopping"))
