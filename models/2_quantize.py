"""Step 2: calibration latents from the calibration sentences, then static INT8 flow and decoders."""

import numpy as np
from common import say, voice_args

from edgesay.engine import Engine, VoiceFiles
from edgesay.prepare import calibration_latents, quantize_decoder, quantize_flow

model, config, work = voice_args(__doc__)
engine = Engine.load(VoiceFiles(model, config), quality="reference")
latents = calibration_latents(engine)
np.savez(work / "latents.npz", **{f"z_p{i}": a for i, a in enumerate(latents.z_p)},
         **{f"z{i}": a for i, a in enumerate(latents.z)})
say(f"{len(latents.z)} calibration sentences, {sum(z.shape[2] for z in latents.z)} frames")
(work / "flow.int8.onnx").write_bytes(quantize_flow((work / "flow.fp32.onnx").read_bytes(), latents))
full, mixed = quantize_decoder((work / "decoder.fp32.onnx").read_bytes(), latents)
(work / "decoder.int8.onnx").write_bytes(full)
(work / "decoder.mixed.onnx").write_bytes(mixed)
say("quantized the flow and two decoders (all INT8; INT8 but the last stage)")
