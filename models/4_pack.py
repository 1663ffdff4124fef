"""Step 4: optimize the graphs for fast loading and pack everything into one zstd bundle.
The default voice's bundle is also copied into the package, which embeds it."""

import json
import shutil

from common import BUILD, say, voice_args

from edgesay.bundle import SUFFIX, pack
from edgesay.compensation import Compensation
from edgesay.prepare import bundle_spec, optimize
from edgesay.store import EMBEDDED, EMBEDDED_NAME

model, config, work = voice_args(__doc__)
meta = json.loads((work / "meta.json").read_text())
names = ["latent.fp32.onnx", "flow.fp32.onnx", "decoder.fp32.onnx", "flow.int8.onnx", "decoder.int8.onnx",
         "decoder.mixed.onnx"]
parts = {name: optimize((work / name).read_bytes()) for name in names}
compensations = {level: Compensation.from_dict(json.loads((work / f"compensation.{level}.json").read_text()))
                 for level in ("fast", "balanced")}
spec = bundle_spec(meta, json.loads(config.read_text()), parts, compensations, {"source": model.name})
out = BUILD / f"{work.name}{SUFFIX}"
pack(spec, out)
say(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
if work.name == EMBEDDED_NAME:
    EMBEDDED.parent.mkdir(exist_ok=True)
    shutil.copyfile(out, EMBEDDED)
    say(f"embedded as {EMBEDDED}")
