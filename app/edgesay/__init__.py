"""edgesay: text to speech for edge devices, with any Piper voice.

    from edgesay import Engine
    engine = Engine.load()
    for chunk in engine.synthesize("Hello."):
        play(chunk.samples)  # int16 mono at chunk.sample_rate
"""

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# onnxruntime's Linux wheels (1.29 and later) carry Microsoft telemetry: a device id and an event
# database under ~/.cache/Microsoft/DeveloperTools, a session file in $TMPDIR, uploads when online
# (measured with 1.32: all three appear after one "Hi."). A speaker on a shelf must not phone home,
# and the switch only works if set before onnxruntime loads: so here, before any module of ours.
# An explicit ORT_DISABLE_TELEMETRY in the environment is left as the user set it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# numpy's OpenBLAS starts a thread per core at import that spins waiting for work, while edgesay's
# matrices are small (Mel bands of a window): one thread gives start-up's CPU back to speaking, and
# a preparation's sums no longer depend on the machine's core count.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The names below are imported when first used, so that `import edgesay` (and the command,
# which installs its signal handlers before numpy and onnxruntime load) stays light.
_EXPORTS = {
    "AudioChunk": "runtime.audio",
    "SynthesisSettings": "voice.config",
    "VoiceConfig": "voice.config",
    "Engine": "loading.factory",
    "VoiceFiles": "voice.files",
    "EdgesayError": "errors",
    "InputError": "errors",
    "OutputError": "errors",
    "VoiceError": "errors",
}

if TYPE_CHECKING:
    from .errors import EdgesayError, InputError, OutputError, VoiceError
    from .loading.factory import Engine
    from .runtime.audio import AudioChunk
    from .voice.config import SynthesisSettings, VoiceConfig
    from .voice.files import VoiceFiles


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgesay' has no attribute {name!r}")


__all__ = [
    "AudioChunk",
    "EdgesayError",
    "Engine",
    "InputError",
    "OutputError",
    "SynthesisSettings",
    "VoiceConfig",
    "VoiceError",
    "VoiceFiles",
    "__version__",
]
