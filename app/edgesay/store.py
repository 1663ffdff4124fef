"""Where a voice's bundle comes from: embedded in the package (or binary), a .edgesay file
the user names, or prepared from a Piper .onnx once and kept in the cache.

The reference level needs no bundle: it is the FP32 split of the Piper voice itself.
"""

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from . import paths
from .bundle import SUFFIX, Bundle, VoiceLevel, pack
from .config import VoiceConfig
from .errors import VoiceError
from .graphs import split_voice

QUALITIES = ("fast", "balanced", "reference")
PREPARE_FORMAT = 2  # bump when prepare.py makes different bundles, so caches are rebuilt
EMBEDDED_NAME = "en_US-joe-medium"


def _stderr(step: str) -> None:
    print(f"edgesay: preparing the voice for this machine (once): {step}", file=sys.stderr, flush=True)


EMBEDDED = Path(__file__).parent / "voices" / f"{EMBEDDED_NAME}{SUFFIX}"


def embedded_bundle() -> Path | None:
    """The default voice's bundle, if the package or binary was built with one (`just models`)."""
    return EMBEDDED if EMBEDDED.is_file() else None


def cached_bundle_path(model: Path, config: Path, cache: Path) -> Path:
    stats = [(str(p.resolve()), s.st_size, s.st_mtime_ns) for p in (model, config) for s in [p.stat()]]
    key = hashlib.sha256(f"{PREPARE_FORMAT}:{stats}".encode()).hexdigest()[:24]
    return cache / "bundles" / f"{model.stem}-{key}{SUFFIX}"


def check_can_prepare(model: Path) -> None:
    """Splitting and quantizing a Piper voice needs the onnx package, which the binary leaves
    out (it is a fifth of its compiled code): there, Piper voices come as bundles."""
    try:
        available = importlib.util.find_spec("onnx") is not None
    except ImportError:  # Nuitka raises for a module excluded from the build
        available = False
    if not available:
        raise VoiceError(f"{model} is a Piper voice, and this edgesay reads only voice bundles: make "
                         f"{model.stem}{SUFFIX} with the Python package (`just models {model}`) and pass that")


def prepared_bundle(model: Path, config: Path, progress: Callable[[str], None] = _stderr) -> Path:
    """The cached bundle for a Piper voice, made now if there is none."""
    for needed in (model, config):
        if not needed.is_file():
            raise VoiceError(f"voice file {needed} does not exist")
    cache = paths.cache_dir()
    path = cached_bundle_path(model, config, cache)
    if not path.is_file():
        check_can_prepare(model)
        from .prepare import prepare

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VoiceError(f"cannot write the voice cache in {cache}: {exc.strerror}") from exc
        pack(prepare(model, config, progress), path)
    return path


def check_quality(quality: str | None) -> None:
    if quality is not None and quality not in QUALITIES:
        raise VoiceError(f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}")


def load_level(model: Path | None, config: Path | None, quality: str | None,
               progress: Callable[[str], None] = _stderr) -> VoiceLevel:
    """The voice at `quality` (None: the bundle's default level).

    `model` is a Piper .onnx, a .edgesay bundle, or None for the default voice."""
    check_quality(quality)
    if model is not None and model.suffix == SUFFIX:
        return Bundle.read(model).level(quality)
    if model is None:
        embedded = embedded_bundle()
        if embedded is not None and config is None:
            # Named for the user: inside the binary its path is an unpacked cache folder.
            return Bundle.read(embedded, f"the built-in voice {EMBEDDED_NAME}").level(quality)
        model, default_config = paths.default_voice()
        config = config or default_config
    config = config or model.with_name(model.name + ".json")
    if not config.is_file():
        raise VoiceError(f"voice config {config} does not exist (expected next to {model.name})")
    parsed = VoiceConfig.from_file(config)  # a bad config is reported before any long preparation
    if quality == "reference":
        check_can_prepare(model)
        return VoiceLevel(parsed, split_voice(model, paths.cache_dir()), None, "reference")
    return Bundle.read(prepared_bundle(model, config, progress)).level(quality)
