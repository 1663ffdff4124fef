"""onnxruntime sessions for the three parts of a voice, fed from the buffer pool.

The flow and decoder run on pooled, preallocated buffers bound with IOBinding: onnxruntime
reads the input and writes the output in place, with no per-call allocation on our side.
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort

from . import optimized
from .errors import VoiceError
from .graphs import Graph, SplitVoice, StoredGraph
from .pool import BufferPool
from .windows import Window


def session_options(threads: int) -> ort.SessionOptions:
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
    return options


NOISE_SEED = 0


def seed_noise() -> None:
    """Seed the latent graph's noise (its RandomNormalLike nodes have no seed attribute).

    onnxruntime seeds such a node from a process-wide value when a session is made; left
    alone, the same text came out differently from the package and from the binary. Seeded,
    the n-th utterance after loading gets the same noise in every process, binary or not."""
    ort.set_seed(NOISE_SEED)


def open_session(graph: Graph, threads: int, origin: str = "") -> ort.InferenceSession:
    """A session for a graph file, graph bytes, or a bundle's graph (through the cache of
    optimized graphs; bundle bytes are never written to disk as they are)."""
    try:
        if isinstance(graph, StoredGraph):
            return optimized.session(graph, partial(session_options, threads))
        source = graph if isinstance(graph, bytes) else str(graph)
        return ort.InferenceSession(source, session_options(threads), providers=optimized.PROVIDERS)
    except VoiceError:
        raise
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        name = origin or (str(graph) if isinstance(graph, Path) else "the voice graph")
        raise VoiceError(f"onnxruntime cannot load {name}: {str(exc).splitlines()[0]}") from exc


def _bind(binding: ort.IOBinding, name: str, array: np.ndarray, output: bool = False) -> None:
    args = (name, "cpu", 0, array.dtype, list(array.shape), array.ctypes.data)
    (binding.bind_output if output else binding.bind_input)(*args)


@dataclass
class Latent:
    """Text ids -> z_p (1, channels, frames): encoder, durations, alignment and noise."""

    session: ort.InferenceSession

    def run(self, ids: list[int], scales: tuple[float, float, float], speaker: int | None) -> np.ndarray:
        feed = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
        }
        if speaker is not None:
            feed["sid"] = np.array([speaker], dtype=np.int64)
        z_p, _mask = self.session.run(None, feed)
        return z_p


class Streamer:
    """Runs the flow and the decoder on windows of one sentence's latent frames."""

    def __init__(self, split: SplitVoice, flow: ort.InferenceSession, decoder: ort.InferenceSession,
                 pool: BufferPool) -> None:
        self.split = split
        self.pool = pool
        self._flow = flow
        self._decoder = decoder
        self._flow_in = [i.name for i in flow.get_inputs()]  # z_p, y_mask[, sid]
        self._flow_out = flow.get_outputs()[0].name
        self._dec_in = [i.name for i in decoder.get_inputs()]  # z[, sid]
        self._dec_out = decoder.get_outputs()[0].name
        self._dec_rank = len(decoder.get_outputs()[0].shape)
        self._sid = np.zeros(1, dtype=np.int64)

    def set_speaker(self, speaker: int | None) -> None:
        self._sid[0] = speaker or 0

    def flow(self, z_p: np.ndarray, z: np.ndarray, window: Window) -> None:
        """Write the window's exact frames of z by running the flow on its frames of z_p."""
        start, stop, keep_start, keep_stop = window.start, window.stop, window.keep_start, window.keep_stop
        channels, length = z_p.shape[1], stop - start
        with self.pool.lend((1, channels, length)) as x, self.pool.lend((1, 1, length)) as mask, \
                self.pool.lend((1, channels, length)) as y:
            x[...] = z_p[:, :, start:stop]
            mask.fill(1.0)
            binding = self._flow.io_binding()
            _bind(binding, self._flow_in[0], x)
            _bind(binding, self._flow_in[1], mask)
            if len(self._flow_in) > 2:
                _bind(binding, self._flow_in[2], self._sid)
            _bind(binding, self._flow_out, y, output=True)
            self._flow.run_with_iobinding(binding)
            z[:, :, keep_start:keep_stop] = y[:, :, keep_start - start:keep_stop - start]

    def whole_flow(self, z_p: np.ndarray) -> np.ndarray:
        """z for a whole sentence in one run (calibration; the engine streams with `flow`)."""
        feed = {self._flow_in[0]: z_p, self._flow_in[1]: np.ones((1, 1, z_p.shape[2]), np.float32)}
        if len(self._flow_in) > 2:
            feed[self._flow_in[2]] = self._sid
        return self._flow.run(None, feed)[0]

    def decode(self, z: np.ndarray, window: Window) -> np.ndarray:
        """Float samples for the whole window, in a pooled array the caller gives back."""
        length = window.stop - window.start
        out_shape = (1,) * (self._dec_rank - 1) + (length * self.split.hop,)
        with self.pool.lend((1, z.shape[1], length)) as x:
            y = self.pool.take(out_shape)
            x[...] = z[:, :, window.start:window.stop]
            binding = self._decoder.io_binding()
            _bind(binding, self._dec_in[0], x)
            if len(self._dec_in) > 1:
                _bind(binding, self._dec_in[1], self._sid)
            _bind(binding, self._dec_out, y, output=True)
            self._decoder.run_with_iobinding(binding)
        return y
