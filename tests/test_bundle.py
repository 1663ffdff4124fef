"""Voice bundles: round trip, and every way a bundle file can be wrong."""

import hashlib
import json
import struct
from pathlib import Path

import pytest

from conftest import run_cli
from edgesay import Engine, VoiceError, VoiceFiles
from edgesay.voice import levels
from edgesay.voice.bundle import FORMAT, MAGIC, Bundle, BundleSpec, LevelParts, pack
from edgesay.voice.files import SUFFIX

CONFIG = {"audio": {"sample_rate": 16000}, "phoneme_id_map": {"^": [1], "$": [2], "_": [0]}, "num_speakers": 1}
META = {"channels": 4, "hop": 8, "flow_pad": 1, "decoder_pad": 1, "multi_speaker": False}


def _spec(**parts: bytes) -> BundleSpec:
    parts = parts or {"a.onnx": b"graph a", "b.onnx": b"graph b" * 100}
    names = list(parts)
    level = LevelParts(names[0], names[-1], names[0])
    return BundleSpec(CONFIG, META, parts, {"reference": level, "fast": level}, "fast", {"source": "test"})


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)
    bundle = Bundle.read(path)
    assert bundle.part("b.onnx") == b"graph b" * 100
    assert bundle.default == "fast"
    level = bundle.level()
    assert level.quality == "fast" and level.split.latent.read() == b"graph a" and level.split.hop == 8
    assert level.config.sample_rate == 16000
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("cut", [4, 14, 20, -10])
def test_truncated_bundle_is_named_and_refused(tmp_path: Path, cut: int) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(VoiceError, match=str(path)) as error:
        Bundle.read(path)
    assert "truncated" in str(error.value)


def _edit_manifest(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    """Let `edit` change the manifest (a dict) and write the bundle back around it."""
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    manifest = json.loads(data[16:16 + length])
    edit(manifest)
    raw = json.dumps(manifest).encode()
    path.write_bytes(data[:12] + struct.pack("<I", len(raw)) + raw + data[16 + length:])


def test_a_wrong_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)

    def wrong_hash(manifest: dict) -> None:
        manifest["parts"][1]["sha256"] = hashlib.sha256(b"something else").hexdigest()

    _edit_manifest(path, wrong_hash)
    with pytest.raises(VoiceError, match=r"part b\.onnx fails its sha256 check"):
        Bundle.read(path).part("b.onnx")


def test_a_corrupted_compressed_byte_is_caught(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(**{"a.onnx": bytes(range(256)) * 400}), path)
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x55  # inside the last part's compressed frame
    path.write_bytes(bytes(data))
    with pytest.raises(VoiceError, match=str(path)):
        Bundle.read(path)


def test_loading_a_level_checks_only_its_parts(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    spec = _spec()
    spec.levels["small"] = LevelParts("a.onnx", "a.onnx", "a.onnx")
    pack(spec, path)

    def break_b(manifest: dict) -> None:
        manifest["parts"][1]["sha256"] = "0" * 64

    _edit_manifest(path, break_b)
    assert Bundle.read(path).level("small").split.flow.read() == b"graph a"
    with pytest.raises(VoiceError, match="fails its sha256 check"):
        Bundle.read(path).level("fast").split.flow.read()


def test_a_newer_format_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)
    data = path.read_bytes()
    path.write_bytes(struct.pack("<8sI", MAGIC, FORMAT + 1) + data[12:])
    with pytest.raises(VoiceError, match=f"format {FORMAT + 1}.*upgrade edgesay"):
        Bundle.read(path)


def test_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    path.write_bytes(b"PK\x03\x04 certainly a zip file")
    with pytest.raises(VoiceError, match="not an edgesay voice bundle"):
        Bundle.read(path)


def test_broken_manifest(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)

    def drop_levels(manifest: dict) -> None:
        del manifest["levels"]

    _edit_manifest(path, drop_levels)
    with pytest.raises(VoiceError, match="broken manifest"):
        Bundle.read(path)


def test_a_manifest_that_is_not_utf8_is_named_in_one_short_line(tmp_path: Path) -> None:
    """Its decoding error would quote the whole manifest (kilobytes on one line)."""
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)
    data = bytearray(path.read_bytes())
    data[data.index(b'"parts"')] = 0xB5
    path.write_bytes(bytes(data))
    with pytest.raises(VoiceError, match=r"broken manifest: not UTF-8 at byte \d+$") as caught:
        Bundle.read(path)
    assert len(str(caught.value)) < 200 + len(str(path))


