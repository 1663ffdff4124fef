"""Argument parsing shared by `edgesay` and `edgesay bench`: one-line errors, checked numbers,
the quality levels from their table."""

import argparse
import typing
from collections.abc import Callable

from ..voice import levels


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


def non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


def add_voice_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--voice, --config, --quality and --threads, as both commands take them."""
    parser.add_argument("--voice", "-m", "--model", help=what)
    parser.add_argument("--config", "-c", help="voice config, if not next to the .onnx")
    described = "; ".join(f"{level.name}{' (default)' if level.name == levels.DEFAULT else ''}: {level.summary}"
                          for level in levels.LEVELS)
    parser.add_argument("--quality", "-q", choices=levels.NAMES, help=described)
    parser.add_argument("--threads", type=positive(int), help="inference threads (default: idle cores, at most 4)")
