"""Optimized voice graphs, cached in onnxruntime's own format, so that a start skips most of its work.

A session made from an ONNX graph parses the protobuf and runs every graph optimizer, each
time; before that the bundle part is decompressed and hash-checked. For the default voice
that was about 0.2 s of a 0.6 s `--text "Hello."` (x86_64 dev VM). onnxruntime can save the
graph it ends up with in its ORT format (flatbuffers), and a session from that file needs
neither step. So the first load of a bundle graph saves it in the cache directory, named by
the graph's sha256 and by what the optimized graph depends on (onnxruntime's version, the
CPU's instruction set: the optimizers pick kernels and layouts for it); later loads read
that file and never decompress the bundle part.

A cached file that onnxruntime refuses is removed and made again. Where the cache cannot be
written (a read-only home), sessions are made from the bundle every time, as before.
"""

import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import onnxruntime as ort

from ..runtime.sessions import DISABLED_OPTIMIZERS, PROVIDERS, open_session
from ..system import paths, sysinfo
from ..system.files import PendingFile
from ..voice import formats
from ..voice.graphs import StoredGraph


@lru_cache(maxsize=4)
def _build_key(version: str) -> str:
    cpu = sysinfo.cpu_fields()
    # The CPU's flags decide which kernels and layouts the optimizers picked.
    depends = f"{formats.GRAPH_CACHE}|{version}|{os.uname().machine}|{cpu.get('flags') or cpu.get('Features', '')}"
    return hashlib.sha256(depends.encode()).hexdigest()[:12]


def cache_path(graph: StoredGraph) -> Path:
    return paths.cache_dir() / "graphs" / f"{graph.sha256[:32]}-{_build_key(ort.__version__)}.ort"


def cached_session(graph: StoredGraph, options: Callable[[], ort.SessionOptions],
                   origin: str = "") -> ort.InferenceSession:
    """A session for `graph`: from its cached optimized copy, made and saved now if missing."""
    path = cache_path(graph)
    cached = _from_cache(path, options)
    if cached is not None:
        return cached
    data = graph.read()
    made = _make_and_save(data, path, options)
    return made if made is not None else open_session(data, options(), origin)


def _from_cache(path: Path, options: Callable[[], ort.SessionOptions]) -> ort.InferenceSession | None:
    if not path.is_file():
        return None
    try:
        # By path: onnxruntime reads the file into its own buffer (as fast as handing it
        # bytes, measured, and no second copy held by Python).
        return ort.InferenceSession(str(path), options(), providers=PROVIDERS, disabled_optimizers=DISABLED_OPTIMIZERS)
    except Exception:  # damaged or from another build: made again from the bundle
        path.unlink(missing_ok=True)
        return None


def _make_and_save(data: bytes, path: Path, options: Callable[[], ort.SessionOptions]) -> ort.InferenceSession | None:
    """The session, with its optimized graph written to `path` (None: the cache is not writable)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pending = PendingFile(path)
    except OSError:
        return None
    try:
        with pending:
            chosen = options()
            chosen.optimized_model_filepath = str(pending.tmp)
            chosen.add_session_config_entry("session.save_model_format", "ORT")
            made = ort.InferenceSession(data, chosen, providers=PROVIDERS, disabled_optimizers=DISABLED_OPTIMIZERS)
        _remove_stale(path)
        return made
    except Exception:  # the caller makes it without saving, and reports a bad graph itself
        return None


def _remove_stale(path: Path) -> None:
    """Copies of the same graph saved for another onnxruntime or CPU are never read again."""
    graph = path.name.split("-", 1)[0]
    for other in path.parent.glob(f"{graph}-*.ort"):
        if other != path:
            other.unlink(missing_ok=True)
