"""Running the three graphs of a voice: the latent graph on a whole sentence, the flow and the
decoder on windows of it, fed from the buffer pool.

The flow and decoder run on pooled, preallocated buffers bound with IOBinding: onnxruntime
reads the input and writes the output in place, with no per-call allocation on our side.
Graph inputs and outputs are found by name: the names Piper gives the latent graph's inputs,
and the ones prepare/split.py gives the tensors where it cuts the voice (TENSORS).
"""

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from ..errors import VoiceError
from ..system.pool import BufferPool
from ..voice.graphs import TENSORS, SplitVoice
from .windows import Window

Z_P, Y_MASK, Z = TENSORS
SID = "sid"  # Piper's speaker input, in every graph of a multi-speaker voice


@dataclass(frozen=True)
class VoiceSessions:
    """One onnxruntime session per graph of a split voice."""

    latent: ort.InferenceSession
    flow: ort.InferenceSession
    decoder: ort.InferenceSession

    def check(self, origin: str) -> None:
        """Graphs from an older edgesay cut the voice at unnamed tensors: say so, not KeyError."""
        wanted = {"latent": (Z_P, Y_MASK), "flow": (Z_P, Y_MASK), "decoder": (Z,)}
        for part, names in wanted.items():
            session = getattr(self, part)
            have = {t.name for t in session.get_inputs()} | {t.name for t in session.get_outputs()}
            if not set(names) <= have:
                raise VoiceError(f"voice {origin} was prepared by an older edgesay (its {part} graph has no "
                                 f"tensor named {', '.join(sorted(set(names) - have))}); prepare it again")


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
        (z_p,) = self.session.run([Z_P], feed)
        return z_p


class Streamer:
    """Runs the flow and the decoder on windows of one sentence's latent frames."""

    def __init__(self, split: SplitVoice, flow: ort.InferenceSession, decoder: ort.InferenceSession,
                 pool: BufferPool) -> None:
        self.split = split
        self.pool = pool
        self._flow = flow
        self._decoder = decoder
        self._flow_sid = SID in {i.name for i in flow.get_inputs()}
        self._dec_sid = SID in {i.name for i in decoder.get_inputs()}
        self._dec_out = decoder.get_outputs()[0].name  # the voice's own output: its only one
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
            _bind(binding, Z_P, x)
            _bind(binding, Y_MASK, mask)
            if self._flow_sid:
                _bind(binding, SID, self._sid)
            _bind(binding, Z, y, output=True)
            self._flow.run_with_iobinding(binding)
            z[:, :, keep_start:keep_stop] = y[:, :, keep_start - start:keep_stop - start]

    def whole_flow(self, z_p: np.ndarray) -> np.ndarray:
        """z for a whole sentence in one run (calibration; the engine streams with `flow`)."""
        feed = {Z_P: z_p, Y_MASK: np.ones((1, 1, z_p.shape[2]), np.float32)}
        if self._flow_sid:
            feed[SID] = self._sid
        return self._flow.run([Z], feed)[0]

    def decode(self, z: np.ndarray, window: Window) -> np.ndarray:
        """Float samples for the whole window, in a pooled array the caller gives back."""
        length = window.stop - window.start
        out_shape = (1,) * (self._dec_rank - 1) + (length * self.split.hop,)
        with self.pool.lend((1, z.shape[1], length)) as x:
            y = self.pool.take(out_shape)
            x[...] = z[:, :, window.start:window.stop]
            binding = self._decoder.io_binding()
            _bind(binding, Z, x)
            if self._dec_sid:
                _bind(binding, SID, self._sid)
            _bind(binding, self._dec_out, y, output=True)
            self._decoder.run_with_iobinding(binding)
        return y
