"""Step 3: fit the Mel gain compensation of each INT8 decoder against the FP32 one."""

import json

import numpy as np
from common import say, voice_args

from edgesay.config import VoiceConfig
from edgesay.prepare import Latents, calibrate_compensation, decode_all

model, config, work = voice_args(__doc__)
stored = np.load(work / "latents.npz")
count = len([k for k in stored.files if k.startswith("z_p")])
latents = Latents([stored[f"z_p{i}"] for i in range(count)], [stored[f"z{i}"] for i in range(count)])
rate = VoiceConfig.from_file(config).sample_rate
reference = decode_all((work / "decoder.fp32.onnx").read_bytes(), latents)
for level, graph in (("fast", "decoder.int8.onnx"), ("balanced", "decoder.mixed.onnx")):
    compensation = calibrate_compensation(reference, (work / graph).read_bytes(), latents, rate)
    (work / f"compensation.{level}.json").write_text(json.dumps(compensation.to_dict()))
    say(f"{level}: compensation fitted on {count} sentences")
