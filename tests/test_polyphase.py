"""Upsamplers in polyphase form (prepare/polyphase.py): the same numbers, and a graph whose
quantization runs them as INT8 convolutions."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesay.prepare import polyphase
from edgesay.prepare.pipeline import quantized_decoder_graph
from edgesay.prepare.quantize import decoder_last_stage
from edgesay.prepare.split import split_voice
from edgesay.voice.levels import MIXED

TINY = Path(__file__).parent / "data" / "tiny-multi.onnx"


def _upsampler(c_in: int, c_out: int, stride: int, kernel: int, pads: int, bias: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(stride * 100 + kernel)
    inits = [numpy_helper.from_array(rng.standard_normal((c_in, c_out, kernel)).astype(np.float32), "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="up", strides=[stride], kernel_shape=[kernel],
                            pads=[pads, pads])
    graph = helper.make_graph([node], "up", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c_in, None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c_out, None])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize(("stride", "bias"), [(8, True), (4, False), (2, True)])
def test_polyphase_form_gives_the_same_output(stride: int, bias: bool) -> None:
    model = _upsampler(6, 5, stride, 2 * stride, stride // 2, bias)
    x = np.random.default_rng(1).standard_normal((1, 6, 37)).astype(np.float32)
    expected = _run(model, x)
    replaced = polyphase.rewrite(model)
    assert list(replaced) == ["up"] and all(n.op_type != "ConvTranspose" for n in model.graph.node)
    assert {i.name for i in model.graph.initializer}.isdisjoint({"w", "b"})  # the old weights are gone
    got = _run(model, x)
    assert got.shape == expected.shape == (1, 5, 37 * stride)
    assert np.abs(got - expected).max() < 1e-4


def test_other_transposed_convolutions_are_left_alone() -> None:
    model = _upsampler(4, 4, 2, 3, 0, True)  # kernel not twice the stride
    assert polyphase.rewrite(model) == {} and model.graph.node[0].op_type == "ConvTranspose"


def test_quantized_decoders_start_from_the_polyphase_graph(tmp_path: Path) -> None:
    decoder = Path(split_voice(TINY, tmp_path).decoder).read_bytes()  # type: ignore[arg-type]
    last_stage = decoder_last_stage(onnx.load_from_string(decoder))
    graph, plans = quantized_decoder_graph(decoder)
    nodes = onnx.load_from_string(graph).graph.node
    assert not [n for n in nodes if n.op_type == "ConvTranspose"]
    kept_float = set(plans[MIXED].exclude)
    # The mixed level keeps the last upsampler (now its polyphase nodes) and what follows in FP32.
    last_up = next(name for name in last_stage if "ups" in name and name.endswith("ConvTranspose"))
    assert last_up not in kept_float
    assert {n.name for n in nodes if n.name.startswith(last_up + "/polyphase")} <= kept_float
    assert {n.name for n in nodes} >= kept_float
