"""The voices a server speaks with: what it can find, and what it holds loaded.

A voice loads on its first request and stays loaded while it is one of the `budget` most
recently used. Each loaded voice has one set of onnxruntime sessions (its graphs, loaded once)
and the engines made for it so far over them: an engine holds the per-synthesis state (pooled buffers,
the compensator's tail), a session is safe to run from several threads at once.
"""

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VoiceError
from ..loading import store
from ..loading.factory import Engine, open_sessions
from ..loading.lookup import VoiceInfo, list_voices, resolve, voice_info
from ..loading.store import NotPrepared
from ..runtime.streaming import VoiceSessions
from ..system import paths
from ..text.frontend import ESPEAK
from ..text.lexicon import Lexicon
from ..voice.bundle import VoiceLevel

LOG = logging.getLogger(__name__)


class ClientGone(ConnectionResetError):
    """The client left (or was dropped) before or during its synthesis."""


class UnknownVoice(VoiceError):
    """A request names a voice the server cannot find (a client's mistake, not the server's)."""


@dataclass
class Catalog:
    """The voices a server offers by name: the ones edgesay finds (--list-voices), plus the
    --voice it was started with if that is a path outside the voice folders."""

    default: str  # the name of the voice for requests that name none
    voices: dict[str, VoiceInfo]
    arguments: dict[str, str | None]  # name -> what loading.lookup.resolve takes (None: the embedded voice)

    @classmethod
    def find(cls, voice: str | None) -> "Catalog":
        found = {info.name: info for info in list_voices()}
        arguments: dict[str, str | None] = {
            name: None if info.default else str(info.path) for name, info in found.items()}
        if not voice or voice == paths.DEFAULT_VOICE:
            return cls(paths.DEFAULT_VOICE, found, arguments)
        if voice in found:
            return cls(voice, found, arguments)
        files = resolve(voice)  # a path: one clear error now if it is not a voice
        assert files is not None  # resolve gives None only for the default voice
        name = files.model.name.removesuffix(files.model.suffix)
        info = next((i for i in found.values() if i.path.resolve() == files.model.resolve()), None)
        if info is None:
            # A path from outside the voice folders: listed under its file name.
            info = voice_info(files.model, name)
            found[name] = info
            arguments[name] = str(files.model)
        return cls(info.name, found, arguments)

    def info(self, name: str | None) -> VoiceInfo:
        """The voice a request names (None or "": the default)."""
        name = name or self.default
        if name not in self.voices:
            raise UnknownVoice(f"no voice named {name!r}; this server has {', '.join(sorted(self.voices))}")
        return self.voices[name]


@dataclass
class LoadedVoice:
    level: VoiceLevel
    sessions: VoiceSessions
    lexicon: Lexicon
    idle: list[Engine] = field(default_factory=list)
    busy: int = 0  # requests holding it (LoadedVoices.voice): it is not unloaded meanwhile


