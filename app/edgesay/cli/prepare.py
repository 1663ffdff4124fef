"""`edgesay prepare`: prepare a Piper voice now and write its bundle, to copy to other devices.

A bundle holds every quality level, the voice's config and its loudness: another device loads
it with `--voice FILE.edgesay` and prepares nothing. The work is the same as a first
`--voice FILE.onnx` (and shares its cache: preparing a voice that was already used only copies).
"""

import argparse
import shutil
from pathlib import Path
from typing import TextIO

from ..errors import OutputError, VoiceError
from ..loading import store
from ..system.files import OutputFile
from ..voice.bundle import Bundle
from ..voice.files import ONNX_SUFFIX, SUFFIX, config_beside
from .arguments import Parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="edgesay prepare", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("voice", help=f"a Piper voice ({ONNX_SUFFIX}), its config beside it as {ONNX_SUFFIX}.json")
    parser.add_argument("-c", "--config", help="the voice's config, if it is not beside the model")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help=f"the bundle to write (default: ./VOICE{SUFFIX})")
    where.add_argument("--cache-only", action="store_true",
                       help="prepare into this machine's cache only, where --voice VOICE.onnx and "
                            "edgesay serve find it (what serve --prepare runs)")
    return parser


def command(argv: list[str], err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    model = Path(args.voice)
    if model.suffix != ONNX_SUFFIX:
        raise VoiceError(f"{model} is not a Piper voice (.onnx); a {SUFFIX} bundle is prepared already")
    config = Path(args.config) if args.config else config_beside(model)
    output = Path(args.output) if args.output else Path(f"{model.stem}{SUFFIX}")
    cached = store.prepared_bundle(model, config)
    Bundle.read(cached)  # checked before it is handed on
    if args.cache_only:
        err.write(f"edgesay: {model.name} is prepared ({cached})\n")
        return 0
    try:
        with OutputFile(output, suffix=".tmp") as target, cached.open("rb") as source:
            shutil.copyfileobj(source, target.stream)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from exc
    err.write(f"edgesay: wrote {output} ({cached.stat().st_size / 1e6:.1f} MB); "
              f"on any device: edgesay --voice {output}\n")
    return 0
