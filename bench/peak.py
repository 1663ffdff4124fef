"""How close each quality level runs to what this machine can do.

1. Multiply-accumulates per second of audio, counted on the graphs as they run: each level
   synthesizes the shared sentences with onnxruntime's profiler on (graph optimizations at
   "basic", so that nodes keep their ONNX shapes), and every Conv, ConvTranspose, MatMul and
   Gemm, FP32 or INT8 (QLinear*, *Integer), is counted from its recorded input and output shapes.
2. The machine's peak for the same kind of work: 1-D convolutions shaped like the voice's
   (512 channels kernel 7, 256 kernel 3, 128 kernel 11), FP32 Conv and INT8 QLinearConv, at
   1 and 2 threads, best run of the best shape, in MAC/s.

"% of peak" for a level is the time its MACs would take at peak (FP32 MACs at the FP32 peak,
INT8 MACs at the INT8 peak) over the time it really takes (bench/int8.py's medians).

    python3 bench/peak.py      # writes bench/results/peak.json
"""

import glob
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgesay.voice.levels import NAMES as LEVEL_NAMES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "eval" / "sentences.txt"
SENTENCES = SHARED if SHARED.is_file() else ROOT / "tests" / "data" / "sentences.txt"
INT8_OPS = {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
SHAPES = ((512, 512, 7, 2048), (256, 256, 3, 8192), (128, 128, 11, 16384))  # in, out channels, kernel, frames


WEIGHT_INPUT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "ConvTranspose": 1,
                "MatMul": 1, "MatMulInteger": 1, "QLinearMatMul": 3, "Gemm": 1, "FusedConv": 1}


def weight_shapes(graphs: list[bytes]) -> dict[str, list[int]]:
    """Node name -> shape of its weight initializer. onnxruntime's profile leaves out inputs it
    pre-packed (most weights), so their shapes come from the graphs themselves."""
    import onnx

    shapes = {}
    for raw in graphs:
        graph = onnx.load_from_string(raw).graph
        inits = {i.name: list(i.dims) for i in graph.initializer}
        for node in graph.node:
            index = WEIGHT_INPUT.get(node.op_type)
            if index is not None and len(node.input) > index and node.input[index] in inits:
                shapes[node.name] = inits[node.input[index]]
    return shapes


def node_macs(op: str, name: str, inputs: list[list[int]], output: list[int],
              weights: dict[str, list[int]]) -> int:
    """Multiply-accumulates of one node run (0 for ops that are not convolutions or products)."""
    weight = weights.get(name)
    if op in ("Conv", "ConvInteger", "QLinearConv", "FusedConv"):
        # weight (out, in per group, kernel...): each output value takes in-per-group x kernel MACs
        return math.prod(output) * math.prod(weight[1:]) if weight else 0
    if op == "ConvTranspose":
        # weight (in, out per group, kernel...): each input value feeds out-per-group x kernel outputs
        return math.prod(inputs[0]) * math.prod(weight[1:]) if weight else 0
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"):
        columns = weight[-1] if weight else output[-1]
        return math.prod(inputs[0]) * columns
    return 0


def _shapes(entries: list[dict]) -> list[list[int]]:
    return [list(next(iter(e.values()))) for e in entries]


def profile_macs(profile: Path, weights: dict[str, list[int]]) -> tuple[int, int]:
    """(FP32 MACs, INT8 MACs) of every node run recorded in an onnxruntime profile."""
    fp32 = int8 = 0
    for event in json.loads(profile.read_text()):
        args = event.get("args", {})
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        op, name = args.get("op_name", ""), event["name"][: -len("_kernel_time")]
        outputs = _shapes(args.get("output_type_shape", []))
        macs = node_macs(op, name, _shapes(args.get("input_type_shape", [])), outputs[0] if outputs else [], weights)
        if op in INT8_OPS:
            int8 += macs
        else:
            fp32 += macs
    return fp32, int8


