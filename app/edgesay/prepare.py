"""Turn a Piper voice (FP32 .onnx + .onnx.json) into an edgesay bundle with quality levels.

    split -> calibration latents -> quantize (flow, decoder) -> compensation -> optimize -> pack

    fast       INT8 flow, all-INT8 decoder, Mel gain compensation
    balanced   INT8 flow, decoder INT8 except its last (audio-rate) stage, compensation
    reference  the FP32 graphs as Piper runs them

Each step is a function here; `models/` has one script per step for `just models`, and
the engine runs them all when it meets a voice with no bundle yet (once, then cached).
"""

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from .bundle import BundleSpec, Level
from .compensation import Compensation, calibrate
from .config import SynthesisSettings
from .quantize import Plan, decoder_last_stage, quantize

CALIBRATION_TEXT = Path(__file__).with_name("calibration.txt")
DEFAULT_LEVEL = "balanced"
DECODER_CALIBRATION_FRAMES = 128  # the engine's steady decoder window (104 + 2 x 12 for joe)
FLOW_CALIBRATION_FRAMES = 322  # the engine's flow window (256 + 2 x 33 for joe)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Latents:
    """The calibration corpus as the flow and the decoder see it, one entry per sentence."""

    z_p: list[np.ndarray]
    z: list[np.ndarray]


def calibration_latents(engine, text: str | None = None) -> Latents:
    """Run the FP32 latent graph and the whole-sentence flow on the calibration sentences,
    with the voice's default noise, as they will be at run time. `engine` is a reference
    (FP32) Engine."""
    from .engine import text_to_sentences

    text = text if text is not None else CALIBRATION_TEXT.read_text()
    scales = SynthesisSettings().scales(engine.config)
    speakers = engine.config.num_speakers
    z_ps: list[np.ndarray] = []
    zs: list[np.ndarray] = []
    for line in text.splitlines():
        for sentence in text_to_sentences(line) if line.strip() else []:
            ids = engine.sentence_ids(sentence)
            if len(ids) <= 3:
                continue
            # A multi-speaker voice is calibrated on all its speakers in turn.
            speaker = len(zs) % speakers if speakers > 1 else None
            engine.streamer.set_speaker(speaker)
            z_p = engine.latent.run(ids, scales, speaker)
            z_ps.append(z_p)
            zs.append(engine.streamer.whole_flow(z_p))
    return Latents(z_ps, zs)


