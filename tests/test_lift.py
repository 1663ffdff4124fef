"""The decoder's audio-rate stage in 2-D form (prepare/lift.py): the same numbers, fewer passes."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesay.prepare.lift import LENGTH, lift

START = "/dec/ups.1/ConvTranspose_output_0"


def stage(per_channel_scale: bool) -> onnx.ModelProto:
    """x -> ConvTranspose (the 'last upsampler') -> two residual blocks -> mean -> conv_post -> tanh,
    and, if asked, a Mul by a per-channel tensor (which must stay 3-D) before the output."""
    rng = np.random.default_rng(3)
    channels = 8
    inits = [numpy_helper.from_array((rng.standard_normal((channels, channels, 4)) * 0.3).astype(np.float32), "up"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two")]
    nodes = [helper.make_node("ConvTranspose", ["x", "up"], [START], strides=[2], pads=[1, 1], kernel_shape=[4])]
    outs = []
    for b, (k, d) in enumerate([(3, 1), (5, 3)]):
        weight = (rng.standard_normal((channels, channels, k)) * 0.2).astype(np.float32)
        inits += [numpy_helper.from_array(weight, f"w{b}"),
                  numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32), f"b{b}")]
        nodes += [helper.make_node("LeakyRelu", [START], [f"l{b}"], alpha=0.1),
                  helper.make_node("Conv", [f"l{b}", f"w{b}", f"b{b}"], [f"c{b}"], kernel_shape=[k], dilations=[d],
                                   pads=[d * (k - 1) // 2] * 2),
                  helper.make_node("Add", [f"c{b}", START], [f"r{b}"])]
        outs.append(f"r{b}")
    inits.append(numpy_helper.from_array((rng.standard_normal((1, channels, 7)) * 0.2).astype(np.float32), "post"))
    nodes += [helper.make_node("Add", outs, ["sum"]), helper.make_node("Div", ["sum", "two"], ["mean"]),
              helper.make_node("Conv", ["mean", "post"], ["p"], kernel_shape=[7], pads=[3, 3]),
              helper.make_node("Tanh", ["p"], ["y" if not per_channel_scale else "t"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if per_channel_scale:
        inits.append(numpy_helper.from_array(rng.standard_normal((channels, 1)).astype(np.float32), "scale"))
        nodes.append(helper.make_node("Mul", ["mean", "scale"], ["scaled"]))
        nodes.append(helper.make_node("Add", ["t", "scaled"], ["y"]))
    source = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, None])
    graph = helper.make_graph(nodes, "stage", [source], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("per_channel_scale", [False, True])
def test_the_stage_in_2d_form_computes_the_same(per_channel_scale: bool) -> None:
    model = stage(per_channel_scale)
    x = np.random.default_rng(0).standard_normal((1, 8, 300)).astype(np.float32)
    before = run(model, x)
    assert lift(model) == 3  # two residual convolutions and conv_post
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("Unsqueeze") == 1 and ops.count("Squeeze") == (2 if per_channel_scale else 1)
    # The per-channel Mul would broadcast differently in 4-D: it reads the stage through a Squeeze.
    assert all(node.op_type != "Mul" or not node.input[0].endswith("_2d") for node in model.graph.node)
    # Every tensor of the stage is declared 4-D with one named length: onnxruntime fuses a Conv
    # with its Add only when it can see that the shapes match (on aarch64: FusedConv).
    shapes = {info.name: [d.dim_value or d.dim_param for d in info.type.tensor_type.shape.dim]
              for info in model.graph.value_info}
    lifted = {name for node in model.graph.node for name in node.output if name.endswith("_2d")}
    assert lifted and all(shapes[name][2:] == [1, LENGTH] for name in lifted)
    after = run(model, x)
    assert after.shape == before.shape
    assert np.abs(after - before).max() < 1e-5


def test_a_graph_without_an_upsampler_is_left_alone() -> None:
    model = stage(False)
    model.graph.node[0].output[0] = "/dec/other"
    for node in model.graph.node[1:]:
        node.input[:] = ["/dec/other" if name == START else name for name in node.input]
    assert lift(model) == 0


def test_prepared_levels_lift_their_float_stage(default_bundle) -> None:  # type: ignore[no-untyped-def]
    from edgesay.loading.store import load_level
    from edgesay.voice.files import VoiceFiles
    from edgesay.voice.graphs import StoredGraph

    for quality, lifted in (("reference", True), ("balanced", True), ("fast", False)):
        graph = load_level(VoiceFiles.from_model(default_bundle), quality).split.decoder_tail
        assert isinstance(graph, StoredGraph), quality  # from the prepared bundle
        tail = onnx.load_from_string(graph.read())
        names = {node.name for node in tail.graph.node}
        assert ("edgesay_lift_enter" in names) == lifted, quality
