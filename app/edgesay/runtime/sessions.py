"""onnxruntime sessions: the one place for session options and providers.

Everything that runs a graph (the engine, preparation's calibration and probes, the offline
optimizer, the cache of optimized graphs) takes its options from here.
"""

from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from ..errors import VoiceError

PROVIDERS = ["CPUExecutionProvider"]
# onnxruntime's NCHWc layout (x86_64 only) would take the decoder's 2-D audio-rate stage instead of
# the Conv + Add fusion aarch64 runs, faster but with more memory: off, so x86_64 runs what a device runs.
DISABLED_OPTIMIZERS = ["NchwcTransformer"]
NOISE_SEED = 0


@dataclass(frozen=True)
class ThreadPlan:
    """How one synthesis spreads over `threads` cores: each graph's intra-op threads, and how
    many parts of every window the decoder's tail runs as at once.

    The tail is four fifths of the work and its windows' parts are independent (each is given
    its own context), so with a cut decoder it runs as `threads` one-thread parts, one per
    core: a short window shares out better as parts than as intra-op threads. The
    flow and the decoder's head run one window ahead on a worker (runtime/engine.py) on one
    thread, beside the tail's parts rather than against them. The latent graph keeps every
    thread: the first sentence's runs alone, before any audio."""

    threads: int
    cut: bool  # the decoder comes as head and tail

    @property
    def parts(self) -> int:
        return self.threads if self.cut else 1

    def intra(self, graph: str) -> int:
        """Intra-op threads for `graph` (a VoiceSessions field name)."""
        return self.threads if graph == "latent" or not self.cut else 1


def session_options(threads: int, profile: bool = False) -> ort.SessionOptions:
    """Options for a voice graph run on `threads` cores. `profile`: onnxruntime's profiler on and
    only the basic (portable) optimizations, so that the profile names the graph's own nodes."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Memory patterns are cached per input shape; with shapes that change every sentence
    # that cache only grows. Even the decoder sees a new shape for every short sentence, so
    # it is off everywhere (measured cost: about 7 % of decoder time on the development machine).
    options.enable_mem_pattern = False
    # Each of the three sessions has its own thread pool. Spinning workers of one session
    # would steal the cores the next session needs a moment later (measured: latent and
    # flow ran 1.5-2x slower with spinning on), and they burn battery on a device.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile:
        options.enable_profiling = True
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return options


def offline_options(saved_to: Path, level: ort.GraphOptimizationLevel) -> ort.SessionOptions:
    """Options that optimize a graph at `level` and save the result to `saved_to`."""
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.optimized_model_filepath = str(saved_to)
    options.log_severity_level = 3
    return options


def seed_noise() -> None:
    """Seed the latent graph's noise (its RandomNormalLike nodes have no seed attribute).

    onnxruntime seeds such a node from a process-wide value when a session is made; left
    alone, the same text came out differently from the package and from the binary. Seeded
    before the latent session is made, the n-th utterance after loading gets the same noise in
    every process, binary or not."""
    ort.set_seed(NOISE_SEED)


def open_session(graph: Path | bytes, options: ort.SessionOptions, origin: str = "") -> ort.InferenceSession:
    """A session for a graph file or graph bytes; onnxruntime's errors become one VoiceError."""
    try:
        return ort.InferenceSession(graph if isinstance(graph, bytes) else str(graph), options, providers=PROVIDERS,
                                    disabled_optimizers=DISABLED_OPTIMIZERS)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        name = origin or (str(graph) if isinstance(graph, Path) else "the voice graph")
        raise VoiceError(f"onnxruntime cannot load {name}: {str(exc).splitlines()[0]}") from exc
