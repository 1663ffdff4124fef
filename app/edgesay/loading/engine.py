"""`Engine.load`: find a voice, prepare it if it is a Piper voice seen for the first time, open its
graphs (through the cache of optimized graphs) and make the engine. `edgesay.Engine` is this
class; the engine itself (runtime/engine.py) knows nothing of files and caches."""

from functools import partial

import onnxruntime as ort

from ..runtime import engine as runtime
from ..runtime.sessions import ThreadPlan, open_session, seed_noise, session_options
from ..runtime.streaming import VoiceSessions
from ..system.threads import default_threads
from ..voice.bundle import VoiceLevel
from ..voice.files import VoiceFiles
from ..voice.graphs import Graph, StoredGraph
from .graph_cache import cached_session
from .store import load_level


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


class Engine(runtime.Engine):
    __doc__ = runtime.Engine.__doc__

    @classmethod
    def load(cls, voice: VoiceFiles | None = None, threads: int | None = None, quality: str | None = None,
             compensate: bool = True, warm: bool = True, profile: bool = False) -> "Engine":
        """The engine for `voice` (None: the default voice) at `quality` (None: the voice's
        default level; a Piper voice is prepared once for the INT8 levels).
        `compensate=False` leaves out the Mel gain compensation (to measure what it does).
        `warm=False` skips `reserve()`, for a process that speaks one short text and exits:
        there the warm-up run would cost as much as the speech. `profile=True` turns on
        onnxruntime's profiler in every session (`engine.sessions.*.end_profiling()`)."""
        threads = threads or default_threads()
        level = load_level(voice, quality)
        engine = cls(level, open_sessions(level, threads, profile), threads, compensate)
        if warm:
            engine.reserve()
        return engine
