"""Running the three graphs of a voice: the latent graph on a whole sentence, the flow and the
decoder on windows of it, fed from the buffer pool.

The flow and decoder run on pooled, preallocated buffers bound with IOBinding: onnxruntime
reads the input and writes the output in place, with no per-call allocation on our side.
Graph inputs and outputs are found by name: the names Piper gives the latent graph's inputs,
and the ones prepare/split.py gives the tensors where it cuts the voice (TENSORS).
"""

from concurrent.futures import Executor, Future
from contextlib import suppress
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from ..errors import VoiceError
from ..system.pool import BufferPool
from ..voice.graphs import DECODER_CUT, TENSORS, SplitVoice
from .windows import Window

Z_P, Y_MASK, Z = TENSORS
HEAD_OUT = DECODER_CUT  # the decoder head's output, the tail's input
SID = "sid"  # Piper's speaker input, in every graph of a multi-speaker voice
# Below this many frames per part, a window's tail runs in one piece: each part recomputes
# 2 x tail_pad frames of its neighbours', and a part's call has a fixed cost.
MIN_PART_FRAMES = 8


@dataclass(frozen=True)
class VoiceSessions:
    """One onnxruntime session per graph of a split voice (the decoder's head and tail, or the
    whole decoder and None)."""

    latent: ort.InferenceSession
    flow: ort.InferenceSession
    decoder: ort.InferenceSession
    decoder_tail: ort.InferenceSession | None = None

    def check(self, origin: str) -> None:
        """Graphs from an older edgesay cut the voice at unnamed tensors: say so, not KeyError."""
        wanted = {"latent": (Z_P, Y_MASK), "flow": (Z_P, Y_MASK), "decoder": (Z,)}
        if self.decoder_tail is not None:
            wanted |= {"decoder": (Z, HEAD_OUT), "decoder_tail": (HEAD_OUT,)}
        for part, names in wanted.items():
            session = getattr(self, part)
            have = {t.name for t in session.get_inputs()} | {t.name for t in session.get_outputs()}
            if not set(names) <= have:
                raise VoiceError(f"voice {origin} was prepared by an older edgesay (its {part} graph has no "
                                 f"tensor named {', '.join(sorted(set(names) - have))}); prepare it again")


def _bind(binding: ort.IOBinding, name: str, array: np.ndarray, output: bool = False) -> None:
    args = (name, "cpu", 0, array.dtype, list(array.shape), array.ctypes.data)
    (binding.bind_output if output else binding.bind_input)(*args)


def _root(array: np.ndarray) -> np.ndarray:
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


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
            feed[SID] = np.array([speaker], dtype=np.int64)
        (z_p,) = self.session.run([Z_P], feed)
        return z_p


@dataclass
class Pending:
    """A decoder tail under way (Streamer.start_tail): what it runs on, where its samples go."""

    head_out: np.ndarray
    offset: int  # the window frame `head_out` starts at
    y: np.ndarray | None = None  # the samples, when the tail runs in parts
    first_stop: int = 0  # the first part's end, in frames of `head_out`
    others: list[Future[None]] = field(default_factory=list)  # the other parts, on the tail parts' threads