def test_unknown_level(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)
    with pytest.raises(VoiceError, match="no quality level 'balanced'"):
        Bundle.read(path).level("balanced")


def test_cli_names_the_corrupt_bundle_in_one_line(tmp_path: Path, default_bundle: Path) -> None:
    broken = tmp_path / f"joe{SUFFIX}"
    broken.write_bytes(default_bundle.read_bytes()[: 1 << 20])
    out = tmp_path / "x.wav"
    result = run_cli("--voice", str(broken), "--text", "Hello.", "-o", str(out))
    assert result.returncode == 3
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(broken) in lines[0] and "truncated" in lines[0]
    assert not out.exists()


def test_the_prepared_bundle_speaks_at_every_level(default_bundle: Path) -> None:
    for quality in levels.NAMES:
        engine = Engine.load(VoiceFiles.from_model(default_bundle), threads=1, quality=quality)
        assert engine.quality == quality
        audio = [c.samples.copy() for c in engine.synthesize("Hello there.")]
        assert sum(len(a) for a in audio) > 0.4 * 22050


def test_parts_of_the_real_bundle_match_their_manifest(default_bundle: Path) -> None:
    bundle = Bundle.read(default_bundle)
    assert set(bundle.levels) == set(levels.NAMES)
    assert bundle.default == "balanced"
    # INT8 graphs are about a quarter of their FP32 ones.
    assert len(bundle.part("flow.int8.onnx")) < 0.35 * len(bundle.part("flow.fp32.onnx"))
    for level in bundle.levels.values():  # every part of every level is present and checks out
        for name in (level.latent, level.flow, level.decoder, level.compensation):
            assert name is None or len(bundle.part(name)) > 0


def test_recompressed_subset_keeps_every_byte(tmp_path: Path) -> None:
    """The binary's embedded voice: shuffled graphs where that is smaller, small parts raw."""
    import numpy as np

    from edgesay.voice.bundle import subset

    weights = np.random.default_rng(0).standard_normal(20000).astype(np.float32).tobytes() + b"tail"
    spec = _spec(**{"a.onnx": weights, "b.onnx": b"graph b" * 100})
    source, small = tmp_path / f"v{SUFFIX}", tmp_path / f"small{SUFFIX}"
    pack(spec, source)
    subset(Bundle.read(source), ["fast"], small, recompress=True, notes={"embedded": 9})
    made = Bundle.read(small)
    assert made.notes == {"source": "test", "embedded": 9}
    assert made._entries["a.onnx"].get("filter") == "shuffle4"
    assert made._entries["config.json"]["compression"] == "none"
    assert made.part("a.onnx") == weights and made.part("b.onnx") == b"graph b" * 100
    assert made.level("fast").digest == Bundle.read(source).level("fast").digest
    data = bytearray(small.read_bytes())
    start = data.index(b'{"audio"')  # the raw config part
    data[start + 3] ^= 0x20
    small.write_bytes(bytes(data))
    with pytest.raises(VoiceError, match=r"config\.json fails its sha256 check"):
        Bundle.read(small)


def _replace_part(path: Path, name: str, blob: bytes, size: int) -> None:
    """Put `blob` in place of part `name`, with `size` in the manifest."""
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    manifest = json.loads(data[16:16 + length])
    body = 16 + length
    blobs = [blob if e["name"] == name else data[body + e["offset"]:body + e["offset"] + e["stored"]]
             for e in manifest["parts"]]
    offset = 0
    for entry, stored in zip(manifest["parts"], blobs, strict=True):
        entry.update(offset=offset, stored=len(stored), **({"size": size} if entry["name"] == name else {}))
        offset += len(stored)
    raw = json.dumps(manifest).encode()
    path.write_bytes(data[:12] + struct.pack("<I", len(raw)) + raw + b"".join(blobs))


def test_a_decompression_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    import resource

    import zstandard

    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)
    bomb = zstandard.ZstdCompressor(level=3).compress(bytes(300 << 20))  # 300 MB of zeros in ~10 kB
    assert len(bomb) < 100_000
    _replace_part(path, "b.onnx", bomb, 700)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(VoiceError, match=r"b.onnx is corrupt \(its frame holds 314572800 bytes, its manifest says 700"):
        Bundle.read(path).level("fast").split.flow.read()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB: nothing near 300 MB


