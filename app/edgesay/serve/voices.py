"""The voices a server speaks with: what it can find, and what it holds loaded.

A voice loads on its first request and stays loaded while it is one of the `budget` most
recently used. Each loaded voice has one set of onnxruntime sessions (its graphs, loaded once)
and up to `workers` engines over them: an engine holds the per-synthesis state (pooled buffers,
the compensator's tail), a session is safe to run from several threads at once.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..errors import VoiceError
from ..loading.engine import Engine, open_sessions
from ..loading.lookup import VoiceInfo, list_voices, resolve, voice_info
from ..loading.store import load_level
from ..runtime.streaming import VoiceSessions
from ..system import paths
from ..voice.bundle import VoiceLevel

LOG = logging.getLogger("edgesay.serve")


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
class _Loaded:
    level: VoiceLevel
    sessions: VoiceSessions
    idle: list[Engine] = field(default_factory=list)


class LoadedVoices:
    """Engines by voice name, loaded on first use, the least recently used unloaded first."""

    def __init__(self, catalog: Catalog, quality: str | None, threads: int, workers: int, budget: int) -> None:
        self.catalog = catalog
        self.quality = quality
        self.threads = threads
        self.workers = workers
        self.budget = max(1, budget)
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self._loading: dict[str, asyncio.Lock] = {}

    @property
    def names(self) -> list[str]:
        """Loaded voices, least recently used first."""
        return list(self._loaded)

    @asynccontextmanager
    async def engine(self, name: str | None) -> AsyncIterator[Engine]:
        """An engine of voice `name` for one synthesis. Callers hold a worker slot while they
        compute, so about `workers` engines are in use; one waiting for a slow client keeps its
        engine, and a new one is made for the next request. At most `workers` are kept idle."""
        info = self.catalog.info(name)
        voice = await self._voice(info.name)
        # A new engine is made over the shared sessions when none is idle: no graph loading.
        engine = voice.idle.pop() if voice.idle else await asyncio.to_thread(self._engine, voice)
        try:
            yield engine
        finally:
            # Made while slow clients held others: not kept beyond one per worker.
            if len(voice.idle) < self.workers:
                voice.idle.append(engine)

    async def _voice(self, name: str) -> _Loaded:
        lock = self._loading.setdefault(name, asyncio.Lock())
        async with lock:  # one load per voice, however many requests wait for it
            voice = self._loaded.get(name)
            if voice is None:
                self._make_room()
                started = time.monotonic()
                argument = self.catalog.arguments[name]
                voice = await asyncio.to_thread(self._load, argument)
                LOG.info("loaded voice %s (%s) in %.1f s", name, voice.level.quality, time.monotonic() - started)
                self._loaded[name] = voice
            self._loaded.move_to_end(name)
            return voice

    def _engine(self, voice: _Loaded) -> Engine:
        # Its largest windows run once, so its buffers and onnxruntime's working set are held
        # from the start.
        engine = Engine(voice.level, voice.sessions, self.threads)
        engine.reserve()
        return engine

    def _load(self, argument: str | None) -> _Loaded:
        level = load_level(resolve(argument), self.quality)
        return _Loaded(level, open_sessions(level, self.threads))

    def _make_room(self) -> None:
        """Unload least recently used voices until one more fits. A voice still speaking is
        dropped from the table too: its engines go when their syntheses end."""
        while len(self._loaded) >= self.budget:
            name, voice = self._loaded.popitem(last=False)
            voice.idle.clear()
            LOG.info("unloaded voice %s (least recently used; --max-voices %d)", name, self.budget)

    async def preload(self, name: str | None) -> None:
        """Load a voice and make one engine, warmed, before the first request."""
        async with self.engine(name):
            pass
