"""The `edgesay` command: arguments, input lines, sinks, and one-line errors."""

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .. import __version__
from ..errors import EdgesayError, InputError, OutputError
from ..output.sinks import PlaybackSink, RawSink, Sink, WavFileSink, WavStreamSink
from ..system.files import why_unwritable
from ..voice.config import SynthesisSettings
from ..voice.limits import MAX_UTTERANCE_CHARS
from . import onefile, stops
from .arguments import Parser, add_lexicon_argument, add_synthesis_arguments, add_voice_arguments

EXAMPLES = """\
examples:
  edgesay --text "The garage door is open." -o door.wav
  edgesay --text "Streaming to the speaker." --raw | aplay -r 22050 -f S16_LE -c 1
  printf 'First line.\\nSecond line.\\n' | edgesay -o lines.wav
  echo '{"text": "Hi.", "output_file": "hi.wav"}' | edgesay --json-input
  edgesay --voice ./en_GB-alan-medium.onnx --length-scale 1.2 --text "Slower." -o slow.wav
  edgesay            # with no text, in a terminal: the field-testing screen
  edgesay bench      # measure this device (add --json for a record to compare devices)
  edgesay serve      # a Wyoming (Home Assistant) and HTTP speech server: edgesay serve --help
"""


@dataclass(frozen=True)
class Request:
    """One utterance asked for: a --text, or a line of stdin (plain or JSON)."""

    text: str
    line: int  # 0 for --text
    speaker: int | str | None = None
    output_file: Path | None = None
    ssml: bool = False


