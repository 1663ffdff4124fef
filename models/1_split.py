"""Step 1: split the FP32 voice into latent / flow / decoder graphs, measure their receptive fields."""

import json
import shutil

from common import say, voice_args

from edgesay.graphs import split_voice

model, config, work = voice_args(__doc__)
split = split_voice(model, work / "cache")
for name in ("latent", "flow", "decoder"):
    shutil.copyfile(getattr(split, name), work / f"{name}.fp32.onnx")
meta = split.meta()
(work / "meta.json").write_text(json.dumps(meta, indent=1))
say(f"split {model.name}: {meta}")
