"""The guest side of tests/test_arm.py, run by aarch64 Python under qemu-aarch64: load the voice
at the level this CPU gets by default, speak the first N sentences with noise 0, at the model's
own loudness (as tests/test_quality.py compares them), and save the int16 samples.

    speak.py SENTENCES_FILE N BUNDLE OUT.npz        (prints "level NAME")
"""

import pathlib
import sys

import numpy as np

from edgesay import Engine, SynthesisSettings
from edgesay.voice.files import VoiceFiles

sentences, n, bundle, out = pathlib.Path(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4]
lines = [line.strip() for line in sentences.read_text(encoding="utf-8").splitlines() if line.strip()][:n]
engine = Engine.load(VoiceFiles.from_model(bundle), threads=1, quality=sys.argv[5] if len(sys.argv) > 5 else None)
print(f"level {engine.quality}", flush=True)
quiet = SynthesisSettings(noise_scale=0.0, noise_w=0.0, normalize=False)
np.savez(out, *[np.concatenate([c.samples.copy() for c in engine.synthesize(line, quiet)]) for line in lines])
