"""What every step script shares: which voice, and where its intermediate files go."""

import argparse
import sys
from pathlib import Path

from edgesay import paths

BUILD = Path(__file__).parent / "build"


def voice_args(description: str) -> tuple[Path, Path, Path]:
    """(model, config, work folder) from the command line; the default voice if none is given."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("voice", nargs="?", help="Piper voice .onnx (default: the package's en_US-joe-medium)")
    args = parser.parse_args()
    model, config = (Path(args.voice), Path(args.voice + ".json")) if args.voice else paths.default_voice()
    if not model.is_file() or not config.is_file():
        sys.exit(f"models: {model} or its config {config} does not exist")
    work = BUILD / model.name.removesuffix(".onnx")
    work.mkdir(parents=True, exist_ok=True)
    return model, config, work


def say(message: str) -> None:
    print(f"models: {message}", file=sys.stderr, flush=True)
