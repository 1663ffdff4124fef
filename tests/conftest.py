"""Shared fixtures. The real default voice is loaded once per test session; its split
graphs and its prepared bundle go to a cache folder of the session's own, so tests never
touch ~/.cache."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# Tests run in the background of a non-interactive shell (`bash tests/run.sh &`) start with
# SIGINT ignored, and every edgesay they start would inherit that and keep it ignored (on
# purpose: tests/test_cli.py); the Ctrl-C tests need their SIGINT to arrive. A handler, unlike
# an ignored signal, is reset to the default in a child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT.parent / "shared" / "eval" / "sentences.txt"
LOCAL_SENTENCES = Path(__file__).parent / "data" / "sentences.txt"
# The command under test: the Python package, or a built binary (`just test-binary`).
BINARY = os.environ.get("EDGESAY_BINARY")
CLI = [str(Path(BINARY).resolve())] if BINARY else [sys.executable, "-m", "edgesay"]


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("edgesay-cache")
    # XDG_CACHE_HOME too: that is where a binary unpacks itself.
    saved = {name: os.environ.get(name) for name in ("EDGESAY_CACHE_DIR", "XDG_CACHE_HOME")}
    os.environ["EDGESAY_CACHE_DIR"] = str(path)
    os.environ["XDG_CACHE_HOME"] = str(path / "xdg")
    yield path
    for name, old in saved.items():
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture(scope="session", autouse=True)
def default_bundle(cache_dir: Path) -> Path:
    """The default voice's INT8 bundle, prepared once per session (about 2.5 minutes) unless the
    package embeds one (`just models`), so that no test's output has the first-use notice."""
    from edgesay.loading import store
    from edgesay.system import paths

    return paths.embedded_bundle() or store.prepared_bundle(*paths.default_voice(), progress=lambda _: None)


@pytest.fixture(scope="session")
def engine(cache_dir: Path):  # type: ignore[no-untyped-def]
    """The reference (FP32) level: tests of exactness compare it with Piper's own graph."""
    from edgesay import Engine

    return Engine.load(threads=2, quality="reference")


@pytest.fixture(scope="session")
def balanced(default_bundle: Path):  # type: ignore[no-untyped-def]
    from edgesay import Engine

    return Engine.load(threads=2, quality="balanced")


@pytest.fixture(scope="session")
def fast(default_bundle: Path):  # type: ignore[no-untyped-def]
    from edgesay import Engine

    return Engine.load(threads=2, quality="fast")


@pytest.fixture(scope="session")
def eval_sentences() -> list[str]:
    """The shared evaluation set (a copy lives in tests/data for clones without shared/)."""
    path = SENTENCES if SENTENCES.is_file() else LOCAL_SENTENCES
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def speak(engine, text: str, **settings: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The whole audio of `text`, at the model's own level unless normalize=True is given: what
    the exactness and quality tests compare (tests/test_loudness.py checks the loudness)."""
    from edgesay import SynthesisSettings

    settings.setdefault("normalize", False)

    chunks = [c.samples.copy() for c in engine.synthesize(text, SynthesisSettings(**settings))]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def run_cli(*args: str, stdin: bytes | None = None, timeout: float = 120, **kw):  # type: ignore[no-untyped-def]
    import subprocess

    return subprocess.run([*CLI, *args], input=stdin, capture_output=True,
                          timeout=timeout, **kw)


def piper_ids(texts: list[str], espeak_voice: str | None = None) -> list[list[list[int]]]:
    """Phoneme ids from piper-tts 1.8.0 (tests/piper_reference.py, in its own process): per
    text, per sentence Piper finds."""
    script = Path(__file__).with_name("piper_reference.py")
    out = subprocess.run([sys.executable, str(script), *([espeak_voice] if espeak_voice else [])],
                         input=json.dumps(texts), capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout)