def cache_note() -> str:
    """Where this edgesay keeps its cache (prepared voices, espeak-ng languages, the binary's
    unpacked program), and how that was decided."""
    from ..system import paths

    return (f"\ncache: {paths.cache_dir()}\n  ({paths.CACHE_RULE}; the binary unpacks itself into its bin/ "
            "folder, EDGESAY_CACHE_DIR aside)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="edgesay", description="Text to speech for edge devices, with any Piper voice.",
        epilog=EXAMPLES + cache_note(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", "-t", help="text to speak (otherwise stdin, one utterance per line)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", "--output-file", "-f", dest="output",
                     help="WAV file to write; '-' writes WAV to stdout")
    out.add_argument("--raw", "--output-raw", action="store_true", help="raw 16-bit mono PCM on stdout, streamed")
    out.add_argument("--output-dir", "-d", help="one WAV file per input line in this folder")
    out.add_argument("--play", action="store_true", help="play through aplay (default when stdout is a terminal)")
    p.add_argument("--device", "-D", metavar="NAME",
                   help="ALSA device to play on, as `aplay -L` lists them (default: ALSA's default)")
    add_voice_arguments(p, "Piper voice: path to .onnx (config next to it), an .edgesay bundle, or a name")
    add_synthesis_arguments(p)
    add_lexicon_argument(p)
    p.add_argument("--ssml", action="store_true",
                   help="the text (--text, or each line) is an SSML <speak> document (docs/pronunciation.md)")
    p.add_argument("--json-input", action="store_true",
                   help="stdin lines are JSON: {text, speaker_id or speaker, output_file, ssml}")
    p.add_argument("--list-voices", action="store_true", help="list the voices edgesay can find, then exit")
    p.add_argument("--version", action="version", version=f"edgesay {__version__}")
    return p


def _decode(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
        raise InputError(f"input line {line} is not valid UTF-8 ({where})") from None


def _checked(request: Request) -> Request:
    if len(request.text) > MAX_UTTERANCE_CHARS:
        where = f"input line {request.line}" if request.line else "--text"
        raise InputError(f"{where} has {len(request.text):,} characters; the limit is {MAX_UTTERANCE_CHARS:,} "
                         "per utterance (split the text into lines)")
    return request


def _from_json(text: str, line: int) -> Request:
    try:
        item = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"input line {line} is not JSON: {exc.msg}") from None
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise InputError(f"input line {line}: expected an object with a \"text\" string")
    speaker = item.get("speaker_id", item.get("speaker"))
    output = item.get("output_file")
    ssml = item.get("ssml", False)
    if not isinstance(ssml, bool):
        raise InputError(f'input line {line}: "ssml" must be true or false')
    return Request(item["text"], line, speaker, Path(output) if output else None, ssml)


def requests(args: argparse.Namespace, stdin: Iterable[bytes]) -> Iterator[Request]:
    if args.text is not None:
        yield _checked(Request(args.text, 0, ssml=args.ssml))
        return
    for number, raw in enumerate(stdin, start=1):
        text = _decode(raw, number).rstrip("\r\n")
        if text.strip():
            yield _checked(_from_json(text, number) if args.json_input else Request(text, number, ssml=args.ssml))


def open_sink(args: argparse.Namespace, sample_rate: int) -> Sink | None:
    stdout = sys.stdout.buffer
    if args.raw:
        return RawSink(stdout)
    if args.output == "-":
        return WavStreamSink(stdout, sample_rate)
    if args.output:
        return WavFileSink(Path(args.output), sample_rate)
    if args.output_dir:
        return None  # one file per utterance
    if args.play or args.device or sys.stdout.isatty():
        return PlaybackSink(sample_rate, args.device)
    return WavStreamSink(stdout, sample_rate)


def check_output_early(args: argparse.Namespace) -> None:
    """Fail before the voice loads if the output cannot be written."""
    if args.device and (args.raw or args.output or args.output_dir):
        raise InputError("--device names a sound card to play on: it does not go with -o, --raw or --output-dir")
    if args.output_dir:
        folder = Path(args.output_dir)
        if not folder.is_dir():
            raise OutputError(f"cannot write {folder}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise OutputError(f"cannot write {folder}: folder {folder} is not writable")
    elif args.output and args.output != "-":
        problem = why_unwritable(Path(args.output))
        if problem:
            raise OutputError(f"cannot write {args.output}: {problem}")


def settings(args: argparse.Namespace, speaker_id: int | None = None) -> SynthesisSettings:
    """The synthesis flags (arguments.add_synthesis_arguments) as settings."""
    return SynthesisSettings(
        speaker_id=speaker_id, length_scale=args.length_scale, noise_scale=args.noise_scale, noise_w=args.noise_w,
        sentence_silence=args.sentence_silence, volume=args.volume, normalize=not args.no_normalize)


def field_test(args: argparse.Namespace) -> int:
    """No text and a terminal: the field-testing TUI."""
    from ..tui.app import Choices, run

    stops.stop_cleanly()
    return run(Choices(args.voice, args.quality, args.threads, tuple(args.lexicon)), settings(args), args.device)


def speak(args: argparse.Namespace, stdin: Iterable[bytes]) -> int:
    from ..loading.factory import Engine
    from ..loading.lookup import resolve

    stops.stop_cleanly()
    check_output_early(args)
    # Text from stdin may go on for hours: hold the whole working set from the start.
    # A Piper voice seen for the first time is prepared here, with its progress on stderr.
    engine = Engine.load(resolve(args.voice, args.config), threads=args.threads, quality=args.quality,
                         warm=args.text is None, prepare=True)
    engine.use_lexicon(args.lexicon)
    rate = engine.config.sample_rate
    # JSON lines may each name their own file: then the main output opens with the first audio
    # that goes to it (no empty WAV on stdout when every line has one); else at once, so that
    # a player is running before the first audio.
    sink = None if args.json_input else open_sink(args, rate)
    spoken = to_sink = 0
    complete = False
    try:
        for request in requests(args, stdin):
            own = None
            if request.output_file or args.output_dir:
                path = request.output_file or Path(args.output_dir) / f"edgesay-{request.line:06d}.wav"
                own = WavFileSink(path, rate)
            chosen = settings(args, engine.config.speaker_id(request.speaker if request.speaker is not None
                                                            else args.speaker))
            ok = False
            try:
                for chunk in engine.synthesize(request.text, chosen, ssml=request.ssml):
                    if own is None and sink is None:
                        sink = open_sink(args, rate)
                    target = own or sink
                    if target is None:  # unreachable: no main sink only with --output-dir
                        raise OutputError("no output for this line")
                    target.write(chunk.samples)
                    spoken += chunk.samples.size
                    to_sink += 0 if own else chunk.samples.size
                ok = True
            finally:
                if own:
                    own.close(ok)
        if spoken == 0:
            raise InputError("nothing to speak: the input is empty or has no speakable words")
        # Every line went to its own file (--json-input output_file): no empty main file.
        complete = to_sink > 0 or not isinstance(sink, WavFileSink)
    finally:
        if sink:
            sink.close(complete)
    return 0


def list_voices(out: TextIO) -> int:
    from ..loading.lookup import list_voices as find

    for v in find():
        name = f"{v.name} (default)" if v.default else v.name
        speakers = ", ".join(v.speaker_names) if v.speaker_names else f"{v.speakers} speaker(s)"
        out.write(f"{name:40} {v.language_code:6} {v.quality:7} {v.sample_rate:>6} Hz  {speakers:14} {v.path}\n")
    return 0


def bench(argv: list[str], out: TextIO) -> int:
    from . import bench

    return bench.command(argv, out)


def serve(argv: list[str]) -> int:
    from . import serve

    return serve.command(argv, sys.stderr)


def prepare(argv: list[str]) -> int:
    from . import prepare

    return prepare.command(argv, sys.stderr)


def main(argv: list[str] | None = None) -> int:
    onefile.remove_older_extractions()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["prepare"]:
        return _guarded(lambda: prepare(argv[1:]))
    if argv[:1] == ["bench"]:
        return _guarded(lambda: bench(argv[1:], sys.stdout))
    if argv[:1] == ["serve"]:
        return _guarded(lambda: serve(argv[1:]))
    args = build_parser().parse_args(argv)
    return _guarded(lambda: _dispatch(args))


def _dispatch(args: argparse.Namespace) -> int:
    if args.list_voices:
        return list_voices(sys.stdout)
    if args.text is None and sys.stdin.isatty():
        return field_test(args)
    return speak(args, sys.stdin.buffer)


def _guarded(command: Callable[[], int]) -> int:
    """Errors as one line on stderr and an exit code."""
    try:
        return command()
    except EdgesayError as exc:
        print(f"edgesay: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgesay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head -c 100`): that is not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run() -> None:
    """The `edgesay` command: main(), then out without tearing the interpreter down.

    Finalizing Python (and with it onnxruntime's sessions and thread pools) took 40-90 ms
    of a 0.45 s `--text "Hello."` (x86_64 dev VM). By now every sink is closed and renamed
    into place; only the standard streams may still hold bytes."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a reader that left, or a stream already closed
        pass
    os._exit(code)