def level_macs(quality: str, lines: list[str]) -> dict[str, float]:
    """MACs per second of audio of one level, by precision."""
    from edgesay import Engine
    from edgesay.loading.store import load_level, prepare
    from edgesay.voice.graphs import StoredGraph

    prepare(None, quality)
    split = load_level(None, quality).split
    graphs = [g.read() if isinstance(g, StoredGraph) else Path(g).read_bytes() if isinstance(g, Path) else g
              for g in (split.latent, split.flow, split.decoder, split.decoder_tail) if g is not None]
    weights = weight_shapes(graphs)
    with tempfile.TemporaryDirectory(prefix="edgesay-macs-") as scratch:
        os.chdir(scratch)  # profiles are written to the working directory
        try:
            # Profiled sessions run the graphs with basic optimizations, so the profile names their nodes.
            engine = Engine.load(threads=1, quality=quality, warm=False, profile=True)
            samples = sum(chunk.samples.size for text in lines for chunk in engine.synthesize(text))
            sessions = [s for s in (engine.sessions.latent, engine.sessions.flow, engine.sessions.decoder,
                                    engine.sessions.decoder_tail) if s is not None]
            totals = [profile_macs(Path(session.end_profiling()), weights) for session in sessions]
        finally:
            os.chdir(ROOT)
        audio_s = samples / engine.config.sample_rate
    fp32, int8 = sum(t[0] for t in totals), sum(t[1] for t in totals)
    return {"fp32_macs_per_audio_s": fp32 / audio_s, "int8_macs_per_audio_s": int8 / audio_s, "audio_s": audio_s}


def conv_models(shape: tuple[int, int, int, int]) -> tuple[bytes, bytes]:
    """One benchmark convolution as an FP32 Conv and as an INT8 QLinearConv graph."""
    from onnx import TensorProto, helper, numpy_helper

    cin, cout, k, _ = shape
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((cout, cin, k)).astype(np.float32) * 0.05
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, None])
    fp32 = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[k // 2, k // 2])], "conv", [x], [y],
        [numpy_helper.from_array(weight, "w")]), opset_imports=[helper.make_opsetid("", 17)])
    xq = helper.make_tensor_value_info("x", TensorProto.UINT8, [1, cin, None])
    yq = helper.make_tensor_value_info("y", TensorProto.UINT8, [1, cout, None])
    consts = [numpy_helper.from_array(np.array(v, dtype=t), n) for n, v, t in (
        ("xs", 0.02, np.float32), ("xz", 128, np.uint8), ("ws", 0.001, np.float32), ("wz", 0, np.int8),
        ("ys", 0.05, np.float32), ("yz", 128, np.uint8))]
    wq = numpy_helper.from_array(np.clip(np.round(weight / 0.001), -127, 127).astype(np.int8), "wq")
    int8 = helper.make_model(helper.make_graph(
        [helper.make_node("QLinearConv", ["x", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["y"], pads=[k // 2, k // 2])],
        "qconv", [xq], [yq], [*consts, wq]), opset_imports=[helper.make_opsetid("", 17)])
    return fp32.SerializeToString(), int8.SerializeToString()


def conv_peak(model: bytes, shape: tuple[int, int, int, int], dtype: type, threads: int, runs: int = 10) -> float:
    """Best MAC/s of one benchmark convolution."""
    import onnxruntime as ort

    cin, cout, k, frames = shape
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(1).random((1, cin, frames)) * (1 if dtype == np.float32 else 255)).astype(dtype)
    session.run(None, {"x": x})
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, {"x": x})
        best = min(best, time.perf_counter() - started)
    return cout * cin * k * frames / best


def main() -> None:
    lines = [line.strip() for line in SENTENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    models = {shape: conv_models(shape) for shape in SHAPES}
    peaks = {str(t): {"fp32_macs_per_s": max(conv_peak(m[0], shape, np.float32, t) for shape, m in models.items()),
                      "int8_macs_per_s": max(conv_peak(m[1], shape, np.uint8, t) for shape, m in models.items())}
             for t in (1, 2)}
    levels = {}
    for quality in LEVEL_NAMES:
        print(f"peak: counting MACs of {quality}", file=sys.stderr, flush=True)
        levels[quality] = level_macs(quality, lines)
    for stale in glob.glob(str(ROOT / "onnxruntime_profile_*.json")):
        os.unlink(stale)
    RESULTS.mkdir(exist_ok=True)
    report = {"conv_shapes": [dict(zip(("in_channels", "out_channels", "kernel", "frames"), s, strict=True))
                              for s in SHAPES], "peak": peaks, "levels": levels}
    (RESULTS / "peak.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
