"""The decoder's audio-rate stage in 2-D form, so that onnxruntime fuses its residual additions.

After the last upsampler a HiFi-GAN decoder is residual blocks at the audio rate (LeakyRelu ->
Conv1d -> Add), and each Add is a whole pass over the voice's largest tensors. onnxruntime fuses
an Add into the convolution before it only for 4-D tensors, so the stage is rewritten with one
more axis of size 1: (1, C, T) -> (1, C, 1, T), each Conv1d kernel k as a (1, k) Conv2d, the same
numbers. One Unsqueeze enters the stage and a Squeeze leaves it, and its tensors are declared with
one named length (the fusion needs to see that an Add's operands have equal shapes).

Only a stage made of convolutions and elementwise operations with scalar operands is rewritten
(the FP32 stage of `reference` and `balanced`); anything else (the all-INT8 stage of `fast`, an
unknown architecture) is left as it is. What it gains: docs/design/2026-12-02-threads.md.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Operations whose meaning does not change with one more axis of size 1 (their other operands
# being scalars), and the convolution, whose attributes gain that axis.
ELEMENTWISE = {"LeakyRelu", "Relu", "Tanh", "Add", "Sub", "Mul", "Div"}
CONV = "Conv"
AXIS = 2  # the new axis: (1, C, T) -> (1, C, 1, T)
LENGTH = "edgesay_stage_samples"  # the stage's length, one symbol for all its tensors


def last_upsampler_output(graph: onnx.GraphProto) -> str | None:
    """The tensor the last upsampler writes: Piper's decoders name it /dec/ups.N/ConvTranspose_output_0
    (in the polyphase form too, whose last node keeps that name)."""
    made = {out for node in graph.node for out in node.output}
    names = [name for name in made if name.startswith("/dec/ups.") and name.endswith("/ConvTranspose_output_0")]
    if not names:
        return None
    return max(names, key=lambda name: int(name.split("/")[2].split(".")[1]))


def lift(model: onnx.ModelProto) -> int:
    """Rewrite, in place, the stage after the last upsampler in 2-D form. Returns how many
    convolutions it holds (0: nothing was rewritten).

    A node joins the stage once every input it takes from the stage is there and its other
    inputs are scalars (a convolution: its own weights); anything else reads the stage through
    a Squeeze, so the rewrite never changes what the graph computes."""
    graph = model.graph
    start = last_upsampler_output(graph)
    if start is None:
        return 0
    initializers = {i.name: i for i in graph.initializer}
    constants = {node.output[0]: node for node in graph.node if node.op_type == "Constant"}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    region: list[onnx.NodeProto] = []
    inside = {start}  # tensors in 2-D form
    for node in graph.node:  # in topological order, so a node's inputs are settled before it
        if node.op_type == CONV:
            data, weight, *bias = node.input
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            joins = (data in inside and weight in initializers and len(initializers[weight].dims) == 3
                     and uses[weight] == 1 and all(name in initializers for name in bias if name)
                     and attributes.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))
        elif node.op_type in ELEMENTWISE:
            joins = any(name in inside for name in node.input) and all(
                name in inside or _scalar(name, initializers, constants) for name in node.input if name)
        else:
            joins = False
        if joins:
            region.append(node)
            inside.update(node.output)
    if not any(node.op_type == CONV for node in region):
        return 0
    _rewrite(graph, start, region, inside, initializers)
    return sum(node.op_type == CONV for node in region)


def _scalar(name: str, initializers: dict, constants: dict) -> bool:
    if name in initializers:
        return int(np.prod(initializers[name].dims)) == 1
    if name in constants:
        value = helper.get_attribute_value(constants[name].attribute[0])
        return isinstance(value, onnx.TensorProto) and int(np.prod(value.dims)) == 1
    return False


def _rewrite(graph: onnx.GraphProto, start: str, region: list[onnx.NodeProto], inside: set[str],
             initializers: dict) -> None:
    lifted = {name: f"{name}_2d" for name in inside}
    axes = numpy_helper.from_array(np.array([AXIS], np.int64), "edgesay_lift_axes")
    graph.initializer.append(axes)
    enter = helper.make_node("Unsqueeze", [start, axes.name], [lifted[start]], name="edgesay_lift_enter")
    in_region = {id(node) for node in region}
    leaving = {name for name in inside if name != start and (
        any(name in node.input for node in graph.node if id(node) not in in_region)
        or any(name == output.name for output in graph.output))}
    for node in region:
        for i, name in enumerate(node.input):
            if name in lifted:
                node.input[i] = lifted[name]
        for i, name in enumerate(node.output):
            node.output[i] = lifted[name]
        if node.op_type == CONV:
            _conv_2d(node, initializers)
    leave = {lifted[name]: helper.make_node("Squeeze", [lifted[name], axes.name], [name],
                                            name=f"edgesay_lift_leave_{n}")
             for n, name in enumerate(sorted(leaving))}
    # In topological order: the Unsqueeze after the node that makes `start` (first, if `start`
    # is a graph input), each Squeeze after the node that makes what it reads.
    nodes: list[onnx.NodeProto] = [enter] if any(start == i.name for i in graph.input) else []
    for node in graph.node:
        nodes.append(node)
        if start in node.output:
            nodes.append(enter)
        nodes.extend(leave[name] for name in node.output if name in leave)
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [info for info in graph.value_info if info.name not in inside]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    # onnxruntime fuses a Conv with its Add only when both operands' shapes are known to match,
    # dimension by dimension: the stage's length is not known before a run, so every tensor of
    # the stage is declared with one named length (they are all the same length).
    first_conv = next(node for node in region if node.op_type == CONV)
    channels = {lifted[start]: initializers[first_conv.input[1]].dims[1]}
    for node in region:
        if node.op_type == CONV:
            made = initializers[node.input[1]].dims[0]
        else:
            made = next(channels[name] for name in node.input if name in channels)
        channels.update({name: made for name in node.output})
    graph.value_info.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, count, 1, LENGTH])
                            for name, count in channels.items())


def _conv_2d(node: onnx.NodeProto, initializers: dict) -> None:
    weight = initializers[node.input[1]]
    array = numpy_helper.to_array(weight)
    weight.CopyFrom(numpy_helper.from_array(array[:, :, None, :], weight.name))
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    del node.attribute[:]
    for name, value in attributes.items():
        if name == "kernel_shape" or name in ("dilations", "strides"):
            value = [1, *value]
        elif name == "pads":
            value = [0, value[0], 0, value[1]]
        node.attribute.append(helper.make_attribute(name, value))


def lift_graph(graph: bytes) -> bytes:
    """`lift` on serialized graph bytes (unchanged bytes if there is nothing to lift)."""
    model = onnx.load_from_string(graph)
    return model.SerializeToString() if lift(model) else graph
