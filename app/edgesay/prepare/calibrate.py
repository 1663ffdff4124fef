"""Calibration data for a voice's INT8 graphs and their Mel gain compensation.

The calibration sentences go through the same front end, latent graph and flow as at run time
(the runtime pieces, FP32, with the voice's default noise), so quantization ranges and the
compensation are measured on what the engine will feed the quantized graphs.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dsp.compensation import Compensation, Compensator, calibrate
from ..dsp.loudness import voice_gain
from ..runtime.sessions import open_session, seed_noise, session_options
from ..runtime.streaming import SID, Latent, Streamer, Z
from ..system import paths
from ..system.pool import BufferPool
from ..text.espeak import Espeak
from ..text.frontend import EMPTY_IDS
from ..voice.config import SynthesisSettings, VoiceConfig
from ..voice.graphs import Graph, SplitVoice, StoredGraph

DECODE_THREADS = 2
_SILENT = 1e-4  # a sentence quieter than this (RMS, -80 dBFS) says nothing about loudness


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


def measure_gain(split: SplitVoice, config: VoiceConfig, threads: int) -> float:
    """The voice's loudness gain (dsp.loudness.voice_gain) from its FP32 graphs: what preparing
    the voice measures, alone, for a voice run at the reference level without preparation."""
    return voice_gain(decode_all(_plain(split.decoder), calibration_latents(split, config, threads)))


def decode_all(decoder: Path | bytes, latents: Latents) -> list[np.ndarray]:
    """Whole-sentence audio from one decoder graph for every calibration sentence."""
    session = open_session(decoder, session_options(DECODE_THREADS), "a decoder graph")
    sid = {SID: np.zeros(1, np.int64)} if SID in {i.name for i in session.get_inputs()} else {}
    return [session.run(None, {Z: z, **sid})[0].reshape(-1) for z in latents.z]


def compensate_level(reference: list[np.ndarray], quantized: bytes, latents: Latents,
                     sample_rate: int) -> tuple[Compensation, float]:
    """The Mel gain compensation of a quantized decoder, fitted on its audio of the calibration
    sentences against FP32's, and the gain that then makes the level as loud as FP32: the
    compensation only ever takes energy away (hiss), so a decoder a little quieter than FP32
    stays so (the median over sentences of FP32's RMS over the compensated level's)."""
    audio = decode_all(quantized, latents)
    compensation = calibrate(zip(reference, audio, strict=True), sample_rate)
    compensator = Compensator(compensation, BufferPool(), max(len(a) for a in audio))
    ratios = []
    for want, have in zip(reference, audio, strict=True):
        out = np.concatenate([compensator.process(have.astype(np.float32)), compensator.finish()])
        loud, level = float(np.sqrt(np.mean(want.astype(np.float64) ** 2))), float(np.sqrt(np.mean(out ** 2.0)))
        if loud > _SILENT and level > _SILENT:
            ratios.append(loud / level)
    return compensation, float(np.median(ratios)) if ratios else 1.0
