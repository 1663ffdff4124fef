"""edgesay: text to speech for edge devices, with any Piper voice.

    from edgesay import Engine
    engine = Engine.load()
    for chunk in engine.synthesize("Hello."):
        play(chunk.samples)  # int16 mono at chunk.sample_rate
"""

__version__ = "0.1.0"

from .audio import AudioChunk
from .config import SynthesisSettings, VoiceConfig
from .engine import Engine, VoiceFiles
from .errors import EdgesayError, InputError, OutputError, VoiceError

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
