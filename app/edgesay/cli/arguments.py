"""Argument parsing shared by `edgesay` and `edgesay bench`: one-line errors, checked numbers,
the quality levels from their table."""

import argparse
import typing
from collections.abc import Callable
from pathlib import Path

from ..voice import levels
from ..voice.limits import LENGTH_SCALE, NOISE_SCALE, NOISE_W, SENTENCE_SILENCE, VOLUME, Bound


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> "typing.NoReturn":
        # One line, not argparse's usage block: scripts read the last line of stderr.
        self.exit(2, f"edgesay: {message} (see {self.prog} --help)\n")


def positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not number > 0 or number != number:
            raise argparse.ArgumentTypeError(f"{value!r} must be above 0")
        return number
    return parse


def bounded(bound: Bound) -> Callable[[str], float]:
    """A flag's value within its range from voice.limits, the table the server's fields use too."""
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not bound.holds(number):
            raise argparse.ArgumentTypeError(f"{value!r} must be {bound.range}")
        return number
    return parse


def add_synthesis_arguments(parser: argparse.ArgumentParser) -> None:
    """The per-utterance settings, as the command and the server's defaults take them."""
    parser.add_argument("--speaker", "-s", help="speaker id or name of a multi-speaker voice")
    for bound, names, default in ((LENGTH_SCALE, ["--length-scale"], None), (NOISE_SCALE, ["--noise-scale"], None),
                                  (NOISE_W, ["--noise-w", "--noise-w-scale"], None),
                                  (SENTENCE_SILENCE, ["--sentence-silence"], 0.0), (VOLUME, ["--volume"], 1.0)):
        shown = "the voice's" if default is None else f"{default:g}"
        parser.add_argument(*names, dest=names[0][2:].replace("-", "_"), type=bounded(bound), default=default,
                            metavar="X", help=f"{bound.meaning}, {bound.low:g} to {bound.high:g} (default {shown})")
    parser.add_argument("--no-normalize", action="store_true",
                        help="the voice's own level: no loudness gain, no limiter (default: as loud as Piper)")


def add_lexicon_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lexicon", action="append", type=Path, default=[], metavar="FILE",
                        help="say words as this file says: lines of word<TAB>respelling or word<TAB>[[ phonemes ]] "
                             "(repeatable; after the language's own in ~/.config/edgesay/lexicon/)")


def add_voice_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--voice, --config, --quality and --threads, as both commands take them."""
    parser.add_argument("--voice", "-m", "--model", help=what)
    parser.add_argument("--config", "-c", help="voice config, if not next to the .onnx")
    here = levels.here()  # the level a voice speaks at on this CPU unless told otherwise
    described = "; ".join(f"{level.name}{' (default here)' if level.name == here else ''}: {level.summary}"
                          for level in levels.LEVELS)
    parser.add_argument("--quality", "-q", choices=levels.NAMES, help=described)
    parser.add_argument("--threads", type=positive(int), help="inference threads (default: idle cores, at most 4)")
