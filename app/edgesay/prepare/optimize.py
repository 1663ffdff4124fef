"""Graphs as onnxruntime's portable optimizations leave them, so that loading one skips that work."""

import tempfile
from pathlib import Path

import onnxruntime as ort

from ..runtime.sessions import offline_options, open_session


def optimize(model: bytes, level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED) -> bytes:
    """The graph after onnxruntime's portable (extended) optimizations: QDQ pairs fused into
    QLinear ops, constants folded. The layout passes that depend on the CPU ('all') still run at
    load time, on the device (and are then cached: loading/graph_cache.py). At the basic level,
    only standard operations come out: constants folded, no-ops removed."""
    with tempfile.TemporaryDirectory(prefix="edgesay-optimize-") as scratch:
        out = Path(scratch) / "optimized.onnx"
        open_session(model, offline_options(out, level))
        return out.read_bytes()
