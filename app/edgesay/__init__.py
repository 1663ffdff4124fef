"""edgesay: text to speech for edge devices, with any Piper voice.

    from edgesay import Engine
    engine = Engine.load()
    for chunk in engine.synthesize("Hello."):
        play(chunk.samples)  # int16 mono at chunk.sample_rate
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The names below are imported when first used, so that `import edgesay` (and the command,
# which installs its signal handlers before numpy and onnxruntime load) stays light.
_EXPORTS = {
    "AudioChunk": "audio",
    "SynthesisSettings": "config",
    "VoiceConfig": "config",
    "Engine": "engine",
    "VoiceFiles": "engine",
    "EdgesayError": "errors",
    "InputError": "errors",
    "OutputError": "errors",
    "VoiceError": "errors",
}

if TYPE_CHECKING:
    from .audio import AudioChunk
    from .config import SynthesisSettings, VoiceConfig
    from .engine import Engine, VoiceFiles
    from .errors import EdgesayError, InputError, OutputError, VoiceError


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
