"""A graph's float convolutions in FP16 (the `balanced-fp16` level's decoder tail and latent graph).

A bundle does not store these graphs: they are made from the FP32 part when loaded (voice/bundle.py,
RECIPES), a rewrite of a fraction of a second and once per machine (loading/graph_cache.py), so that
the binary's embedded voice does not carry a second copy of the latent graph's 7 M weights.

On an ARM CPU with FP16 arithmetic (Pi 5, Orin) onnxruntime runs an FP16 convolution in NHWC
form at 0.53x the instructions of the FP32 one (one 64-channel (1, 7) convolution, counted under
qemu's cortex-a76), but only an undilated one: its NHWC rewrite skips dilated convolutions, and
the NCHW FP16 kernel it leaves them to executes more than FP32 does. Its FP16 elementwise kernels
(Add, LeakyRelu) also execute more than the FP32 ones. So only the convolutions change: each is
cast to FP16 and back, and a convolution dilated by d along time runs undilated over time folded
into (T/d, d) rows, which is the same sum: output t reads inputs t + j*d, that is, row t//d + j
of column t % d. Time is padded with zeros to a multiple of d first (the convolution's own
padding is zeros too, so the samples kept are exact) and cropped after.

The convolution that writes the samples (one output channel: conv_post) stays FP32: in FP16 its
sum of 7 x 32 products is rounded to 11 bits and heard in quiet passages (the default voice's tail
under qemu's cortex-a76, against its FP32 tail: log-mel L1 0.092 with it, 0.023 without), and it
is a hundredth of the stage's work. Everything else keeps its precision. Counted on the default
voice's tail: docs/design/2026-12-06-arm-fp16-tail.md.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONVS = {("", "Conv"), ("com.microsoft", "FusedConv")}


def _attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _foldable(attributes: dict[str, object]) -> int:
    """The dilation along time that folding removes (1: none, or not a case it handles)."""
    dilations = list(attributes.get("dilations") or [1])  # type: ignore[call-overload]
    pads = list(attributes.get("pads") or [])  # type: ignore[call-overload]
    d = dilations[-1]
    half = len(pads) // 2
    plain = (all(x == 1 for x in dilations[:-1]) and attributes.get("group", 1) == 1
             and all(s == 1 for s in attributes.get("strides") or [1])  # type: ignore[attr-defined]
             and attributes.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET") and len(dilations) in (1, 2)
             and all(p == 0 for i, p in enumerate(pads) if i not in (half - 1, len(pads) - 1)))
    return d if d > 1 and plain and pads and all(p % d == 0 for p in (pads[half - 1], pads[-1])) else 1


def half_convolutions(graph: bytes) -> bytes:
    """`graph` with its float convolutions (float weights, no fused sum, more than one output
    channel) run in FP16."""
    model = onnx.load_from_string(graph)
    g = model.graph
    initializers = {t.name: t for t in g.initializer}
    added: dict[str, onnx.TensorProto] = {}

    def constant(name: str, value: np.ndarray) -> str:
        added.setdefault(name, numpy_helper.from_array(value, name))
        return name

    nodes: list[onnx.NodeProto] = []
    for node in g.node:
        weight = initializers.get(node.input[1]) if len(node.input) > 1 else None
        if (node.domain, node.op_type) not in CONVS or weight is None or weight.data_type != TensorProto.FLOAT \
                or len(node.input) > 3 or weight.dims[0] == 1:
            nodes.append(node)
            continue
        attributes = _attributes(node)
        d, rank = _foldable(attributes), len(weight.dims)
        w = numpy_helper.to_array(weight)
        b, x, y = node.name, node.input[0], node.output[0]
        w = w.reshape(*w.shape[:2], -1, 1) if d > 1 else w  # folded: (1, k) or (k,) becomes (k, 1)
        inputs = [constant(f"{node.input[1]}_fp16", w.astype(np.float16))]
        if len(node.input) == 3 and node.input[2]:
            inputs.append(constant(f"{node.input[2]}_fp16", numpy_helper.to_array(initializers[node.input[2]])
                                   .astype(np.float16)))
        source, length = x, f"{b}_T"
        if d > 1:
            pad = constant(f"edgesay_fold_pad_{d}", np.array([d], np.int64))
            fold = constant(f"edgesay_fold_{d}", np.array([0, 0, -1, d], np.int64))
            nodes += [
                helper.make_node("Shape", [x], [length], start=-1, name=f"{b}_length"),
                helper.make_node("Mod", [length, pad], [f"{b}_rest"], name=f"{b}_rest"),
                helper.make_node("Sub", [pad, f"{b}_rest"], [f"{b}_short"], name=f"{b}_short"),
                helper.make_node("Mod", [f"{b}_short", pad], [f"{b}_pad"], name=f"{b}_pad"),
                helper.make_node("Shape", [x], [f"{b}_lead"], end=-1, name=f"{b}_lead"),
                helper.make_node("Concat", [f"{b}_lead", f"{b}_pad"], [f"{b}_zeros_shape"], axis=0,
                                 name=f"{b}_zeros_shape"),
                helper.make_node("Expand", [constant("edgesay_fold_zero", np.zeros(1, np.float32)), f"{b}_zeros_shape"],
                                 [f"{b}_zeros"], name=f"{b}_zeros"),
                helper.make_node("Concat", [x, f"{b}_zeros"], [f"{b}_padded"], axis=-1, name=f"{b}_padded"),
                helper.make_node("Reshape", [f"{b}_padded", fold], [f"{b}_folded"], name=f"{b}_fold"),
            ]
            source = f"{b}_folded"
        nodes.append(helper.make_node("Cast", [source], [f"{b}_in_fp16"], to=TensorProto.FLOAT16, name=f"{b}_in_fp16"))
        conv = helper.make_node(node.op_type, [f"{b}_in_fp16", *inputs], [f"{b}_out_fp16"], name=b, domain=node.domain)
        for a in node.attribute:
            if d == 1 or a.name not in ("dilations", "kernel_shape", "pads", "strides"):
                conv.attribute.append(a)
        if d > 1:
            k, pads = list(attributes["kernel_shape"])[-1], list(attributes["pads"])  # type: ignore[call-overload]
            conv.attribute.extend([helper.make_attribute("dilations", [1, 1]),
                                   helper.make_attribute("kernel_shape", [k, 1]),
                                   helper.make_attribute("pads", [pads[len(pads) // 2 - 1] // d, 0, pads[-1] // d, 0])])
        nodes.append(conv)
        back = f"{b}_out" if d > 1 else y
        nodes.append(helper.make_node("Cast", [f"{b}_out_fp16"], [back], to=TensorProto.FLOAT, name=f"{b}_out_fp32"))
        if d > 1:
            unfold = [0, 0, 1, -1] if rank == 4 else [0, 0, -1]
            nodes += [
                helper.make_node("Reshape", [back, constant(f"edgesay_unfold_{rank}", np.array(unfold, np.int64))],
                                 [f"{b}_unfolded"], name=f"{b}_unfold"),
                helper.make_node("Slice", [f"{b}_unfolded", constant("edgesay_fold_start", np.array([0], np.int64)),
                                           length, constant("edgesay_fold_axis", np.array([-1], np.int64))],
                                 [y], name=f"{b}_crop"),
            ]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(added.values())
    used = {name for node in g.node for name in node.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    return model.SerializeToString()
