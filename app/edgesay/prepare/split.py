"""Split a Piper (VITS) voice into the three graphs the engine streams through (voice/graphs.py).

The latent graph (text encoder, duration predictor, alignment, noise) needs the whole
sentence. The flow and the HiFi-GAN decoder are convolutional: each output frame depends
only on a few input frames either side (their receptive field), so they can run on
overlapping windows and give the same samples as one run over the sentence. We measure
that receptive field on the graph itself (an impulse probe) instead of trusting a formula,
and cache the split graphs per voice file, so a user's own Piper voice works the same way.
The tensors where the voice is cut get the names in voice.graphs.TENSORS, so the engine finds
the graphs' inputs by name whatever the exporter called them.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx.utils import Extractor

from ..errors import VoiceError
from ..runtime.sessions import open_session, session_options
from ..runtime.streaming import SID
from ..system.files import PendingDir, PendingFile
from ..voice import formats
from ..voice.graphs import DECODER_CUT, TENSORS, SplitVoice

PROBE_FRAMES = 160
PROBE_THREADS = 2
PROBES = 3  # impulse probes per graph: the receptive field is the widest any of them shows


def _producers(graph) -> dict[str, object]:
    return {out: node for node in graph.node for out in node.output}


def _split_points(model) -> tuple[str, str, str]:
    """(z_p, y_mask, z): the tensors between latent and flow, and flow and decoder."""
    graph = model.graph
    producers = _producers(graph)
    constants = {n.output[0] for n in graph.node if n.op_type == "Constant"} | {i.name for i in graph.initializer}
    dec_in = next((n.input[0] for n in graph.node if n.op_type == "Conv" and n.name.startswith("/dec/")), None)
    flow_nodes = [n for n in graph.node if n.name.startswith("/flow/")]
    if dec_in is None or not flow_nodes:
        raise VoiceError("the model is not a Piper VITS voice: no /flow/ and /dec/ nodes")
    flow_outputs = {o for n in flow_nodes for o in n.output}
    external = {t for n in flow_nodes for t in n.input if t and t not in flow_outputs and t not in constants}
    by_op = {getattr(producers.get(t), "op_type", ""): t for t in external}
    if "Add" not in by_op or "Cast" not in by_op:
        raise VoiceError(f"cannot find the flow's inputs in this voice (found {sorted(by_op)})")
    return by_op["Add"], by_op["Cast"], dec_in


def _decoder_cut(model) -> str:
    """The tensor entering the decoder's second upsampler (through its LeakyReLU): the head
    before it (conv_pre, the first upsampler and its residual blocks) is a fifth of the
    decoder's work but needs nearly all its context; the tail after it runs at 8x to 256x the
    frame rate and needs a frame or two."""
    producers = _producers(model.graph)
    ups = [n for n in model.graph.node if n.op_type == "ConvTranspose" and n.name.startswith("/dec/")]
    if len(ups) < 2:
        raise VoiceError("the voice's decoder has fewer than two upsampling layers")
    before: Any = producers.get(ups[1].input[0])
    return before.input[0] if before is not None and before.op_type == "LeakyRelu" else ups[1].input[0]


def cut_decoder(decoder: onnx.ModelProto) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """A decoder graph (FP32 or quantized, with the tensor named DECODER_CUT) as head and tail.
    The tail takes the speaker too if the voice has several (Piper's only use it in the head)."""
    inputs = [i.name for i in decoder.graph.input]
    sid = [SID] if SID in inputs else []
    extractor = Extractor(decoder)
    output = decoder.graph.output[0].name
    head = extractor.extract_model([TENSORS[2], *sid], [DECODER_CUT])
    tail = extractor.extract_model([DECODER_CUT, *sid], [output])
    return head, tail


def cut_graph(decoder: bytes) -> tuple[bytes, bytes]:
    head, tail = cut_decoder(onnx.load_from_string(decoder))
    return head.SerializeToString(), tail.SerializeToString()


def _noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Deterministic noise, about unit variance, without numpy.random (which the binary leaves
    out): any input that is not degenerate shows how far a change travels."""
    n = np.arange(int(np.prod(shape)), dtype=np.float64) + seed * 7919.0
    uniform = (np.sin(n * 12.9898) * 43758.5453) % 1.0  # the classic shader hash, in [0, 1)
    return ((uniform * 2.0 - 1.0) * 1.7).reshape(shape).astype(np.float32)


def _receptive_pad(run, length: int, channels: int, hop: int) -> int:
    """Frames either side of a frame that an output frame depends on, measured by
    perturbing the middle frame and seeing how far the output changes; the widest of a few
    probes, because at the far edge one input's change can round away to exactly nothing."""
    return max(_probe(run, length, channels, hop, seed) for seed in range(PROBES))


def _probe(run, length: int, channels: int, hop: int, seed: int) -> int:
    x = _noise((1, channels, length), 2 * seed)
    base = run(x)
    mid = length // 2
    x[:, :, mid] += 3.0 * _noise((channels,), 2 * seed + 1)
    diff = np.abs(run(x) - base)
    changed = np.flatnonzero(diff.reshape(-1, diff.shape[-1]).max(axis=0) > 0)  # along time
    if changed.size == 0:
        return 0
    first, last = changed[0] // hop, changed[-1] // hop
    reach = max(mid - first, last - mid)
    if reach >= length // 2 - 1:
        raise VoiceError("the voice's receptive field is wider than the probe; it cannot stream")
    return int(reach) + 1


def _cache_key(model_path: Path) -> str:
    stat = model_path.stat()
    ident = f"{formats.SPLIT}:{model_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _rename(model: onnx.ModelProto, names: dict[str, str]) -> None:
    """Rename tensors everywhere they appear (node inputs and outputs, shape information)."""
    graph = model.graph
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for info in [*graph.value_info, *graph.input, *graph.output]:
        info.name = names.get(info.name, info.name)


def _split(model_path: Path, out: Path) -> None:
    """Write latent/flow/decoder.onnx and meta.json for `model_path` into `out`."""
    try:
        model = onnx.load(str(model_path))
    except Exception as exc:  # onnx raises DecodeError, ValueError, OSError...
        raise VoiceError(f"voice model {model_path} is not a readable ONNX file: {exc}") from exc
    cut = (*_split_points(model), _decoder_cut(model))
    known = {v.name for v in model.graph.value_info}
    if not set(cut) <= known:
        # The extractor needs the shapes of the tensors it cuts at; Piper's own exports
        # carry them, a fresh torch export may not.
        model = onnx.shape_inference.infer_shapes(model)
    _rename(model, dict(zip(cut, (*TENSORS, DECODER_CUT), strict=True)))
    z_p, y_mask, z = TENSORS
    inputs = [i.name for i in model.graph.input]
    sid = [SID] if SID in inputs else []
    extractor = Extractor(model)
    parts = {
        "latent": extractor.extract_model(list(inputs), [z_p, y_mask]),
        "flow": extractor.extract_model([z_p, y_mask, *sid], [z]),
        "decoder": extractor.extract_model([z, *sid], [model.graph.output[0].name]),
    }
    parts["decoder_head"], parts["decoder_tail"] = cut_decoder(parts["decoder"])
    for name, part in parts.items():
        with PendingFile(out / f"{name}.onnx") as pending:
            onnx.save(part, str(pending.tmp))

    options = session_options(PROBE_THREADS)
    flow = open_session(out / "flow.onnx", options)
    decoder = open_session(out / "decoder.onnx", options)
    head = open_session(out / "decoder_head.onnx", options)
    tail = open_session(out / "decoder_tail.onnx", options)
    channels = _latent_channels(parts["decoder"])
    sid_feed = {SID: np.zeros(1, dtype=np.int64)} if sid else {}

    def run_flow(x: np.ndarray) -> np.ndarray:
        mask = np.ones((1, 1, x.shape[2]), np.float32)
        return flow.run([z], {z_p: x, y_mask: mask, **sid_feed})[0]

    def run_decoder(x: np.ndarray) -> np.ndarray:
        return decoder.run(None, {z: x, **sid_feed})[0]

    def run_head(x: np.ndarray) -> np.ndarray:
        return head.run(None, {z: x, **sid_feed})[0]

    def run_tail(x: np.ndarray) -> np.ndarray:
        return tail.run(None, {DECODER_CUT: x, **sid_feed})[0]

    hop = run_decoder(np.zeros((1, channels, 4), np.float32)).size // 4
    h = run_head(np.zeros((1, channels, 4), np.float32))
    rate, cut_channels = h.shape[2] // 4, h.shape[1]
    # The tail's reach in samples of h (each makes hop // rate audio samples), then in frames.
    tail_reach = _receptive_pad(run_tail, PROBE_FRAMES, cut_channels, hop // rate)
    meta = {
        "format": formats.SPLIT,
        "channels": channels,
        "hop": hop,
        "flow_pad": _receptive_pad(run_flow, PROBE_FRAMES, channels, 1),
        "decoder_pad": _receptive_pad(run_decoder, PROBE_FRAMES, channels, hop),
        "cut_rate": rate,
        "cut_channels": cut_channels,
        "head_pad": _receptive_pad(run_head, PROBE_FRAMES, channels, rate),
        "tail_pad": -(-tail_reach // rate),
        "multi_speaker": bool(sid),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))


def _latent_channels(decoder_model: onnx.ModelProto) -> int:
    conv = next(n for n in decoder_model.graph.node if n.op_type == "Conv")
    weight = next(i for i in decoder_model.graph.initializer if i.name == conv.input[1])
    return int(weight.dims[1])


def _load(folder: Path, cut: bool) -> SplitVoice:
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != formats.SPLIT:
        raise ValueError("old split format")
    if cut:
        return SplitVoice.from_meta(folder / "latent.onnx", folder / "flow.onnx", folder / "decoder_head.onnx", meta,
                                    folder / "decoder_tail.onnx")
    return SplitVoice.from_meta(folder / "latent.onnx", folder / "flow.onnx", folder / "decoder.onnx", meta)


def split_voice(model_path: Path, cache: Path, cut: bool = False) -> SplitVoice:
    """The split graphs for `model_path`, made once and then read from `cache`; `cut`: the
    decoder as head and tail (to run), else whole (to quantize and calibrate)."""
    if not model_path.is_file():
        raise VoiceError(f"voice model {model_path} does not exist")
    folder = cache / "voices" / _cache_key(model_path)
    try:
        return _load(folder, cut)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        pass
    try:
        # Built in a scratch folder and renamed: a crash or Ctrl-C never leaves half a cache entry.
        with PendingDir(folder) as scratch:
            try:
                _split(model_path, scratch.tmp)
            except (VoiceError, OSError):
                raise
            except Exception as exc:  # onnx and onnxruntime raise many types for a bad graph
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise VoiceError(f"voice model {model_path} cannot be split for streaming: {first}") from exc
        return _load(folder, cut)
    except OSError as exc:
        raise VoiceError(f"cannot write the voice cache in {cache}: {exc.strerror or exc}") from exc