def _windows(arrays: list[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Fixed-size windows over the sentences laid end to end (percentile calibration needs
    one shape; a window across a sentence boundary is still realistic input)."""
    joined = np.concatenate(arrays, axis=2)
    for start in range(0, max(1, joined.shape[2] - size + 1), size):
        window = joined[:, :, start:start + size]
        if window.shape[2] == size:
            yield np.ascontiguousarray(window)


def _names(model: bytes) -> tuple[list[str], onnx.ModelProto]:
    proto = onnx.load_from_string(model)
    return [i.name for i in proto.graph.input], proto


def quantize_flow(flow: bytes, latents: Latents) -> bytes:
    inputs, _ = _names(flow)
    feeds = []
    for window in _windows(latents.z_p, FLOW_CALIBRATION_FRAMES):
        feed = {inputs[0]: window, inputs[1]: np.ones((1, 1, window.shape[2]), np.float32)}
        if len(inputs) > 2:
            feed[inputs[2]] = np.zeros(1, np.int64)
        feeds.append(feed)
    return quantize(flow, feeds, [Plan()])[0]


def quantize_decoder(decoder: bytes, latents: Latents) -> tuple[bytes, bytes]:
    """(all INT8, INT8 but for the last stage). In the mixed one only the convolutions are
    INT8: the residual sums stay in float, which measured both faster (0.66 vs 0.70 of
    FP32) and closer to FP32 (log-mel L1 0.19 vs 0.21) than quantizing all ops."""
    inputs, proto = _names(decoder)
    feeds = []
    for window in _windows(latents.z, DECODER_CALIBRATION_FRAMES):
        feed = {inputs[0]: window}
        if len(inputs) > 1:
            feed[inputs[1]] = np.zeros(1, np.int64)
        feeds.append(feed)
    full, mixed = quantize(decoder, feeds, [Plan(), Plan(decoder_last_stage(proto), ("Conv", "ConvTranspose"))])
    return full, mixed


def decode_all(decoder: bytes, latents: Latents) -> list[np.ndarray]:
    """Whole-sentence audio from one decoder graph for every calibration sentence."""
    from .inference import open_session

    session = open_session(decoder, 2)
    names = [i.name for i in session.get_inputs()]
    audio = []
    for z in latents.z:
        feed = {names[0]: z}
        if len(names) > 1:
            feed[names[1]] = np.zeros(1, np.int64)
        audio.append(session.run(None, feed)[0].reshape(-1))
    return audio


def calibrate_compensation(reference: list[np.ndarray], quantized: bytes, latents: Latents,
                           sample_rate: int) -> Compensation:
    """Fit the Mel gains from FP32 audio and the INT8 decoder's audio of the same frames."""
    return calibrate(zip(reference, decode_all(quantized, latents), strict=True), sample_rate)


def optimize(model: bytes) -> bytes:
    """The graph after onnxruntime's portable (extended) optimizations: QDQ pairs fused
    into QLinear ops, constants folded. Loading it skips that work. The layout passes
    that depend on the CPU ('all') still run at load time, on the device."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgesay-optimize-") as scratch:
        out = Path(scratch) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(out)
        options.log_severity_level = 3
        ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        return out.read_bytes()


def bundle_spec(meta: dict, config: dict, parts: dict[str, bytes], compensations: dict[str, Compensation],
                notes: dict) -> BundleSpec:
    """`meta` is SplitVoice.meta() of the voice."""
    all_parts = dict(parts)
    for name, compensation in compensations.items():
        all_parts[f"compensation.{name}.json"] = json.dumps(compensation.to_dict()).encode()
    levels = {
        "fast": Level("latent.fp32.onnx", "flow.int8.onnx", "decoder.int8.onnx", "compensation.fast.json"),
        "balanced": Level("latent.fp32.onnx", "flow.int8.onnx", "decoder.mixed.onnx", "compensation.balanced.json"),
        "reference": Level("latent.fp32.onnx", "flow.fp32.onnx", "decoder.fp32.onnx"),
    }
    return BundleSpec(config, meta, all_parts, levels, DEFAULT_LEVEL, notes)


def prepare(model: Path, config_path: Path, progress: Progress = lambda _: None) -> BundleSpec:
    """Every step for one voice, in memory: what `just models` does, for the engine."""
    from .engine import Engine, VoiceFiles

    progress("splitting")
    engine = Engine.load(VoiceFiles(model, config_path), threads=None, quality="reference")  # splits, once
    split = engine.split
    progress("calibration latents")
    latents = calibration_latents(engine)
    fp32 = {name: Path(getattr(split, name)).read_bytes() for name in ("latent", "flow", "decoder")}
    progress("quantizing the flow")
    flow = quantize_flow(fp32["flow"], latents)
    progress("quantizing the decoder")
    full, mixed = quantize_decoder(fp32["decoder"], latents)
    decoders = {"int8": full, "mixed": mixed}
    progress("calibrating the Mel gain compensation")
    rate = engine.config.sample_rate
    reference = decode_all(fp32["decoder"], latents)
    compensations = {"fast": calibrate_compensation(reference, full, latents, rate),
                     "balanced": calibrate_compensation(reference, mixed, latents, rate)}
    progress("optimizing graphs")
    parts = {
        "latent.fp32.onnx": optimize(fp32["latent"]), "flow.fp32.onnx": optimize(fp32["flow"]),
        "decoder.fp32.onnx": optimize(fp32["decoder"]), "flow.int8.onnx": optimize(flow),
        "decoder.int8.onnx": optimize(decoders["int8"]), "decoder.mixed.onnx": optimize(decoders["mixed"]),
    }
    config = json.loads(config_path.read_text())
    return bundle_spec(split.meta(), config, parts, compensations, {"source": model.name})
