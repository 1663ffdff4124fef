"""One request's speech: synthesized on a worker thread, handed to the event loop as it is made.

Both transports (Wyoming, HTTP) go through `Speech.stream`: a fair queue of worker slots (first
come, first served), an engine of the requested voice per slot, and a bounded buffer between the
engine and the client, so a slow reader holds at most its own slot and `BUFFERED_CHUNKS` of
audio, and a client that leaves stops its synthesis after the window being decoded. A client
that has gone before its turn never takes a slot.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
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
# A client that has taken none of its audio for this long, while its synthesis waits for it, is
# not reading (one playing in real time takes a window about every second): when every engine
# is taken, its synthesis is the one ended to make room.
STALLED_SECONDS = 3.0


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


@dataclass
class _Slot:
    """One request's hold on a worker slot (first come, first served). Taken and given only on
    the event loop's thread, so whether it is held is never in doubt."""

    slots: asyncio.Semaphore
    gone: Callable[[], bool]
    held: bool = False

    async def take(self) -> None:
        """Wait for a slot, keeping this request's place in the queue, but give up as soon as
        the client has gone: an abandoned request never computes anything."""
        if self.held:
            return
        waiting = asyncio.ensure_future(self.slots.acquire())
        try:
            while not (await asyncio.wait({waiting}, timeout=_POLL))[0]:
                if self.gone():
                    raise ClientGone("the client left while waiting for a worker")
        finally:
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
        if waiting.cancelled():
            raise ClientGone("the client left while waiting for a worker")
        self.held = True
        if self.gone():  # left in the same instant: the slot goes straight to the next
            await self.give()
            raise ClientGone("the client left while waiting for a worker")

    async def give(self) -> None:
        if self.held:
            self.held = False
            self.slots.release()


@dataclass(eq=False)
class _Active:
    """A synthesis in progress, as the engine limit sees it."""

    drop: Callable[[], None]  # close the client's connection: its synthesis then ends
    taken: float = field(default_factory=time.monotonic)  # when the client last took audio
    waiting: bool = False  # its synthesis waits for the client to take audio


class Speech:
    def __init__(self, voices: LoadedVoices, defaults: Defaults, workers: int) -> None:
        self.voices = voices
        self.defaults = defaults
        self._slots = asyncio.Semaphore(workers)
        self._stopping = threading.Event()
        self._buffers: set[asyncio.Queue[bytes | BaseException | None]] = set()
        self._active: list[_Active] = []
        voices.reclaim = self._drop_stalled

    def _drop_stalled(self) -> bool:
        """Every engine is taken: end the synthesis of the client that has taken nothing for the
        longest, if that is past STALLED_SECONDS; False if none has."""
        now = time.monotonic()
        stalled = [a for a in self._active if a.waiting and now - a.taken >= STALLED_SECONDS]
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
        slot = _Slot(self._slots, gone)
        await slot.take()
        self._buffers.add(buffer)
        active = _Active(drop)
        self._active.append(active)
        try:
            async with self.voices.engine(request.voice) as engine:
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
                    asyncio.run_coroutine_threadsafe(slot.give(), loop)
                    LOG.debug("%s: the client is behind; worker slot given up", spoken.voice)
                    active.waiting = True
                    try:
                        wait(future)
                    finally:
                        active.waiting = False
                    wait(asyncio.run_coroutine_threadsafe(slot.take(), loop))

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
                    ended = False  # the last item (None or an error) is in the buffer
                    try:
                        for chunk in engine.synthesize(request.text, settings):
                            # gone() only reads the connection's state: safe from this thread, and
                            # a client that closed stops its synthesis here, not 16 windows later.
                            if left.is_set() or self._stopping.is_set() or gone():
                                return
                            put(chunk.samples.astype("<i2", copy=False).tobytes())  # a copy: the pool reuses it
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

                # A thread per synthesis, not a pool: one that waits for a slow client holds its
                # thread (and engine) but not a worker slot.
                threading.Thread(target=produce, name="edgesay-synthesis", daemon=True).start()
                try:
                    while (item := await buffer.get()) is not None:
                        active.taken = time.monotonic()
                        if isinstance(item, BaseException):
                            raise item
                        if spoken.first_audio is None:
                            spoken.first_audio = time.monotonic() - spoken.started
                        spoken.samples += len(item) // 2
                        yield item
                finally:
                    left.set()
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
            await slot.give()

    def shutdown(self) -> None:
        """Stop every synthesis at its next window, and wake every request waiting for audio
        with ServerStopping (their threads end with their windows)."""
        self._stopping.set()
        for buffer in self._buffers:
            while not buffer.empty():  # audio a client has not taken yet is not sent now
                buffer.get_nowait()
            buffer.put_nowait(ServerStopping("the server is stopping"))
