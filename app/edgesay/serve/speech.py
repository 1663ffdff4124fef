"""One request's speech: synthesized on a worker thread, handed to the event loop as it is made.

Both transports (Wyoming, HTTP) go through `Speech.stream`: worker slots given earliest deadline
first (`Workers`), an engine of the requested voice per slot, and a bounded buffer between the
engine and the client, so a slow reader holds at most its own slot and `BUFFERED_CHUNKS` of
audio, and a client that leaves stops its synthesis after the window being decoded. A client
that has gone before its turn never takes a slot.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import heapq
import itertools
import math
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

from ..errors import EdgesayError, InputError, VoiceError
from ..voice.config import SynthesisSettings, VoiceConfig
from .voices import LOG, LoadedVoices, NotPrepared, UnknownVoice

# Decoder windows of audio a client may fall behind by before its synthesis waits for it and
# gives up its worker slot (a window is 1.2 s of speech for a medium voice; the socket holds
# more on top). With the engine's own working set, this bounds one request's memory.
BUFFERED_CHUNKS = 16
# One request's text at most (as `edgesay --text`); longer text is several requests.
MAX_TEXT_CHARS = 100_000
_POLL = 0.1  # seconds: how often a waiting worker, or a request waiting for one, looks whether its client left
# A client that has taken none of the audio waiting for it for this long is not reading (one
# playing in real time takes a window, 1.2 s of speech, as it plays it; one whose audio is not made yet is
# waiting, not stalled): when every engine is taken, its synthesis is the one ended to make room.
STALLED_SECONDS = 2.0
# A stream whose client has this much audio in hand (beyond what it has played, if it plays in
# real time) makes no more while a request without audio yet is being served: that one gets
# the cores. Its client keeps playing meanwhile, and once it is down to this, it runs again.
IN_HAND_SECONDS = 3.0


class ServerStopping(EdgesayError):
    """The server is shutting down: the request ends where it is."""


class ClientGone(ConnectionResetError):
    """The client left (or was dropped) before or during its synthesis."""


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

    def stalled(self, now: float) -> bool:
        """Audio has waited for the client for STALLED_SECONDS: a piece its connection has not
        taken, or pieces it has not asked for."""
        return (self.sending is not None and now - self.sending >= STALLED_SECONDS) or \
            (not self.buffer.empty() and now - self.taken >= STALLED_SECONDS)


class Speech:
    def __init__(self, voices: LoadedVoices, defaults: Defaults, workers: int) -> None:
        self.voices = voices
        self.defaults = defaults
        self.workers = Workers(workers)
        self._threads = concurrent.futures.ThreadPoolExecutor(voices.max_engines, "edgesay-synthesis")
        self._stopping = threading.Event()
        self._buffers: set[asyncio.Queue[bytes | BaseException | None]] = set()
        self._active: list[_Active] = []
        voices.reclaim = self._drop_stalled

    def _drop_stalled(self) -> bool:
        """Every engine is taken: end the synthesis of the client that has taken nothing for the
        longest, if that is past STALLED_SECONDS; False if none has."""
        now = time.monotonic()
        stalled = [a for a in self._active if a.stalled(now)]
        if not stalled:
            return False
        oldest = min(stalled, key=lambda a: a.taken)
        self._active.remove(oldest)
        LOG.info("dropping a client that took nothing for %.0f s: its engine is needed", now - oldest.taken)
        oldest.drop()
        return True

    def check(self, request: SpeechRequest) -> None:
        """Refuse a request before it waits for a worker: text and voice are known now."""
        if not request.text.strip():
            raise InputError("the text is empty")
        if len(request.text) > MAX_TEXT_CHARS:
            raise InputError(f"the text has {len(request.text):,} characters; the limit is {MAX_TEXT_CHARS:,} "
                             "per request")
        self.voices.check(request.voice)

    def settings(self, request: SpeechRequest, config: VoiceConfig) -> SynthesisSettings:
        """The request's settings over the server's, checked against the voice: a bad speaker or
        scale is an error before any audio."""
        d = self.defaults.settings
        speaker = request.speaker if request.speaker not in (None, "") else self.defaults.speaker
        settings = dataclasses.replace(
            d, speaker_id=config.speaker_id(speaker),
            length_scale=d.length_scale if request.length_scale is None else request.length_scale,
            noise_scale=d.noise_scale if request.noise_scale is None else request.noise_scale,
            noise_w=d.noise_w if request.noise_w is None else request.noise_w,
            sentence_silence=d.sentence_silence if request.sentence_silence is None else request.sentence_silence)
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
        loop = asyncio.get_running_loop()
        buffer: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(BUFFERED_CHUNKS)
        left = threading.Event()
        turn = _Turn(self.workers, gone)
        await turn.take(spoken.started)
        self._buffers.add(buffer)
        active = _Active(drop, buffer)
        self._active.append(active)
        try:
            async with self.voices.engine(request.voice, turn.give) as engine:
                await turn.take(spoken.started)  # given up if it waited for an engine
                fresh = False  # counted in workers.fresh

                def served() -> None:
                    """On the loop: this request has audio out (or has ended)."""
                    nonlocal fresh
                    if fresh:
                        fresh = False
                        self.workers.fresh -= 1

                config = engine.config
                settings = self.settings(request, config)
                spoken.voice = self.voices.catalog.info(request.voice).name
                spoken.sample_rate = config.sample_rate
                done: asyncio.Future[None] = loop.create_future()

                def wait(future: "concurrent.futures.Future[None]") -> None:
                    while True:
                        try:
                            return future.result(_POLL)
                        except concurrent.futures.TimeoutError:
                            if left.is_set() or self._stopping.is_set():
                                future.cancel()
                                raise _Left from None

                def put(item: bytes | BaseException | None) -> None:
                    future = asyncio.run_coroutine_threadsafe(buffer.put(item), loop)
                    try:
                        future.result(_POLL)
                        return
                    except concurrent.futures.TimeoutError:
                        pass
                    # The client is not keeping up: its buffer is full. Its worker slot goes to
                    # the next request while it waits, and it queues again for one after.
                    loop.call_soon_threadsafe(turn.give)
                    LOG.debug("%s: the client is behind; worker slot given up", spoken.voice)
                    wait(future)
                    wait(asyncio.run_coroutine_threadsafe(turn.take(due()), loop))

                produced = 0  # samples handed to the client's buffer
                first: float | None = None  # when the first of them was

                def due() -> float:
                    """When the client runs out of audio, playing what it has from its first."""
                    return spoken.started if first is None else first + produced / config.sample_rate

                def end_early() -> None:
                    """On the loop: the synthesis stopped before its end, and the client's task
                    may be waiting for audio: it gets the reason instead."""
                    if left.is_set():
                        return  # the task itself is leaving
                    while not buffer.empty():
                        buffer.get_nowait()
                    buffer.put_nowait(ServerStopping("the server is stopping") if self._stopping.is_set()
                                      else ClientGone("the client left"))

                def produce() -> None:
                    nonlocal produced, first
                    ended = False  # the last item (None or an error) is in the buffer
                    try:
                        for chunk in engine.synthesize(request.text, settings, ssml=request.ssml):
                            # gone() only reads the connection's state: safe from this thread, and
                            # a client that closed stops its synthesis here, not 16 windows later.
                            if left.is_set() or self._stopping.is_set() or gone():
                                return
                            put(chunk.samples.astype("<i2", copy=False).tobytes())  # a copy: the pool reuses it
                            if first is None:
                                first = time.monotonic()
                                loop.call_soon_threadsafe(served)
                            produced += chunk.samples.size
                            if self.workers.due < due():  # a request closer to running dry waits
                                loop.call_soon_threadsafe(turn.give)
                                wait(asyncio.run_coroutine_threadsafe(turn.take(due()), loop))
                            elif self.workers.fresh and due() - time.monotonic() > IN_HAND_SECONDS:
                                loop.call_soon_threadsafe(turn.give)
                                while self.workers.fresh and due() - time.monotonic() > IN_HAND_SECONDS:
                                    if left.is_set() or self._stopping.is_set() or gone():
                                        return
                                    time.sleep(_POLL / 5)
                                wait(asyncio.run_coroutine_threadsafe(turn.take(due()), loop))
                        put(None)
                        ended = True
                    except _Left:
                        pass
                    except BaseException as exc:  # raised to the client's task, which reports it
                        with contextlib.suppress(_Left):
                            put(exc)
                            ended = True
                    finally:
                        if not ended:
                            loop.call_soon_threadsafe(end_early)
                        loop.call_soon_threadsafe(done.set_result, None)

                self.workers.fresh += 1
                fresh = True
                try:
                    # One that waits for a slow client, or for its turn, holds its thread (and
                    # engine) but not a worker slot; a thread per engine, so one is always free.
                    try:
                        self._threads.submit(produce)
                    except RuntimeError:  # shut down since this request came: no thread will end it
                        done.set_result(None)
                        raise ServerStopping("the server is stopping") from None
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
                    left.set()
                    served()
                    # The engine goes back to the idle list only once its thread is done with
                    # it, even when this task is being cancelled (the server stopping).
                    cancelled = False
                    while not done.done():
                        try:
                            await asyncio.shield(done)
                        except asyncio.CancelledError:
                            cancelled = True
                    if cancelled:
                        raise asyncio.CancelledError
        finally:
            self._buffers.discard(buffer)
            with contextlib.suppress(ValueError):  # already gone if it was dropped
                self._active.remove(active)
            turn.give()

    def shutdown(self) -> None:
        """Stop every synthesis at its next window, and wake every request waiting for audio
        with ServerStopping (their threads end with their windows)."""
        self._stopping.set()
        self._threads.shutdown(wait=False)
        for buffer in self._buffers:
            while not buffer.empty():  # audio a client has not taken yet is not sent now
                buffer.get_nowait()
            buffer.put_nowait(ServerStopping("the server is stopping"))
