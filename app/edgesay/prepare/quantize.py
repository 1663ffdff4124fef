"""Static INT8 quantization of the split graphs (QDQ, U8 activations, S8 per-channel weights).

Why these choices (docs/design/2026-11-24-int8-decoder.md): S8 activations let few convolutions
fuse into QLinearConv, so nothing is gained; dynamic quantization makes ConvInteger, which
is slower than FP32 on CPU. Activation ranges come from percentile calibration (99.9 %),
which cuts the hiss of the decoder's high-rate layers by about a fifth against min/max. It
needs every calibration tensor to have one shape, which our fixed streaming windows give.
"""

import contextlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

PERCENTILE = 99.9
STRIDE = 8  # calibration windows histogrammed at once: memory, against a little Python per stride


@dataclass(frozen=True)
class Plan:
    """What to quantize in one graph: nodes of `op_types` (None: every type onnxruntime
    can quantize) except those named in `exclude`."""

    exclude: tuple[str, ...] = ()
    op_types: tuple[str, ...] | None = None


def decoder_last_stage(model: onnx.ModelProto) -> tuple[str, ...]:
    """Names of the decoder nodes from the last upsampling stage to the output.

    HiFi-GAN upsamples in stages (ConvTranspose); the last one runs at the audio rate, and
    8-bit activations there are what adds the hiss. Graph order is topological, so
    'everything after the last upsampling' is a suffix of the node list."""
    names = [n.name for n in model.graph.node]
    ups = [i for i, n in enumerate(model.graph.node) if n.op_type == "ConvTranspose"]
    if not ups:
        raise ValueError("the decoder has no upsampling (ConvTranspose) layers")
    start = ups[-1]
    # The activation feeding the last upsampling belongs to it.
    while start > 0 and model.graph.node[start - 1].op_type == "LeakyRelu":
        start -= 1
    return tuple(names[start:])


class _Feeds(CalibrationDataReader):
    """The calibration inputs, one dict per run, read in strides (`set_range`): onnxruntime then
    histograms one stride's activations at a time and merges them, instead of holding every
    activation of every window at once (10.7 GB for the default voice's decoder)."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._feeds = feeds
        self._items = iter(feeds)

    def __len__(self) -> int:
        return len(self._feeds)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._items = iter(self._feeds[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def stride(count: int, most: int = STRIDE) -> int:
    """The largest stride of at most `most` windows that divides `count` (onnxruntime asks that)."""
    return next(n for n in range(min(most, count), 0, -1) if count % n == 0)


def pre_process(source: Path, prepared: Path) -> None:
    """What onnxruntime's `quant_pre_process(skip_symbolic_shape=True)` does to an opset >= 11
    graph: onnxruntime's basic graph optimizations, then ONNX shape inference, and the tag that
    says it was done. Done here because that function's module imports onnxruntime.transformers,
    which finds its own modules by appending to sys.path: a compiled binary has no such folder."""
    optimized = prepared.with_name("optimized.onnx")
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(optimized)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    onnx.shape_inference.infer_shapes_path(str(optimized), str(prepared))
    model = onnx.load(str(prepared))
    props = {"onnx.quant.pre_process": "onnxruntime.quant", **{p.key: p.value for p in model.metadata_props}}
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(prepared))


def quantize(model: bytes, feeds: Sequence[dict[str, np.ndarray]], plans: Sequence[Plan]) -> list[bytes]:
    """QDQ INT8 versions of the ONNX graph `model`, one per plan, calibrated once on `feeds`
    (collecting the activation histograms is most of the time)."""

    with tempfile.TemporaryDirectory(prefix="edgesay-quantize-") as scratch:
        source, prepared, output = (Path(scratch) / name for name in ("in.onnx", "pre.onnx", "out.onnx"))
        ranges = Path(scratch) / "ranges.json"
        source.write_bytes(model)
        pre_process(source, prepared)
        results = []
        # The first plan calibrates every tensor (op types None) and leaves the ranges in
        # the cache file; the others only read them.
        for plan in sorted(plans, key=lambda p: p.op_types is not None):
            # The calibrator print()s its progress: on stdout it would land in `--raw` audio.
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    str(prepared), str(output), _Feeds(feeds),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=list(plan.exclude),
                    op_types_to_quantize=list(plan.op_types) if plan.op_types else None,
                    calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"CalibPercentile": PERCENTILE, "CalibStridedMinMax": stride(len(feeds))},
                    calibration_cache_path=str(ranges),
                )
            results.append((plan, output.read_bytes()))
        return [dict(results)[plan] for plan in plans]
