"""edgesay: text to speech for edge devices, with any Piper voice.

    from edgesay import Engine
    engine = Engine.load()
    for chunk in engine.synthesize("Hello."):
        play(chunk.samples)  # int16 mono at chunk.sample_rate
"""

__version__ = "0.1.0"

from .audio import AudioChunk  # noqa: E402
from .config import SynthesisSettings, VoiceConfig  # noqa: E402
from .engine import Engine, VoiceFiles  # noqa: E402
from .errors import EdgesayError, InputError, OutputError, VoiceError  # noqa: E402

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
