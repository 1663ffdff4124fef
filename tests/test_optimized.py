"""The cache of optimized graphs: used when present, rebuilt when damaged, skipped when unwritable,
and never a reason for different audio."""

from pathlib import Path

import numpy as np
import pytest

from conftest import speak
from edgesay import Engine, VoiceFiles
from edgesay.voice.bundle import Bundle

TEXT = "The cache must not change a single sample."


@pytest.fixture()
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGESAY_CACHE_DIR", str(cache))
    return cache


def _load(bundle: Path) -> Engine:
    return Engine.load(VoiceFiles(bundle, None), threads=2, quality="balanced")


def test_second_load_reads_the_cache_not_the_bundle(fresh_cache: Path, default_bundle: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first = speak(_load(default_bundle), TEXT)
    saved = sorted((fresh_cache / "graphs").glob("*.ort"))
    assert len(saved) == 4  # latent, flow, the decoder's head and tail
    assert not list((fresh_cache / "graphs").glob("*.tmp"))

    read = Bundle.part

    def no_graph(self: Bundle, name: str) -> bytes:
        if name.endswith(".onnx"):
            raise AssertionError(f"bundle graph {name} was read although it is cached")
        return read(self, name)

    monkeypatch.setattr(Bundle, "part", no_graph)
    second = speak(_load(default_bundle), TEXT)
    np.testing.assert_array_equal(first, second)


def test_a_damaged_cached_graph_is_made_again(fresh_cache: Path, default_bundle: Path) -> None:
    first = speak(_load(default_bundle), TEXT)
    graphs = sorted((fresh_cache / "graphs").glob("*.ort"), key=lambda p: p.stat().st_size)
    sizes = {p: p.stat().st_size for p in graphs}
    graphs[0].write_bytes(b"\x00" * 64)  # the smallest, zeroed
    graphs[1].write_bytes(graphs[1].read_bytes()[: sizes[graphs[1]] // 2])  # the next, cut in half
    again = speak(_load(default_bundle), TEXT)
    np.testing.assert_array_equal(first, again)
    # Made again: whole files (onnxruntime's saved form may differ by a few bytes of metadata).
    for graph in graphs:
        assert abs(graph.stat().st_size - sizes[graph]) <= sizes[graph] // 100, graph


def test_an_unwritable_cache_still_speaks(tmp_path: Path, default_bundle: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("a file where the cache directory would be")
    monkeypatch.setenv("EDGESAY_CACHE_DIR", str(blocked))
    assert speak(_load(default_bundle), TEXT).size > 22050


def test_a_new_onnxruntime_replaces_the_old_copies(fresh_cache: Path, default_bundle: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    _load(default_bundle)
    before = {p.name for p in (fresh_cache / "graphs").glob("*.ort")}
    monkeypatch.setattr(onnxruntime, "__version__", "0.0.0-other")
    _load(default_bundle)
    after = {p.name for p in (fresh_cache / "graphs").glob("*.ort")}
    assert len(after) == 4 and not before & after