class Streamer:
    """Runs the flow and the decoder on windows of one sentence's latent frames."""

    def __init__(self, split: SplitVoice, flow: ort.InferenceSession, decoder: ort.InferenceSession,
                 pool: BufferPool, decoder_tail: ort.InferenceSession | None = None, flow_frames: int = 0,
                 decoder_frames: int = 0, tail_parts: Executor | None = None, parts: int = 1) -> None:
        """`flow_frames`, `decoder_frames`: the longest windows it will be given, so that every
        window's buffers come from one size class of the pool (0: as each window needs).
        `parts`: how many pieces of each window the decoder's tail runs as at once, one on the
        calling thread and the others on `tail_parts` (a cut decoder and `decoder_frames` only)."""
        self.split = split
        self.pool = pool
        # The flow's and the head's buffers come from a pool of their own: they may be in use on
        # the engine's worker thread while the caller's thread takes from `pool`, and a shared
        # size class would make how many buffers exist at once depend on timing. The head's
        # output crosses to the caller in one of two fixed buffers, used in turn (the caller is
        # done with window k before window k + 2 is prepared).
        self.head_pool = BufferPool()
        self.flow_pool = BufferPool()  # the same for the flow, which may run on a thread of its own
        self._cuts: list[np.ndarray] = []
        self._flow_frames, self._decoder_frames = flow_frames, decoder_frames
        self._flow = flow
        self._decoder = decoder
        self._tail = decoder_tail
        last = decoder_tail or decoder  # the graph that makes the audio
        self._flow_sid = SID in {i.name for i in flow.get_inputs()}
        self._dec_sid = SID in {i.name for i in decoder.get_inputs()}
        self._tail_sid = decoder_tail is not None and SID in {i.name for i in decoder_tail.get_inputs()}
        self._dec_out = last.get_outputs()[0].name  # the voice's own output: its only one
        self._dec_rank = len(last.get_outputs()[0].shape)
        self._sid = np.zeros(1, dtype=np.int64)
        self._tail_parts = tail_parts
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []  # each part's input and output buffer
        if decoder_tail is not None and decoder_frames > 0 and parts > 1 and tail_parts is not None:
            # A part of a window is at most this long, its context included; its buffers are
            # fixed and its own, so parts never share a pool size class across threads.
            most = decoder_frames // parts + 1 + 2 * split.tail_pad
            self._parts = [(self.head_pool.take((split.cut_channels * split.cut_rate * most,)),
                            self.head_pool.take((most * split.hop,))) for _ in range(parts)]

    @property
    def parts(self) -> int:
        """How many parts of a window the tail runs as at once."""
        return max(1, len(self._parts))

    @property
    def fixed_bytes(self) -> int:
        """Bytes of the head_out pool held for good: the head's output ring and the tail's parts."""
        held = self._cuts + [buffer for part in self._parts for buffer in part]
        return sum(_root(buffer).nbytes for buffer in held)

    def set_speaker(self, speaker: int | None) -> None:
        self._sid[0] = speaker or 0

    def flow(self, z_p: np.ndarray, z: np.ndarray, window: Window) -> None:
        """Write the window's exact frames of z by running the flow on its frames of z_p."""
        start, stop, keep_start, keep_stop = window.start, window.stop, window.keep_start, window.keep_stop
        channels, length, most, pool = z_p.shape[1], stop - start, self._flow_frames, self.flow_pool
        with pool.lend((1, channels, length), room=channels * most) as x, \
                pool.lend((1, 1, length), room=most) as mask, \
                pool.lend((1, channels, length), room=channels * most) as y:
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

    def decode(self, z: np.ndarray, window: Window) -> tuple[np.ndarray, int]:
        """Float samples for the window, from its first frame or, with a cut decoder, from the
        first frame the tail is given (the head's context dropped): a pooled array the caller
        gives back, and the window frame it starts at. z holds the whole sentence's frames."""
        head, offset = self.run_head(z, window)
        return self.run_tail(head), offset

    def run_head(self, z: np.ndarray, window: Window) -> tuple[np.ndarray, int]:
        """The decoder's first part on a window: the head's output the tail needs (a cut decoder)
        or the window's frames of z (a whole one), and the window frame it starts at. `run_tail`
        finishes it; the two may run on different threads, one window apart."""
        length, most, pool = window.stop - window.start, self._decoder_frames, self.head_pool
        if self._tail is None:
            return self._next_cut((1, z.shape[1], length), z.shape[1] * most, z[:, :, window.start:window.stop]), 0
        with pool.lend((1, z.shape[1], length), room=z.shape[1] * most) as x:
            x[...] = z[:, :, window.start:window.stop]
            # The head's output is exact but for `head_pad` frames at an edge shared with
            # another window: those are dropped, and the tail sees the rest (its own context).
            rate, pad = self.split.cut_rate, self.split.head_pad
            left = pad if window.start > 0 else 0
            right = pad if window.stop < z.shape[2] else 0
            room = self.split.cut_channels * most * rate
            with pool.lend((1, self.split.cut_channels, length * rate), room=room) as h:
                binding = self._decoder.io_binding()
                _bind(binding, Z, x)
                if self._dec_sid:
                    _bind(binding, SID, self._sid)
                _bind(binding, HEAD_OUT, h, output=True)
                self._decoder.run_with_iobinding(binding)
                cut = h[:, :, left * rate:(length - right) * rate]
                return self._next_cut(cut.shape, room, cut), left

    def _next_cut(self, shape: tuple[int, ...], room: int, values: np.ndarray) -> np.ndarray:
        size = int(np.prod(shape))
        if not self._cuts or self._cuts[0].size < size:  # first use, or a window over the longest
            for old in self._cuts:
                self.head_pool.give(old)
            self._cuts = [self.head_pool.take((max(room, size),)) for _ in range(2)]
        self._cuts.reverse()
        out = self._cuts[0][:size].reshape(shape)
        out[...] = values
        return out

    def run_tail(self, head_out: np.ndarray) -> np.ndarray:
        """Samples from the head's output (`run_head`), in a pooled array the caller gives back."""
        return self.finish_tail(self.start_tail(head_out))

    def start_tail(self, head_out: np.ndarray, offset: int = 0) -> "Pending":
        """Start the decoder's tail on `head_out`: parts other than the first run on the tail parts' threads from
        now on; `finish_tail` runs the first here and waits for the others. `offset`: the
        window frame `head_out` starts at (carried along for the caller)."""
        if self._tail is None:
            return Pending(head_out, offset)
        frames = head_out.shape[2] // self.split.cut_rate
        if not self._parts or not len(self._parts) * MIN_PART_FRAMES <= frames <= self._decoder_frames:
            return Pending(head_out, offset)  # one thread, a window too short to split, or a whole sentence
        # The tail in parts, at once: each part is given `tail_pad` frames of its neighbours'
        # (the tail's own context, as between windows), so every kept sample is exact, and
        # the parts write disjoint ranges of y.
        y = self.pool.take((1,) * (self._dec_rank - 1) + (frames * self.split.hop,),
                           room=self._decoder_frames * self.split.hop)
        count = len(self._parts)
        bounds = [frames * n // count for n in range(count + 1)]
        assert self._tail_parts is not None
        others: list[Future[None]] = []
        try:
            for n in range(1, count):
                others.append(self._tail_parts.submit(self._tail_part, head_out, bounds[n], bounds[n + 1], n, y))
        except RuntimeError:  # those threads are shut down (the process is exiting): here, one at a time
            for n in range(len(others) + 1, count):
                self._tail_part(head_out, bounds[n], bounds[n + 1], n, y)
        return Pending(head_out, offset, y, bounds[1], others)

    def finish_tail(self, pending: "Pending") -> np.ndarray:
        """The samples of a started tail, in a pooled array the caller gives back."""
        if pending.y is None:
            if self._tail is None:
                return self._run_decoder(self._decoder, Z, pending.head_out, self._dec_sid)
            return self._run_decoder(self._tail, HEAD_OUT, pending.head_out, self._tail_sid)
        try:
            self._tail_part(pending.head_out, 0, pending.first_stop, 0, pending.y)
            for other in pending.others:
                other.result()
        except BaseException:
            self.abandon(pending)
            raise
        return pending.y

    def abandon(self, pending: "Pending") -> None:
        """Wait for a started tail's parts (none may still write to its buffers) and give its
        samples back unread."""
        for other in pending.others:
            other.cancel()
        for other in pending.others:
            with suppress(BaseException):
                other.exception()
        if pending.y is not None:
            self.pool.give(pending.y)
            pending.y = None

    def _tail_part(self, head_out: np.ndarray, start: int, stop: int, n: int, y: np.ndarray) -> None:
        """Write the tail's samples for frames [start, stop) of `head_out` into y."""
        rate, hop, pad = self.split.cut_rate, self.split.hop, self.split.tail_pad
        frames = head_out.shape[2] // rate
        begin, end = max(0, start - pad), min(frames, stop + pad)
        inputs, outputs = self._parts[n]
        x = inputs[:head_out.shape[1] * (end - begin) * rate].reshape(1, head_out.shape[1], (end - begin) * rate)
        x[...] = head_out[:, :, begin * rate:end * rate]
        out = outputs[:(end - begin) * hop].reshape((1,) * (self._dec_rank - 1) + ((end - begin) * hop,))
        assert self._tail is not None  # parts exist only with a tail
        self._run_into(self._tail, HEAD_OUT, x, self._tail_sid, out)
        y.reshape(-1)[start * hop:stop * hop] = out.reshape(-1)[(start - begin) * hop:(stop - begin) * hop]

    def _run_decoder(self, session: ort.InferenceSession, name: str, x: np.ndarray, sid: bool) -> np.ndarray:
        samples = x.shape[2] * self.split.hop // (self.split.cut_rate if name == HEAD_OUT else 1)
        y = self.pool.take((1,) * (self._dec_rank - 1) + (samples,), room=self._decoder_frames * self.split.hop)
        self._run_into(session, name, x, sid, y)
        return y

    def _run_into(self, session: ort.InferenceSession, name: str, x: np.ndarray, sid: bool, y: np.ndarray) -> None:
        """Run a decoder graph on x (fed as `name`), its samples written into y in place."""
        binding = session.io_binding()
        _bind(binding, name, x)
        if sid:
            _bind(binding, SID, self._sid)
        _bind(binding, self._dec_out, y, output=True)
        session.run_with_iobinding(binding)
