"""Turn a Piper voice (FP32 .onnx + .onnx.json) into an edgesay bundle with every quality level.

    split -> calibration latents -> quantize (flow, decoders) -> compensation -> cut -> lift
          -> lighter latent graph -> optimize -> pack (FP16 graphs are made from these when loaded)

Which graphs and compensations to make follows the table of levels (voice/levels.py). The
engine runs this when it meets a voice with no bundle yet (once, then cached), and `models/`
runs it for `just models`: one implementation.
"""

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx

from ..dsp.compensation import Compensation
from ..dsp.loudness import voice_gain
from ..runtime.streaming import SID, Y_MASK, Z_P, Z
from ..runtime.windows import decoder_sizes, flow_sizes
from ..system import paths
from ..system.threads import default_threads
from ..voice import formats, levels
from ..voice.bundle import FP16_CONVOLUTIONS, BundleSpec, LevelParts, compensation_part
from ..voice.config import VoiceConfig
from ..voice.graphs import SplitVoice
from ..voice.levels import (
    DECODER_HEAD,
    DECODER_TAIL,
    FP16,
    FP32,
    INT8,
    MIXED,
    MIXED16,
    compensation_part_name,
    graph_part,
)
from . import polyphase, steps
from .calibrate import Latents, calibration_latents, compensate_level, decode_all, windows
from .latent import lighter_graph, probe_ids, same_outputs
from .lift import lift_graph
from .optimize import optimize
from .quantize import Plan, decoder_last_stage, quantize
from .split import cut_graph, split_voice

Progress = Callable[[str], None]
Feed = dict[str, np.ndarray]


def _speaker(graph: bytes) -> Feed:
    """What calibration adds to every feed: speaker 0 for a multi-speaker graph's `sid` input
    (the graph is parsed once, not once per window)."""
    names = {i.name for i in onnx.load_from_string(graph).graph.input}
    return {SID: np.zeros(1, np.int64)} if SID in names else {}


def quantize_flow(flow: bytes, latents: Latents, frames: int) -> bytes:
    sid = _speaker(flow)
    feeds = [{Z_P: w, Y_MASK: np.ones((1, 1, w.shape[2]), np.float32), **sid} for w in windows(latents.z_p, frames)]
    return quantize(flow, feeds, [Plan()])[0]


def quantized_decoder_graph(decoder: bytes) -> tuple[bytes, dict[str, Plan]]:
    """The decoder graph the quantized precisions start from (upsamplers in polyphase form, so
    INT8 runs them as INT8: prepare/polyphase.py), and how each precision is made from it. In
    the mixed one only the convolutions are INT8: the residual sums stay in float, which measured
    both faster (0.66 vs 0.70 of FP32) and closer to FP32 (log-mel L1 0.19 vs 0.21) than
    quantizing all ops; its last (audio-rate) stage stays FP32."""
    proto = onnx.load_from_string(decoder)
    last_stage = decoder_last_stage(proto)
    replaced = polyphase.rewrite(proto)
    float_nodes = tuple(new for name in last_stage for new in replaced.get(name, [name]))
    return proto.SerializeToString(), {INT8: Plan(), MIXED: Plan(float_nodes, ("Conv", "ConvTranspose"))}


def quantize_decoder(decoder: bytes, latents: Latents, frames: int, precisions: Sequence[str]) -> dict[str, bytes]:
    """The decoder at each of `precisions` (INT8, MIXED), calibrated once on the same windows."""
    graph, plans = quantized_decoder_graph(decoder)
    sid = _speaker(graph)
    feeds = [{Z: w, **sid} for w in windows(latents.z, frames)]
    made = quantize(graph, feeds, [plans[p] for p in precisions])
    return dict(zip(precisions, made, strict=True))


def latent_graph(latent: bytes, config: VoiceConfig) -> tuple[bytes, dict]:
    """The latent graph for the bundle, optimized: made lighter (prepare/latent.py) if that gives
    the same frames on probes of the voice's own ids, as exported otherwise; and a note of which."""
    as_exported = optimize(latent)
    lighter = lighter_graph(latent)
    optimized = optimize(lighter.graph)
    if not same_outputs(as_exported, optimized, probe_ids(config.phoneme_id_map.values()), config.num_speakers):
        return as_exported, {"latent": "as exported (the lighter graph gave other frames)"}
    removed = lighter.removed
    norms = sum(node.op_type == "LayerNormalization" for node in onnx.load_from_string(optimized).graph.node)
    return optimized, {"latent": f"one sentence per run: {removed.muls} mask products, {removed.wheres} masked "
                                 f"fills and {removed.pads} pads removed; {norms} layer norms fused"}


