"""Split a Piper (VITS) voice into the three graphs the engine streams through.

    text ids --latent--> z_p (whole sentence) --flow--> z --decoder--> audio (windows)

The latent graph (text encoder, duration predictor, alignment, noise) needs the whole
sentence. The flow and the HiFi-GAN decoder are convolutional: each output frame depends
only on a few input frames either side (their receptive field), so they can run on
overlapping windows and give the same samples as one run over the sentence. We measure
that receptive field on the graph itself (an impulse probe) instead of trusting a formula,
and cache the split graphs per voice file, so a user's own Piper voice works the same way.
"""

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import VoiceError

SPLIT_FORMAT = 1


@dataclass(frozen=True)
class StoredGraph:
    """A graph in a bundle, named by the sha256 of its bytes and read (decompressed and
    checked) only when no optimized copy of it is cached."""

    name: str
    sha256: str
    read: Callable[[], bytes]


Graph = Path | bytes | StoredGraph


@dataclass(frozen=True)
class SplitVoice:
    """The split graphs of one voice (files, or bytes from a bundle), with what the engine
    must know to window them."""

    latent: Graph
    flow: Graph
    decoder: Graph
    channels: int  # latent channels (192 for Piper voices)
    hop: int  # audio samples per latent frame
    flow_pad: int  # frames of context either side that make flow windows exact
    decoder_pad: int  # the same for the decoder
    multi_speaker: bool

    def meta(self) -> dict[str, int | bool]:
        """What the engine must know besides the graphs (stored in caches and bundles)."""
        return {"channels": self.channels, "hop": self.hop, "flow_pad": self.flow_pad,
                "decoder_pad": self.decoder_pad, "multi_speaker": self.multi_speaker}

    @classmethod
    def from_meta(cls, latent: Graph, flow: Graph, decoder: Graph, meta: dict) -> "SplitVoice":
        return cls(latent=latent, flow=flow, decoder=decoder, channels=int(meta["channels"]),
                   hop=int(meta["hop"]), flow_pad=int(meta["flow_pad"]), decoder_pad=int(meta["decoder_pad"]),
                   multi_speaker=bool(meta["multi_speaker"]))


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


def _receptive_pad(run, length: int, channels: int, hop: int) -> int:
    """Frames either side of a frame that an output frame depends on, measured by
    perturbing the middle frame and seeing how far the output changes."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, channels, length)).astype(np.float32)
    base = run(x)
    mid = length // 2
    x[:, :, mid] += 3.0 * rng.standard_normal(channels).astype(np.float32)
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
    ident = f"{SPLIT_FORMAT}:{model_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _save_atomic(model, path: Path) -> None:
    import onnx

    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _split(model_path: Path, out: Path) -> None:
    """Write latent/flow/decoder.onnx and meta.json for `model_path` into `out`."""
    import onnx
    import onnxruntime as ort
    from onnx.utils import Extractor

    try:
        model = onnx.load(str(model_path))
    except Exception as exc:  # onnx raises DecodeError, ValueError, OSError...
        raise VoiceError(f"voice model {model_path} is not a readable ONNX file: {exc}") from exc
    z_p, y_mask, z = _split_points(model)
    known = {v.name for v in model.graph.value_info}
    if not {z_p, y_mask, z} <= known:
        # The extractor needs the shapes of the tensors it cuts at; Piper's own exports
        # carry them, a fresh torch export may not.
        model = onnx.shape_inference.infer_shapes(model)
    inputs = [i.name for i in model.graph.input]
    sid = ["sid"] if "sid" in inputs else []
    extractor = Extractor(model)
    parts = {
        "latent": extractor.extract_model([i for i in inputs], [z_p, y_mask]),
        "flow": extractor.extract_model([z_p, y_mask, *sid], [z]),
        "decoder": extractor.extract_model([z, *sid], [model.graph.output[0].name]),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        _save_atomic(part, out / f"{name}.onnx")

    options = ort.SessionOptions()
    options.log_severity_level = 3
    flow = ort.InferenceSession(str(out / "flow.onnx"), options, providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(str(out / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
    channels = _latent_channels(parts["decoder"])
    sid_feed = {"sid": np.zeros(1, dtype=np.int64)} if sid else {}
    probe = 160

    def run_flow(x: np.ndarray) -> np.ndarray:
        mask = np.ones((1, 1, x.shape[2]), np.float32)
        return flow.run(None, {z_p: x, y_mask: mask, **sid_feed})[0]

    def run_decoder(x: np.ndarray) -> np.ndarray:
        return decoder.run(None, {z: x, **sid_feed})[0]

    hop = run_decoder(np.zeros((1, channels, 4), np.float32)).size // 4
    meta = {
        "format": SPLIT_FORMAT,
        "z_p": z_p,
        "y_mask": y_mask,
        "z": z,
        "channels": channels,
        "hop": hop,
        "flow_pad": _receptive_pad(run_flow, probe, channels, 1),
        "decoder_pad": _receptive_pad(run_decoder, probe, channels, hop),
        "multi_speaker": bool(sid),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))


def _latent_channels(decoder_model) -> int:
    conv = next(n for n in decoder_model.graph.node if n.op_type == "Conv")
    weight = next(i for i in decoder_model.graph.initializer if i.name == conv.input[1])
    return int(weight.dims[1])


def _load(folder: Path) -> SplitVoice:
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != SPLIT_FORMAT:
        raise ValueError("old split format")
    return SplitVoice.from_meta(folder / "latent.onnx", folder / "flow.onnx", folder / "decoder.onnx", meta)


def split_voice(model_path: Path, cache: Path) -> SplitVoice:
    """The split graphs for `model_path`, made once and then read from `cache`."""
    if not model_path.is_file():
        raise VoiceError(f"voice model {model_path} does not exist")
    folder = cache / "voices" / _cache_key(model_path)
    try:
        return _load(folder)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        pass
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Build in a scratch folder and rename, so a crash never leaves half a cache entry.
        scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
        try:
            _split(model_path, scratch)
        except VoiceError:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        except Exception as exc:  # onnx and onnxruntime raise many types for a bad graph
            shutil.rmtree(scratch, ignore_errors=True)
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise VoiceError(f"voice model {model_path} cannot be split for streaming: {first}") from exc
        except BaseException:  # Ctrl-C: leave no scratch folder behind
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        try:
            os.replace(scratch, folder)
        except OSError:  # another process won the race; use its copy
            shutil.rmtree(scratch, ignore_errors=True)
        return _load(folder)
    except OSError as exc:
        raise VoiceError(f"cannot write the voice cache in {cache}: {exc}") from exc

