"""A multi-speaker 16 kHz voice (tests/data/tiny-multi.onnx, random weights, made by
tests/data/make_tiny_voice.py): speakers, sample rate and streaming equivalence."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf

from conftest import run_cli, speak
from edgesay import Engine, InputError, SynthesisSettings, VoiceError, VoiceFiles
from edgesay.text.frontend import text_to_sentences

TINY = Path(__file__).parent / "data" / "tiny-multi.onnx"
TEXT = ("When the power came back on, the old radio in the kitchen started playing again, "
        "a little out of tune, as if nothing at all had happened.")


@pytest.fixture(scope="module")
def tiny() -> Engine:
    """FP32: the exactness tests compare it with the unsplit graph."""
    return Engine.load(VoiceFiles.from_model(TINY), threads=1, quality="reference")


def test_split_finds_the_speaker_input(tiny: Engine) -> None:
    assert tiny.split.multi_speaker and tiny.config.sample_rate == 16000 and tiny.config.num_speakers == 3


def test_streamed_audio_equals_the_whole_graph_for_each_speaker(tiny: Engine) -> None:
    session = ort.InferenceSession(str(TINY), providers=["CPUExecutionProvider"])
    ids = [tiny.sentence_ids(s) for s in text_to_sentences(TEXT)]
    for speaker in (0, 2):
        ours = speak(tiny, TEXT, noise_scale=0, noise_w=0, speaker_id=speaker)
        whole = [session.run(None, {"input": np.array([i]), "input_lengths": np.array([len(i)]),
                                    "scales": np.array([0, 1, 0], np.float32), "sid": np.array([speaker])})[0]
                 for i in ids]
        reference = np.concatenate([np.clip(w.reshape(-1) * 32767, -32768, 32767).astype(np.int16) for w in whole])
        assert ours.shape == reference.shape and ours.size > 16000
        assert np.abs(ours.astype(np.int32) - reference).max() <= 2


def test_speakers_sound_different(tiny: Engine) -> None:
    a = speak(tiny, "Hello there.", noise_scale=0, noise_w=0, speaker_id=0)
    b = speak(tiny, "Hello there.", noise_scale=0, noise_w=0, speaker_id=1)
    assert a.shape == b.shape and not np.array_equal(a, b)
    with pytest.raises(InputError, match="speaker 3 is out of range"):
        list(tiny.synthesize("Hi.", SynthesisSettings(speaker_id=3)))


def test_any_piper_voice_is_prepared_for_the_int8_levels(tiny: Engine) -> None:
    prepared = Engine.load(VoiceFiles.from_model(TINY), threads=1)
    assert prepared.quality == "balanced" and prepared.compensator is not None
    a = speak(prepared, "Hello there.", noise_scale=0, noise_w=0, speaker_id=0)
    b = speak(prepared, "Hello there.", noise_scale=0, noise_w=0, speaker_id=1)
    reference = speak(tiny, "Hello there.", noise_scale=0, noise_w=0, speaker_id=0)
    assert a.shape == b.shape == reference.shape and not np.array_equal(a, b)
    # Random weights make noise, not speech, but INT8 must still follow FP32 closely.
    correlation = np.corrcoef(a.astype(np.float64), reference.astype(np.float64))[0, 1]
    assert correlation > 0.9, correlation


def test_a_config_that_does_not_match_the_graph_is_refused(tmp_path: Path) -> None:
    from edgesay import VoiceError
    from edgesay.system.paths import default_voice

    with pytest.raises(VoiceError, match=r"1 speaker.*graph has several speakers"):
        Engine.load(VoiceFiles(TINY, default_voice()[1]), threads=1, quality="reference")


def test_first_use_with_raw_output_keeps_stdout_pure_audio(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "EDGESAY_CACHE_DIR": str(tmp_path / "cache")}  # nothing prepared yet
    args = ("--voice", str(TINY), "--text", "Hello there.", "--raw", "--noise-scale", "0", "--noise-w", "0")
    result = run_cli(*args, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert b"preparing the voice" in result.stderr
    quiet = run_cli(*args, env=env)
    assert quiet.stderr == b""  # prepared once, then cached
    # The same audio as the run after preparation: nothing but 16-bit samples on stdout.
    assert result.stdout == quiet.stdout and len(quiet.stdout) > 8000


def test_cli_speaker_by_name_and_sample_rate(tmp_path: Path) -> None:
    out = tmp_path / "bob.wav"
    result = run_cli("--voice", str(TINY), "--speaker", "bob", "--text", "Hello.", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert sf.info(str(out)).samplerate == 16000
    bad = run_cli("--voice", str(TINY), "--speaker", "dave", "--text", "Hello.", "-o", str(out))
    assert bad.returncode == 2 and b"no speaker named 'dave'" in bad.stderr


def test_a_graph_that_is_not_piper_is_a_clear_error(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "identity.onnx"))
    (tmp_path / "identity.onnx.json").write_bytes(TINY.with_name("tiny-multi.onnx.json").read_bytes())
    result = run_cli("--voice", str(tmp_path / "identity.onnx"), "--text", "hi", "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 3 and b"not a Piper VITS voice" in result.stderr


def test_a_bundle_with_unnamed_cut_tensors_is_refused_in_one_line(tmp_path: Path, tiny: Engine) -> None:
    """Bundles made before the split named its cut tensors z_p, y_mask and z (prepared format 3)
    cannot be fed by name: one clear error, not a KeyError from onnxruntime mid-sentence."""
    import json

    import onnx

    from edgesay.prepare.split import split_voice
    from edgesay.voice.bundle import BundleSpec, LevelParts, pack

    split = split_voice(TINY, tmp_path / "cache")
    old_names = {"z_p": "/Add_output_0", "y_mask": "/Cast_2_output_0", "z": "/Mul_7_output_0"}
    parts = {}
    for name in ("latent", "flow", "decoder"):
        model = onnx.load(str(getattr(split, name)))
        for node in model.graph.node:
            node.input[:] = [old_names.get(n, n) for n in node.input]
            node.output[:] = [old_names.get(n, n) for n in node.output]
        for info in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
            info.name = old_names.get(info.name, info.name)
        parts[f"{name}.onnx"] = model.SerializeToString()
    config = json.loads(Path(str(TINY) + ".json").read_text())
    bundle = tmp_path / "old.edgesay"
    pack(BundleSpec(config, split.meta(), parts, {"reference": LevelParts("latent.onnx", "flow.onnx", "decoder.onnx")},
                    "reference", {}), bundle)
    with pytest.raises(VoiceError, match="prepared by an older edgesay"):
        Engine.load(VoiceFiles.from_model(bundle), threads=1)
    result = run_cli("--voice", str(bundle), "--text", "Hi.", "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 3 and not (tmp_path / "x.wav").exists()
    assert len(result.stderr.decode().strip().splitlines()) == 1 and b"older edgesay" in result.stderr
