"""`Engine.load`'s factory: find a voice, prepare it if it is a Piper voice seen for the first
time, open its graphs (through the cache of optimized graphs) and make the engine. The engine
itself (runtime/engine.py) knows nothing of files and caches; importing this module (as
`import edgesay` does for `edgesay.Engine`) gives `Engine.load` this factory."""

from functools import partial

import onnxruntime as ort

from ..runtime.engine import Engine
from ..runtime.sessions import ThreadPlan, open_session, seed_noise, session_options
from ..runtime.streaming import VoiceSessions
from ..system.threads import default_threads
from ..voice.bundle import VoiceLevel
from ..voice.files import VoiceFiles
from ..voice.graphs import Graph, StoredGraph
from . import store
from .graph_cache import cached_session


def open_graph(graph: Graph, threads: int, origin: str, profile: bool = False) -> ort.InferenceSession:
    """A session for one graph; a bundle's graph through the cache of optimized graphs (not when
    profiling: the profile must name the graph's own nodes)."""
    if isinstance(graph, StoredGraph) and not profile:
        return cached_session(graph, partial(session_options, threads), origin)
    data = graph.read() if isinstance(graph, StoredGraph) else graph
    return open_session(data, session_options(threads, profile), origin)


def open_sessions(level: VoiceLevel, threads: int, profile: bool = False) -> VoiceSessions:
    split = level.split
    split.check(level.config)  # before the slow part: a mismatched config is one clear error
    seed_noise()  # before the latent session is made (runtime/sessions.py)
    cut = split.decoder_tail is not None
    graphs = {"latent": (split.latent, "latent"), "flow": (split.flow, "flow"),
              "decoder": (split.decoder, "decoder head" if cut else "decoder")}
    if split.decoder_tail is not None:
        graphs["decoder_tail"] = (split.decoder_tail, "decoder tail")
    plan = ThreadPlan(threads, cut)
    sessions = VoiceSessions(**{part: open_graph(graph, plan.intra(part), f"the voice's {name} graph", profile)
                                for part, (graph, name) in graphs.items()})
    sessions.check(level.config.name)
    return sessions


def load(voice: VoiceFiles | None = None, threads: int | None = None, quality: str | None = None,
         compensate: bool = True, warm: bool = True, profile: bool = False, prepare: bool = True) -> Engine:
    """The factory behind `Engine.load` (its arguments are documented there): the voice's level,
    prepared first if asked, its sessions through the cache of optimized graphs, the engine."""
    threads = threads or default_threads()
    if prepare:
        store.prepare(voice, quality)
    level = store.load_level(voice, quality)
    engine = Engine(level, open_sessions(level, threads, profile), threads, compensate)
    if warm:
        engine.reserve()
    return engine


Engine.factory = load