def test_a_part_that_claims_gigabytes_is_refused_on_reading(tmp_path: Path) -> None:
    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)

    def huge(manifest: dict) -> None:
        manifest["parts"][1]["size"] = 10 << 30

    _edit_manifest(path, huge)
    with pytest.raises(VoiceError, match=f"{path}: part .* claims more than 256 MB"):
        Bundle.read(path)


def test_a_frame_without_its_size_is_refused(tmp_path: Path) -> None:
    import zstandard

    path = tmp_path / f"v{SUFFIX}"
    pack(_spec(), path)
    blob = zstandard.ZstdCompressor(write_content_size=False).compress(b"graph b" * 100)
    _replace_part(path, "b.onnx", blob, 700)
    with pytest.raises(VoiceError, match=r"b\.onnx is corrupt"):
        Bundle.read(path).level("fast").split.flow.read()


def _conv_graph() -> bytes:
    """A graph with one float convolution, which the FP16 recipe rewrites."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3], pads=[1, 1])
    weights = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.2, (4, 4, 3)).astype(np.float32), "w")
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, "T"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, "T"])], [weights])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]).SerializeToString()


def test_a_made_part_is_made_from_its_source_and_stores_nothing(tmp_path: Path) -> None:
    """The FP16 graphs (voice/half.py): made when read, also in the binary's recompressed subset,
    which keeps the part they are made from though no kept level uses it."""
    from edgesay.voice.bundle import FP16_CONVOLUTIONS, subset
    from edgesay.voice.half import half_convolutions

    graph = _conv_graph()
    level = LevelParts("h.onnx", "b.onnx", "h.onnx")
    spec = BundleSpec(CONFIG, META, {"a.onnx": graph, "b.onnx": b"graph b"}, {"fast": level}, "fast", {},
                      made={"h.onnx": ("a.onnx", FP16_CONVOLUTIONS)})
    path, small = tmp_path / f"v{SUFFIX}", tmp_path / f"small{SUFFIX}"
    pack(spec, path)
    subset(Bundle.read(path), ["fast"], small, recompress=True)
    for made in (Bundle.read(path), Bundle.read(small)):
        entry = made._entries["h.onnx"]
        assert entry["stored"] == 0 and entry["made_from"] == "a.onnx"
        assert made.part("h.onnx") == half_convolutions(graph) and made.part("a.onnx") == graph
        assert entry["sha256"] == hashlib.sha256(half_convolutions(graph)).hexdigest()  # what preparation made
        assert made.level().split.latent.read() == half_convolutions(graph)
    assert Bundle.read(small).level("fast").digest == Bundle.read(path).level("fast").digest


def test_a_made_part_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    level = LevelParts("h.onnx", "a.onnx", "a.onnx")
    with pytest.raises(ValueError, match="no such part or recipe"):
        pack(BundleSpec(CONFIG, META, {"a.onnx": b"x"}, {"fast": level}, "fast", {}, made={"h.onnx": ("a.onnx", "x")}),
             tmp_path / "refused.edgesay")
    path = tmp_path / f"v{SUFFIX}"
    pack(BundleSpec(CONFIG, META, {"a.onnx": _conv_graph()}, {"fast": level}, "fast", {},
                    made={"h.onnx": ("a.onnx", "fp16-convolutions")}), path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"recipe": "fp16-convolutions"', b'"recipe": "fp8-convolutions!"'))
    with pytest.raises(VoiceError, match=r"part h\.onnx is made from a\.onnx by 'fp8-convolutions!'.*upgrade"):
        Bundle.read(path).part("h.onnx")
    path.write_bytes(data)
    pack(BundleSpec(CONFIG, META, {"a.onnx": b"not a graph"}, {"fast": LevelParts("a.onnx", "a.onnx", "a.onnx")},
                    "fast", {}), tmp_path / "x.edgesay")
    broken = Bundle.read(tmp_path / "x.edgesay")
    broken._entries["h.onnx"] = {**Bundle.read(path)._entries["h.onnx"]}
    with pytest.raises(VoiceError, match=r"part h\.onnx cannot be made from a\.onnx"):
        broken.part("h.onnx")
