"""Where a voice level comes from: the bundle embedded in the package (or binary), a .edgesay
file the user names, or a Piper .onnx prepared once and kept in the cache as a bundle.

The reference level of a Piper voice needs no bundle: it is the FP32 split of the voice itself.
"""

import hashlib
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import VoiceError
from ..prepare import steps
from ..system import paths
from ..system.files import PendingFile
from ..system.progress import StepProgress
from ..system.threads import default_threads
from ..voice import formats, levels
from ..voice.bundle import Bundle, VoiceLevel, pack
from ..voice.config import VoiceConfig
from ..voice.files import SUFFIX, VoiceFiles, config_beside

Progress = Callable[[str], None]


# A prepared voice's bundle in the cache is named after the voice and a key of its files.
_KEY_CHARS = 24
_CACHE_KEY = re.compile(rf"-[0-9a-f]{{{_KEY_CHARS}}}$")


def cached_bundle_path(model: Path, config: Path, cache: Path) -> Path:
    stats = [(str(p.resolve()), s.st_size, s.st_mtime_ns) for p in (model, config) for s in [p.stat()]]
    key = hashlib.sha256(f"{formats.PREPARED}:{stats}".encode()).hexdigest()[:_KEY_CHARS]
    return cache / "bundles" / f"{model.stem}-{key}{SUFFIX}"


def display_name(origin: str) -> str:
    """A loaded voice's name for people (`VoiceConfig.name` is where it was read from): the
    file's stem, without the cache key of a voice prepared into the cache."""
    return _CACHE_KEY.sub("", Path(origin).stem) or "voice"


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


def prepared_bundle(model: Path, config: Path, progress: Progress | None = None) -> Path:
    """The cached bundle for a Piper voice, made now if there is none (with its progress on
    stderr, unless `progress` is given)."""
    for needed in (model, config):
        if not needed.is_file():
            raise VoiceError(f"voice file {needed} does not exist")
    cache = paths.cache_dir()
    path = cached_bundle_path(model, config, cache)
    if not path.is_file():
        check_can_prepare(model)
        from ..prepare.pipeline import prepare  # onnx: only when a voice is prepared

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VoiceError(f"cannot write the voice cache in {cache}: {exc.strerror}") from exc
        shown = None
        if progress is None:
            progress = shown = StepProgress(steps.TITLE, steps.STEPS)
        try:
            spec = prepare(model, config, progress)
            progress(steps.PACK)
            pack(spec, path)
        except OSError as exc:  # a full or read-only cache: every file in it is written whole or not at all
            raise VoiceError(f"cannot write the voice cache in {cache}: {exc.strerror or exc}") from exc
        finally:
            if shown is not None:
                shown.close()
    return path


class NotPrepared(VoiceError):
    """A Piper voice that has not been prepared on this machine, asked for where preparing it
    now is not allowed (a server: minutes of CPU and 1.5 GB beside it)."""


def is_prepared(voice: VoiceFiles | None) -> bool:
    """Whether loading `voice` needs no preparation: a bundle, the embedded voice, or a Piper
    voice whose bundle is in the cache."""
    if voice is not None and voice.is_bundle:
        return True
    if voice is None:
        if paths.embedded_bundle() is not None:
            return True
        voice = VoiceFiles.default()
    config = voice.config or config_beside(voice.model)
    try:
        return cached_bundle_path(voice.model, config, paths.cache_dir()).is_file()
    except OSError:  # a file that went away: not prepared, and loading it will say why
        return False


def _piper_voice(voice: VoiceFiles) -> tuple[Path, Path, VoiceConfig]:
    """A Piper voice's graph, config and parsed config: a bad config is one clear error before
    anything long starts."""
    model, config = voice.model, voice.config or config_beside(voice.model)
    if not config.is_file():
        raise VoiceError(f"voice config {config} does not exist (expected next to {model.name})")
    return model, config, VoiceConfig.from_file(config)


def _needs_no_bundle(quality: str | None) -> bool:
    """The reference level of a Piper voice is read from its FP32 graphs, prepared or not."""
    return quality is not None and not levels.level(quality).quantized


def prepare(voice: VoiceFiles | None, quality: str | None = None, progress: Progress | None = None) -> None:
    """Prepare a Piper voice for this machine now (split, quantize, compensate: minutes, once,
    with progress on stderr unless `progress` is given), if `load_level(voice, quality)` needs
    it: not for a bundle, the embedded voice, a voice prepared already, or the reference level."""
    levels.check(quality)
    if _needs_no_bundle(quality) or is_prepared(voice):
        return
    model, config, _ = _piper_voice(voice or VoiceFiles.default())
    prepared_bundle(model, config, progress)


def load_level(voice: VoiceFiles | None, quality: str | None) -> VoiceLevel:
    """The voice at `quality` (None: the voice's default level); `voice` None is the default
    voice. A Piper voice that needs preparing first (`prepare`) is NotPrepared."""
    levels.check(quality)
    name = voice.model if voice is not None else paths.DEFAULT_VOICE  # as the user gave it
    if voice is not None and voice.is_bundle:
        return Bundle.read(voice.model).level(quality)
    if voice is None:
        embedded = paths.embedded_bundle()
        if embedded is not None:
            # Named for the user: inside the binary its path is an unpacked cache folder.
            return Bundle.read(embedded, f"the built-in voice {paths.DEFAULT_VOICE}").level(quality)
        voice = VoiceFiles.default()
    model, config, parsed = _piper_voice(voice)
    if _needs_no_bundle(quality):
        check_can_prepare(model)
        from ..prepare.split import split_voice

        split = split_voice(model, paths.cache_dir(), cut=True)
        return VoiceLevel(parsed, split, None, str(quality), gain=loudness_gain(model, config, parsed))
    bundle = cached_bundle_path(model, config, paths.cache_dir())
    if not bundle.is_file():
        raise NotPrepared(f"voice {name} is not prepared on this machine: run `edgesay prepare {name}` "
                          "(or start the server with --prepare)")
    return Bundle.read(bundle).level(quality)


def loudness_gain(model: Path, config: Path, parsed: VoiceConfig) -> float:
    """A Piper voice's loudness gain, so that every level is as loud: its prepared bundle's, or
    measured once on the FP32 graphs as preparation would (calibration sentences through the
    latent graph, flow and decoder) and kept beside where the bundle goes."""
    cache = paths.cache_dir()
    bundle = cached_bundle_path(model, config, cache)
    if bundle.is_file():
        return Bundle.read(bundle).gain
    kept = bundle.with_suffix(".gain")
    try:
        return float(kept.read_text(encoding="ascii"))
    except (OSError, ValueError):
        pass
    from ..prepare.calibrate import measure_gain
    from ..prepare.split import split_voice

    split = split_voice(model, cache)
    split.check(parsed)  # a config that does not match the graph is one clear error, not a failed run
    shown = StepProgress("measuring the voice's loudness (once)", ((steps.LOUDNESS, 1.0),))
    try:
        shown(steps.LOUDNESS)
        gain = measure_gain(split, parsed, default_threads())
    finally:
        shown.close()
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        with PendingFile(kept) as pending:
            pending.tmp.write_text(repr(gain), encoding="ascii")
    except OSError:  # a read-only cache: measured again next time, not an error
        pass
    return gain
