"""Calibration data for a voice's INT8 graphs and their Mel gain compensation.

The calibration sentences go through the same front end, latent graph and flow as at run time
(the runtime pieces, FP32, with the voice's default noise), so quantization ranges and the
compensation are measured on what the engine will feed the quantized graphs.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dsp.compensation import Compensation, calibrate
from ..runtime.sessions import open_session, seed_noise, session_options
from ..runtime.streaming import SID, Latent, Streamer, Z
from ..system import paths
from ..system.pool import BufferPool
from ..text.espeak import Espeak
from ..text.frontend import EMPTY_IDS
from ..voice.config import SynthesisSettings, VoiceConfig
from ..voice.graphs import Graph, SplitVoice, StoredGraph

DECODE_THREADS = 2


@dataclass(frozen=True)
class Latents:
    """The calibration corpus as the flow and the decoder see it, one entry per sentence."""

    z_p: list[np.ndarray]
    z: list[np.ndarray]


def calibration_latents(split: SplitVoice, config: VoiceConfig, threads: int, text: str | None = None) -> Latents:
    """Run the FP32 latent graph and the whole-sentence flow of `split` (graphs as files or
    bytes) on the calibration sentences, with the voice's default noise."""
    seed_noise()  # before the latent session is made: the same noise as the engine's
    options = session_options(threads)
    latent = Latent(open_session(_plain(split.latent), options, "the voice's latent graph"))
    streamer = Streamer(split, open_session(_plain(split.flow), options, "the voice's flow graph"),
                        open_session(_plain(split.decoder), options, "the voice's decoder graph"), BufferPool())
    frontend = config.frontend(Espeak.installed())
    text = text if text is not None else paths.calibration_text(config.espeak_voice).read_text(encoding="utf-8")
    scales = SynthesisSettings().scales(config)
    z_ps: list[np.ndarray] = []
    zs: list[np.ndarray] = []
    for line in text.splitlines():
        for sentence in frontend.sentences(line) if line.strip() else []:
            ids = frontend.sentence_ids(sentence)
            if len(ids) <= EMPTY_IDS:
                continue
            # A multi-speaker voice is calibrated on all its speakers in turn.
            speaker = len(zs) % config.num_speakers if config.num_speakers > 1 else None
            streamer.set_speaker(speaker)
            z_p = latent.run(ids, scales, speaker)
            z_ps.append(z_p)
            zs.append(streamer.whole_flow(z_p))
    return Latents(z_ps, zs)


def _plain(graph: Graph) -> Path | bytes:
    return graph.read() if isinstance(graph, StoredGraph) else graph


def windows(arrays: list[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Fixed-size windows over the sentences laid end to end (percentile calibration needs
    one shape; a window across a sentence boundary is still realistic input)."""
    joined = np.concatenate(arrays, axis=2)
    for start in range(0, max(1, joined.shape[2] - size + 1), size):
        window = joined[:, :, start:start + size]
        if window.shape[2] == size:
            yield np.ascontiguousarray(window)


def decode_all(decoder: Path | bytes, latents: Latents) -> list[np.ndarray]:
    """Whole-sentence audio from one decoder graph for every calibration sentence."""
    session = open_session(decoder, session_options(DECODE_THREADS), "a decoder graph")
    sid = {SID: np.zeros(1, np.int64)} if SID in {i.name for i in session.get_inputs()} else {}
    return [session.run(None, {Z: z, **sid})[0].reshape(-1) for z in latents.z]


def calibrate_compensation(reference: list[np.ndarray], quantized: bytes, latents: Latents,
                           sample_rate: int) -> Compensation:
    """Fit the Mel gains from FP32 audio and the INT8 decoder's audio of the same frames."""
    return calibrate(zip(reference, decode_all(quantized, latents), strict=True), sample_rate)