class LoadedVoices:
    """Engines by voice name, loaded on first use, the least recently used unloaded first.

    Two bounds hold whatever the requests: at most `budget` voices are loaded (one that is still
    speaking is never unloaded, so it is never loaded twice), and at most `workers + budget`
    engines exist (an engine waiting for a slow client counts; a new one waits for one to end
    or closes an idle one)."""

    def __init__(self, catalog: Catalog, quality: str | None, threads: int, workers: int, budget: int,
                 lexicons: Sequence[Path] = ()) -> None:
        self.catalog = catalog
        self.lexicons = lexicons
        self.quality = quality
        self.threads = threads
        self.workers = workers
        self.budget = max(1, budget)
        self.max_engines = workers + self.budget
        self._loaded: OrderedDict[str, LoadedVoice] = OrderedDict()
        self._load = asyncio.Lock()  # one voice loads at a time: memory is the bound, not time
        self._changed = asyncio.Condition()  # an engine ended or went idle
        self._engines = 0  # all engines, idle or busy
        self.waiting = 0  # requests waiting for an engine (a stream ahead of its client gives its own back)
        # Ends one synthesis whose client reads nothing, when every engine is taken (set by
        # serve.speech, which knows the clients); False if there is none.
        self.reclaim: Callable[[], bool] = lambda: False

    @property
    def names(self) -> list[str]:
        """Loaded voices, least recently used first."""
        return list(self._loaded)

    def exhausted(self) -> bool:
        """Every engine there may be exists and none is idle: the next request would wait."""
        # (read from synthesis threads too: list() copies the voices in one step under the GIL)
        return self._engines >= self.max_engines and not any(v.idle for v in list(self._loaded.values()))

    def prepared(self, name: str) -> bool:
        return store.is_prepared(resolve(self.catalog.arguments[name]))

    def check(self, name: str | None) -> None:
        """A voice a request may use: known, and loaded or prepared (a server prepares nothing
        for a request)."""
        info = self.catalog.info(name)
        if info.name not in self._loaded and not self.prepared(info.name):
            raise NotPrepared(f"voice {info.name} is not prepared on this server: run `edgesay prepare "
                              f"{info.name}.onnx` there, or start the server with --prepare")

    @asynccontextmanager
    async def voice(self, name: str | None, waits: Callable[[], None] = lambda: None) -> AsyncIterator[LoadedVoice]:
        """Voice `name`, loaded, held for one request: it is not unloaded while held. `waits` is
        called before waiting for a load: a caller gives up its worker slot then, since the
        syntheses the load waits for may need it."""
        info = self.catalog.info(name)
        voice = await self._voice(info.name, waits)
        try:
            yield voice
        finally:
            voice.busy -= 1
            async with self._changed:
                self._changed.notify_all()

    async def take(self, voice: LoadedVoice, waits: Callable[[], None] = lambda: None,
                   abandoned: Callable[[], bool] = lambda: False) -> Engine:
        """An engine of `voice` for a synthesis: an idle one, or a new one up to `max_engines`,
        or the first to come back (`waits` is called before waiting for it: a caller gives up
        its worker slot then). ClientGone once `abandoned()` says the caller no longer needs it."""
        async with self._changed:
            counted = False  # in `waiting`
            try:
                while not voice.idle and self._engines >= self.max_engines:
                    if not self._close_idle():
                        if abandoned():
                            raise ClientGone("the client left while waiting for an engine")
                        if not counted:
                            self.waiting += 1
                            counted = True
                        waits()
                        self.reclaim()  # its engine comes back when its thread has stopped
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), 0.2)  # a client may stall meanwhile
            finally:
                if counted:
                    self.waiting -= 1
            if voice.idle:
                return voice.idle.pop()
            self._engines += 1
        try:
            return await asyncio.to_thread(self._engine, voice)
        except BaseException:
            self._engines -= 1
            raise

    async def give(self, voice: LoadedVoice, engine: Engine) -> None:
        """An engine back from a synthesis. Kept for the next request while its voice is loaded,
        even one made while slow clients held the others: made and closed again and again,
        engines left memory behind them (the soak's RSS rose with each)."""
        if any(v is voice for v in self._loaded.values()):
            voice.idle.append(engine)
        else:
            self._close(engine)
        async with self._changed:
            self._changed.notify_all()

    @asynccontextmanager
    async def engine(self, name: str | None, waits: Callable[[], None] = lambda: None) -> AsyncIterator[Engine]:
        """An engine of voice `name` for one synthesis (`voice`, then `take` and `give`)."""
        async with self.voice(name, waits) as voice:
            engine = await self.take(voice, waits)
            try:
                yield engine
            finally:
                await self.give(voice, engine)

    async def _voice(self, name: str, waits: Callable[[], None]) -> LoadedVoice:
        """The loaded voice, marked busy (the caller's engine), loading it if needed (the caller
        gives up its worker slot meanwhile: the load may wait for another voice's syntheses)."""
        voice = self._loaded.get(name)
        if voice is None:
            waits()
            async with self._load:
                voice = self._loaded.get(name)
                if voice is None:
                    await self._make_room()
                    started = time.monotonic()
                    voice = await asyncio.to_thread(self._open, self.catalog.arguments[name])
                    LOG.info("loaded voice %s (%s) in %.1f s", name, voice.level.quality, time.monotonic() - started)
                    self._loaded[name] = voice
        # No await from here on: a voice handed out busy cannot be unloaded in between.
        self._loaded.move_to_end(name)
        voice.busy += 1
        return voice

    def _close_idle(self) -> bool:
        """Close one idle engine, of the least recently used voice first; False if none is idle."""
        for voice in self._loaded.values():
            if voice.idle:
                self._close(voice.idle.pop(0))
                return True
        return False

    def _close(self, engine: Engine) -> None:
        engine.close()
        self._engines -= 1

    def _engine(self, voice: LoadedVoice) -> Engine:
        # Its largest windows run once, so its buffers and onnxruntime's working set are held
        # from the start.
        engine = Engine(voice.level, voice.sessions, self.threads)
        engine.lexicon = voice.lexicon
        engine.reserve()
        return engine

    def _open(self, argument: str | None) -> LoadedVoice:
        level = store.load_level(resolve(argument), self.quality)  # a server prepares nothing for a request
        # Read and checked once per voice, not per engine: every engine of it says words alike.
        lexicon = Lexicon.for_voice(level.config.espeak_voice, level.config.phoneme_id_map,
                                    level.config.phoneme_type == ESPEAK, self.lexicons)
        return LoadedVoice(level, open_sessions(level, self.threads), lexicon)

    async def _make_room(self) -> None:
        """Unload least recently used voices until one more fits; a voice still speaking is not
        unloaded (it would stay in memory with its engines, and come back as a second copy):
        the load waits for one to finish."""
        async with self._changed:
            while len(self._loaded) >= self.budget:
                idle = next((n for n, v in self._loaded.items() if v.busy == 0), None)
                if idle is None:
                    await self._changed.wait()
                    continue
                voice = self._loaded.pop(idle)
                while voice.idle:
                    self._close(voice.idle.pop())
                LOG.info("unloaded voice %s (least recently used; --max-voices %d)", idle, self.budget)

    async def preload(self, name: str | None) -> None:
        """Load a voice and make one engine, warmed, before the first request."""
        async with self.engine(name):
            pass

