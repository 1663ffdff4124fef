"""`edgesay serve`: its flags (named as wyoming-piper's where they mean the same) and its start."""

import argparse
import asyncio
import logging
import sys
from typing import TextIO

from ..system.threads import MAX_DEFAULT_THREADS, usable_cores
from .arguments import Parser, add_lexicon_argument, add_synthesis_arguments, add_voice_arguments, positive

EXAMPLES = """\
examples:
  edgesay serve                                   # Wyoming on tcp://0.0.0.0:10200 (Home Assistant)
  edgesay serve --http 0.0.0.0:5000               # and Piper's HTTP API on port 5000
  edgesay serve --uri unix:///run/edgesay.sock --zeroconf
  curl -d '{"text": "Hello."}' localhost:5000/synthesize -o hello.wav
  curl -Nd '{"text": "Streamed."}' 'localhost:5000/synthesize?stream=pcm' | aplay -r 22050 -f S16_LE
"""


# Each of serve.limits.ServerLimits as a flag of the same name.
LIMIT_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("max_connections", int, "open connections, both transports; more are refused at once"),
    ("idle_timeout", float, "close a Wyoming connection that sends no request for this many seconds"),
    ("header_timeout", float, "seconds an HTTP connection has to send a request's headers, and again its body"),
    ("client_timeout", float, "drop a client that takes none of its audio for this many seconds"),
    ("max_whole_seconds", float, "most seconds of audio in one whole (not streamed) HTTP answer"),
)


def default_workers() -> int:
    return max(1, min(MAX_DEFAULT_THREADS, usable_cores()))


def build_parser() -> argparse.ArgumentParser:
    from ..serve.limits import DEFAULT as DEFAULT_LIMITS
    from ..serve.server import DEFAULT_URI, check_uri, parse_http

    def uri(value: str) -> str:
        from ..errors import EdgesayError

        try:
            return check_uri(value)
        except EdgesayError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    def http(value: str) -> tuple[str, int]:
        try:
            return parse_http(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    p = Parser(prog="edgesay serve", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
               description="A speech server: Wyoming (Home Assistant) and/or HTTP (Piper's API), streaming "
                           "audio as it is made. SIGTERM or Ctrl-C stop it (exit 0).")
    p.add_argument("--uri", type=uri,
                   help=f"Wyoming address, tcp://HOST:PORT or unix://PATH (default {DEFAULT_URI}, "
                        "unless only --http is given)")
    p.add_argument("--http", type=http, metavar="HOST:PORT", help="also (or only) serve HTTP here")
    add_voice_arguments(p, "default voice: a name, a .onnx or an .edgesay (the others edgesay finds are "
                           "offered by name, as --list-voices shows)")
    add_synthesis_arguments(p)  # the defaults for requests that set none
    add_lexicon_argument(p)
    p.add_argument("--samples-per-chunk", type=positive(int), default=1024,
                   help="samples per Wyoming audio-chunk at most (default 1024)")
    p.add_argument("--zeroconf", nargs="?", const="edgesay", metavar="NAME",
                   help="announce the Wyoming server over mDNS as _wyoming._tcp (name default: edgesay)")
    p.add_argument("--workers", type=positive(int),
                   help="syntheses at once, each on its own engine (default: cores, at most 4); more wait "
                        "their turn, first come first served")
    p.add_argument("--max-voices", type=positive(int), default=2,
                   help="voices kept loaded; the least recently used is unloaded first (default 2)")
    p.add_argument("--prepare", action="store_true",
                   help="prepare every voice found before serving, one at a time at low priority (a request "
                        "never prepares a voice; without this only the default voice is prepared if needed)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="a web page's origin (http://host:port) allowed to send HTTP requests; others' "
                        "pages are refused with 403 (repeatable)")
    limits = p.add_argument_group("limits for clients on the network")
    for field, kind, meaning in LIMIT_FLAGS:
        limits.add_argument(f"--{field.replace('_', '-')}", type=positive(kind), default=getattr(DEFAULT_LIMITS, field),
                            help=f"{meaning} (default {getattr(DEFAULT_LIMITS, field):g})")
    p.add_argument("--debug", action="store_true", help="log DEBUG messages")
    return p


def command(argv: list[str], err: TextIO) -> int:
    from . import stops

    args = build_parser().parse_args(argv)
    # The server's own loop handles SIGTERM and SIGINT once it runs; until then a stop ends
    # the process at once (loading a voice writes nothing).
    stops.on_stop(stops.stop_while_starting)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, stream=err,
                        format="%(asctime)s %(levelname)s %(message)s")
    if not args.debug:
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
    from ..serve.limits import ServerLimits
    from ..serve.server import DEFAULT_URI, ServeOptions, serve
    from ..serve.speech import Defaults
    from .bench import self_command
    from .command import settings

    workers = args.workers or default_workers()
    # Every engine may use every core: one client (Home Assistant's usual case) then runs at full
    # speed, and several share the cores. Measured on 2 cores (bench/serve_speed.py): against one
    # thread per engine, one client is 1.5x faster, four clients at once 10 % slower in all.
    threads = args.threads or default_workers()
    options = ServeOptions(
        uri=args.uri or (None if args.http else DEFAULT_URI), http=args.http, voice=args.voice,
        quality=args.quality, threads=threads, workers=workers, max_voices=args.max_voices,
        samples_per_chunk=args.samples_per_chunk, zeroconf=args.zeroconf,
        defaults=Defaults(args.speaker, settings(args)),
        limits=ServerLimits(**{field: getattr(args, field) for field, _, _ in LIMIT_FLAGS}),
        allowed_origins=frozenset(args.allow_origin), prepare=args.prepare, prepare_command=tuple(self_command()),
        lexicons=tuple(args.lexicon))
    if options.zeroconf is not None and not (options.uri or "").startswith("tcp://"):
        print("edgesay: --zeroconf announces a tcp:// Wyoming server; give --uri tcp://...", file=sys.stderr)
        return 2
    asyncio.run(serve(options))
    return 0
