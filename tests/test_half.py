"""The balanced-fp16 level: its tail's and latent graph's convolutions in FP16 (voice/half.py), and the CPUs it is
the default on (system/cpu.py, voice/levels.py). This machine has no FP16 convolution kernel, so
onnxruntime runs the FP16 graphs here through casts: the numbers are FP16's, the speed is not
(that is counted under qemu: bench/arm.py)."""

import platform
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesay import Engine, VoiceFiles
from edgesay.system import cpu
from edgesay.voice import levels
from edgesay.voice.bundle import Bundle
from edgesay.voice.half import half_convolutions
from edgesay.voice.levels import default_for


def conv_graph(channels: int, kernel: int, dilation: int, lifted: bool, seed: int) -> bytes:
    """One convolution as Piper's residual blocks have them: 'same' padding, dilated along time."""
    rng = np.random.default_rng(seed)
    shape = [channels, channels, 1, kernel] if lifted else [channels, channels, kernel]
    pad = dilation * (kernel - 1) // 2
    attributes = {"kernel_shape": shape[2:], "dilations": [1, dilation] if lifted else [dilation],
                  "pads": [0, pad, 0, pad] if lifted else [pad, pad]}
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attributes)  # type: ignore[arg-type]
    dims: list[int | str] = [1, channels, 1, "T"] if lifted else [1, channels, "T"]
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)],
        [numpy_helper.from_array(rng.normal(0, 0.2, shape).astype(np.float32), "w"),
         numpy_helper.from_array(rng.normal(0, 0.1, channels).astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    return model.SerializeToString()


def run(graph: bytes, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize(("kernel", "dilation", "lifted"), [(3, 2, True), (5, 6, True), (7, 12, True), (7, 3, False),
                                                            (11, 5, False), (3, 1, True)])
def test_a_folded_fp16_convolution_computes_the_dilated_one(kernel: int, dilation: int, lifted: bool) -> None:
    graph = conv_graph(8, kernel, dilation, lifted, seed=kernel * dilation)
    half = half_convolutions(graph)
    convs = [n for n in onnx.load_from_string(half).graph.node if n.op_type == "Conv"]
    assert len(convs) == 1 and all(helper.get_attribute_value(a) == [1, 1] for a in convs[0].attribute
                                   if a.name == "dilations")
    rng = np.random.default_rng(1)
    # Lengths shorter than, equal to and not a multiple of the dilation: the padding must be exact.
    for length in (1, dilation, 2 * dilation + 1, 97, 1000):
        x = rng.normal(0, 1, (1, 8, 1, length) if lifted else (1, 8, length)).astype(np.float32)
        want, got = run(graph, x), run(half, x)
        assert got.shape == want.shape
        # FP16 weights, inputs and outputs: within a few of FP16's steps of the largest value.
        assert np.abs(got - want).max() <= 4e-3 * np.abs(want).max(), (length, np.abs(got - want).max())


def test_the_real_tail_runs_its_float_convolutions_in_fp16_and_undilated(default_bundle: Path) -> None:
    bundle = Bundle.read(default_bundle)
    tail = onnx.load_from_string(bundle.part("decoder_tail.mixed16.onnx"))
    mixed = onnx.load_from_string(bundle.part("decoder_tail.mixed.onnx"))
    weights = {t.name: t.data_type for t in tail.graph.initializer}
    convs = [n for n in tail.graph.node if n.op_type in ("Conv", "FusedConv")]
    float_convs = [n for n in mixed.graph.node if n.op_type in ("Conv", "FusedConv")]
    assert len(convs) == len(float_convs) >= 8  # the audio-rate stage: upsampler, 3 blocks of 2, conv_post
    *fp16, post = convs  # conv_post, which writes the samples, stays FP32
    assert all(weights[n.input[1]] == TensorProto.FLOAT16 for n in fp16) and weights[post.input[1]] == TensorProto.FLOAT
    for node in fp16:  # onnxruntime's NHWC FP16 kernel takes undilated convolutions only
        dilations = [helper.get_attribute_value(a) for a in node.attribute if a.name == "dilations"]
        assert all(d == 1 for ds in dilations for d in ds), node.name
    assert sum(n.op_type == "QLinearConv" for n in tail.graph.node) == \
        sum(n.op_type == "QLinearConv" for n in mixed.graph.node)


def test_the_real_latent_graph_is_made_with_its_convolutions_in_fp16(default_bundle: Path) -> None:
    """balanced-fp16's latent graph: made from the FP32 one when loaded, so the bundle (and the
    binary's embedded voice) stores no second copy of its weights."""
    bundle = Bundle.read(default_bundle)
    name = bundle.levels["balanced-fp16"].latent
    assert bundle._entries[name]["stored"] == 0 and bundle._entries[name]["made_from"] == "latent.fp32.onnx"
    latent = onnx.load_from_string(bundle.part(name))
    weights = {t.name: t.data_type for t in latent.graph.initializer}
    convs = [n for n in latent.graph.node if n.op_type in ("Conv", "FusedConv")]
    assert len(convs) >= 60 and all(weights[n.input[1]] == TensorProto.FLOAT16 for n in convs)
    assert bundle.levels["balanced"].latent == "latent.fp32.onnx"


def test_balanced_fp16_speaks_as_well_as_balanced(default_bundle: Path) -> None:
    """FP16 rounding only, against FP32 as heard; in the latent graph it moves a duration by a
    frame here and there, so the speech is compared after alignment, as the quality bar is."""
    from conftest import speak
    from edgesay.dsp.metrics import compare

    text = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
    speech = {}
    for quality in ("reference", "balanced", "balanced-fp16"):
        engine = Engine.load(VoiceFiles.from_model(default_bundle), threads=1, quality=quality)
        speech[quality] = speak(engine, text, noise_scale=0.0, noise_w=0.0).astype(np.float32) / 32767
    fp32, balanced, fp16 = speech["reference"], speech["balanced"], speech["balanced-fp16"]
    assert len(fp32) > 3 * 22050 and abs(len(fp16) - len(fp32)) <= 0.02 * len(fp32)
    was, now = compare(fp32, balanced, 22050), compare(fp32, fp16, 22050)
    assert now.log_mel_l1 <= was.log_mel_l1 + 0.02 and now.silent_rise_db <= was.silent_rise_db + 0.5, (was, now)


def test_the_default_level_follows_the_cpu() -> None:
    every = levels.NAMES
    assert default_for(frozenset({"fphp", "asimdhp", "asimddp"}), every, "balanced") == "balanced-fp16"
    assert default_for(frozenset({"asimddp"}), every, "balanced") == "balanced"  # dot products only: no FP16
    assert default_for(frozenset(), every, "balanced") == "balanced"
    # A voice prepared without the level keeps its own default.
    assert default_for(frozenset({"asimdhp"}), ("fast", "balanced"), "balanced") == "balanced"


def test_cpu_features_come_from_hwcap_bits() -> None:
    a76 = (1 << 9) | (1 << 10) | (1 << 20) | 0xFF  # and bits edgesay does not name
    assert cpu.features_from(a76, "aarch64") == {"fphp", "asimdhp", "asimddp"}
    assert cpu.features_from(0x1F, "aarch64") == frozenset()  # a Cortex-A72: fp asimd evtstrm aes pmull
    assert cpu.features_from(a76, "x86_64") == frozenset()  # the same bits mean other things there
    if platform.machine() == "x86_64":
        assert cpu.features() == frozenset()


def test_a_bundle_speaks_at_its_cpus_default(default_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = Bundle.read(default_bundle)
    monkeypatch.setattr(cpu, "features", lambda: frozenset({"asimdhp"}))
    assert bundle.level().quality == "balanced-fp16"
    assert bundle.level("balanced").quality == "balanced"  # asked for, always given
    monkeypatch.setattr(cpu, "features", lambda: frozenset())
    assert bundle.level().quality == "balanced"
