"""`just models`: prepare a Piper voice into an edgesay bundle, ahead of time.

    python3 models/make.py                      # the default voice, embedded into the package
    python3 models/make.py --keep               # the same, unless the package has it already
    python3 models/make.py path/to/voice.onnx   # -> models/build/voice.edgesay

The same pipeline the engine runs on a Piper voice it meets for the first time
(edgesay.prepare.pipeline): split, calibrate, quantize, compensate, optimize, pack.
"""

import argparse
import sys
import time
from pathlib import Path

from edgesay.errors import EdgesayError
from edgesay.prepare.pipeline import prepare
from edgesay.system import paths
from edgesay.voice import formats
from edgesay.voice.bundle import Bundle, pack
from edgesay.voice.files import SUFFIX, VoiceFiles

BUILD = Path(__file__).resolve().parent / "build"


def say(message: str) -> None:
    print(f"models: {message}", file=sys.stderr, flush=True)


def _current(bundle: Path) -> bool:
    """Made by this edgesay's preparation (an older one lacks what a newer one adds, as the gain)."""
    try:
        return Bundle.read(bundle).meta.get("prepared") == formats.PREPARED
    except EdgesayError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("voice", nargs="?", help="Piper voice .onnx (default: the package's default voice)")
    parser.add_argument("--keep", action="store_true", help="do nothing if the output exists already")
    args = parser.parse_args()
    voice = VoiceFiles.from_model(Path(args.voice)) if args.voice else VoiceFiles.default()
    model, config = voice.model, voice.config
    if config is None or not model.is_file() or not config.is_file():
        say(f"{model} or its config {config} does not exist")
        return 3
    out = BUILD / f"{model.name.removesuffix('.onnx')}{SUFFIX}" if args.voice else paths.EMBEDDED_BUNDLE
    if args.keep and out.is_file() and _current(out):
        say(f"{out} exists (--keep)")
        return 0
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        pack(prepare(model, config, lambda step: say(f"{model.name}: {step}")), out)
    except EdgesayError as exc:
        say(str(exc))
        return exc.exit_code
    say(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
