"""Upsampling layers as ordinary convolutions, so that INT8 runs them as INT8.

onnxruntime's QDQ fusion has no rule for ConvTranspose: a quantized upsampler runs as
DequantizeLinear -> float ConvTranspose -> QuantizeLinear (measured: 18 % of the balanced
decoder's time, 29 % of the all-INT8 one's). A ConvTranspose of stride s is the interleave of s
ordinary convolutions, one per output phase (its polyphase form), which do not multiply the
zeros a transposed convolution inserts between input samples. For HiFi-GAN's upsamplers
(kernel 2s, padding s/2) each phase is a two-tap convolution:

    y[q*s + r - p] = W[r] x[q] + W[r+s] x[q-1] + b      for r in 0..s-1

so the layer becomes one Conv with s times the output channels (kernel 2, one frame of left and
right padding), a Reshape/Transpose/Reshape that interleaves the phases, and a Slice that drops
the padding: the same numbers, and a Conv that quantization turns into QLinearConv.
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _rewritable(node: onnx.NodeProto, weight: np.ndarray) -> bool:
    a = _attributes(node)
    (stride,) = a.get("strides", [1])
    (kernel,) = a.get("kernel_shape", [weight.shape[2]])
    pads = a.get("pads", [0, 0])
    return (weight.ndim == 3 and a.get("group", 1) == 1 and list(a.get("dilations", [1])) == [1]
            and not a.get("output_padding") and not a.get("output_shape") and stride > 1 and kernel == 2 * stride
            and stride % 2 == 0 and list(pads) == [stride // 2, stride // 2])


def rewrite(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Replace every HiFi-GAN-shaped 1-D ConvTranspose of `model` by its polyphase form, in place.
    Returns, for each node replaced, the names of the nodes that replace it."""
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    made: dict[str, list[str]] = {}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        weight_init = initializers.get(node.input[1]) if node.op_type == "ConvTranspose" else None
        if weight_init is None or not _rewritable(node, numpy_helper.to_array(weight_init)):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(weight_init)  # (in, out, 2s)
        c_in, c_out, kernel = weight.shape
        stride, pad = kernel // 2, kernel // 4
        # Conv weight (s*out, in, 2): phase r, channel c takes taps [W[r+s], W[r]] (x[q-1], x[q]).
        phases = np.stack([np.stack([weight[:, :, r + stride], weight[:, :, r]], axis=-1) for r in range(stride)])
        conv_weight = phases.transpose(0, 2, 1, 3).reshape(stride * c_out, c_in, 2).astype(weight.dtype)
        name = node.name or node.output[0]
        inputs = [node.input[0], f"{name}/polyphase_weight"]
        graph.initializer.append(numpy_helper.from_array(conv_weight, inputs[1]))
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(initializers[node.input[2]])
            inputs.append(f"{name}/polyphase_bias")
            graph.initializer.append(numpy_helper.from_array(np.tile(bias, stride).astype(bias.dtype), inputs[2]))
        shape_split = f"{name}/polyphase_split_shape"
        shape_join = f"{name}/polyphase_join_shape"
        graph.initializer.append(numpy_helper.from_array(np.array([0, stride, c_out, -1], np.int64), shape_split))
        graph.initializer.append(numpy_helper.from_array(np.array([0, c_out, -1], np.int64), shape_join))
        starts, ends, axes = (f"{name}/polyphase_{k}" for k in ("starts", "ends", "axes"))
        graph.initializer.append(numpy_helper.from_array(np.array([pad], np.int64), starts))
        # Up to p samples before the end of the interleaved (L+1)*s: the output is L*s long.
        graph.initializer.append(numpy_helper.from_array(np.array([-(stride - pad)], np.int64), ends))
        graph.initializer.append(numpy_helper.from_array(np.array([2], np.int64), axes))
        t = [f"{name}/polyphase_{k}" for k in ("phases", "split", "interleaved", "joined")]
        new = [
            helper.make_node("Conv", inputs, [t[0]], name=f"{name}/polyphase_conv", kernel_shape=[2], pads=[1, 1]),
            helper.make_node("Reshape", [t[0], shape_split], [t[1]], name=f"{name}/polyphase_split"),
            helper.make_node("Transpose", [t[1]], [t[2]], name=f"{name}/polyphase_interleave", perm=[0, 2, 3, 1]),
            helper.make_node("Reshape", [t[2], shape_join], [t[3]], name=f"{name}/polyphase_join"),
            helper.make_node("Slice", [t[3], starts, ends, axes], [node.output[0]], name=f"{name}/polyphase_crop"),
        ]
        nodes += new
        made[node.name] = [n.name for n in new]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return made