def fp16_parts() -> dict[str, tuple[str, str]]:
    """The FP16 graphs the levels use, each made when loaded from the graph it is the FP16 form of
    (voice/half.py): from optimized graphs, as optimizing on a machine without FP16 convolution
    kernels would turn them back into FP32 ones."""
    made = {}
    for level in levels.LEVELS:
        if level.latent == FP16:
            made[graph_part("latent", FP16)] = (graph_part("latent", FP32), FP16_CONVOLUTIONS)
        if level.tail == MIXED16:
            made[graph_part(DECODER_TAIL, MIXED16)] = (graph_part(DECODER_TAIL, MIXED), FP16_CONVOLUTIONS)
    return made


def bundle_spec(split: SplitVoice, config: dict, parts: dict[str, bytes],
                compensations: dict[str, Compensation], notes: dict, gain: float = 1.0,
                level_gains: dict[str, float] | None = None) -> BundleSpec:
    all_parts = dict(parts)
    for name, compensation in compensations.items():
        all_parts[compensation_part_name(name)] = compensation_part(compensation)
    table = {level.name: LevelParts(*level.parts) for level in levels.LEVELS}
    meta = {**split.meta(), "gain": gain, "level_gains": level_gains or {}, "prepared": formats.PREPARED}
    return BundleSpec(config, meta, all_parts, table, levels.DEFAULT, notes, fp16_parts())


def prepare(model: Path, config_path: Path, progress: Progress = lambda _: None,
            threads: int | None = None) -> BundleSpec:
    """Every step for one voice, in memory."""
    progress(steps.SPLIT)
    split = split_voice(model, paths.cache_dir())  # FP32 graphs as files, once per voice file
    config = VoiceConfig.from_file(config_path)
    split.check(config)
    progress(steps.LATENTS)
    latents = calibration_latents(split, config, threads or default_threads())
    fp32 = {name: Path(getattr(split, name)).read_bytes() for name in ("latent", "flow", "decoder")}
    flows = {FP32: fp32["flow"]}
    if any(level.flow == INT8 for level in levels.LEVELS):
        progress(steps.FLOW)
        flows[INT8] = quantize_flow(fp32["flow"], latents, flow_sizes(split.flow_pad, split.decoder_pad).size)
    decoders = {FP32: fp32["decoder"]}
    wanted = list(dict.fromkeys(level.decoder for level in levels.LEVELS if level.decoder != FP32))
    if wanted:
        progress(steps.DECODER)
        decoders |= quantize_decoder(fp32["decoder"], latents, decoder_sizes(split.decoder_pad).size, wanted)
    progress(steps.COMPENSATION)
    reference = decode_all(fp32["decoder"], latents)  # FP32 speech of every calibration sentence
    compensations: dict[str, Compensation] = {}
    level_gains: dict[str, float] = {}  # each quantized level's loudness against FP32, as heard
    fitted: dict[str, tuple[Compensation, float]] = {}  # per decoder: levels that share one share its fit
    for level in levels.LEVELS:
        if level.compensated:
            if level.decoder not in fitted:
                fitted[level.decoder] = compensate_level(reference, decoders[level.decoder], latents,
                                                         config.sample_rate)
            compensations[level.name], level_gains[level.name] = fitted[level.decoder]
    progress(steps.OPTIMIZE)
    latent, notes = latent_graph(fp32["latent"], config)
    parts = {graph_part("latent", FP32): latent}
    parts |= {graph_part("flow", precision): optimize(graph) for precision, graph in flows.items()}
    for precision, graph in decoders.items():
        # Cut only now: quantization and the compensation's fit saw the whole decoder.
        head, tail = cut_graph(graph)
        parts[graph_part(DECODER_HEAD, precision)] = optimize(head)
        parts[graph_part(DECODER_TAIL, precision)] = optimize(lift_graph(tail))
    raw_config = json.loads(config_path.read_text(encoding="utf-8"))
    return bundle_spec(split, raw_config, parts, compensations, {"source": model.name, **notes}, voice_gain(reference),
                       level_gains)
