"""The latent graph as the engine runs it (prepare/latent.py): lighter, and the same frames."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesay.prepare import pipeline
from edgesay.prepare.latent import NOISELESS, Lighter, declare_opset, lighter_graph, probe_ids, same_outputs
from edgesay.prepare.optimize import optimize
from edgesay.prepare.split import split_voice
from edgesay.runtime.sessions import open_session, session_options
from edgesay.runtime.streaming import Latent
from edgesay.system import paths
from edgesay.voice.config import VoiceConfig

DATA = Path(__file__).parent / "data"
TINY = ["tiny-multi", "tiny-x_low", "tiny-high"]


def exported(name: str, cache: Path) -> tuple[bytes, VoiceConfig]:
    model = DATA / f"{name}.onnx"
    split = split_voice(model, cache)
    return Path(split.latent).read_bytes(), VoiceConfig.from_file(model.with_suffix(".onnx.json"))


def ops(graph: bytes) -> list[str]:
    return [node.op_type for node in onnx.load_from_string(graph).graph.node]


@pytest.mark.parametrize("name", TINY)
def test_every_architecture_loses_its_masks_and_fuses_its_layer_norms(name: str, tmp_path: Path) -> None:
    graph, config = exported(name, tmp_path)
    lighter = lighter_graph(graph)
    assert lighter.removed.muls > 0 and lighter.removed.wheres > 0 and lighter.removed.pads > 0
    assert lighter.opset
    assert len(ops(optimize(lighter.graph))) < len(ops(optimize(graph)))
    assert "LayerNormalization" in ops(optimize(lighter.graph)) and "LayerNormalization" not in ops(optimize(graph))
    # every speaker, noise 0: the same frames
    assert same_outputs(optimize(graph), optimize(lighter.graph), probe_ids(config.phoneme_id_map.values()),
                        config.num_speakers)


def perturbed(graph: bytes) -> bytes:
    """The graph with one layer norm's scale 1 % larger: still a valid graph, other frames."""
    model = onnx.load_from_string(graph)
    gamma = next(init for init in model.graph.initializer if init.name.endswith("gamma"))
    gamma.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(gamma) * 1.01, gamma.name))
    return model.SerializeToString()


def test_the_check_sees_a_graph_that_computes_something_else(tmp_path: Path) -> None:
    graph, config = exported("tiny-x_low", tmp_path)
    assert not same_outputs(graph, perturbed(lighter_graph(graph).graph), probe_ids(config.phoneme_id_map.values()),
                            config.num_speakers)


def test_a_lighter_graph_that_differs_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph, config = exported("tiny-multi", tmp_path)
    real = lighter_graph(graph)
    monkeypatch.setattr(pipeline, "lighter_graph", lambda _: Lighter(perturbed(real.graph), real.removed, real.opset))
    made, notes = pipeline.latent_graph(graph, config)
    assert made == optimize(graph) and notes["latent"].startswith("as exported")
    monkeypatch.undo()
    made, notes = pipeline.latent_graph(graph, config)
    assert "LayerNormalization" in ops(made) and notes["latent"].startswith("one sentence per run")


def one_op(op_type: str) -> onnx.ModelProto:
    inputs = {"Where": ["c", "x", "x"], "RoiAlign": ["x", "x", "c"]}[op_type]
    node = helper.make_node(op_type, inputs, ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [2]),
                                            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def test_opset_17_is_declared_only_where_no_operation_changes_meaning() -> None:
    unchanged, changed = one_op("Where"), one_op("RoiAlign")  # RoiAlign 16: another default mode
    assert declare_opset(unchanged) and unchanged.opset_import[0].version == 17
    assert not declare_opset(changed) and changed.opset_import[0].version == 15


def test_the_default_voice_bundle_gives_the_exported_graph_frames(cache_dir: Path, default_bundle: Path,
                                                                  eval_sentences: list[str]) -> None:
    """The real voice, the real sentences: the bundle's latent graph against the one Piper
    exported, noise 0, every shared sentence."""
    from edgesay.text.espeak import Espeak
    from edgesay.voice.bundle import Bundle

    model, config_path = paths.default_voice()
    config = VoiceConfig.from_file(config_path)
    bundle = Bundle.read(default_bundle)
    assert bundle.notes["latent"].startswith("one sentence per run")
    options = session_options(2)
    ours = Latent(open_session(bundle.part(bundle.levels[bundle.default].latent), options))
    theirs = Latent(open_session(split_voice(model, paths.cache_dir()).latent, options))
    frontend = config.frontend(Espeak.installed())
    ids = [frontend.sentence_ids(s) for line in eval_sentences for s in frontend.sentences(line)]
    assert len(ids) >= 10
    for sentence in ids:
        a, b = ours.run(sentence, NOISELESS, None), theirs.run(sentence, NOISELESS, None)
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-4)
