"""`edgesay serve`: Wyoming and/or HTTP in one process and one event loop, until SIGTERM or Ctrl-C."""

import asyncio
import logging
import signal
import socket
import stat
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiohttp import web
from wyoming.server import AsyncServer, AsyncTcpServer

from ..errors import EdgesayError
from .http import Http
from .speech import Defaults, Speaker
from .voices import Catalog, LoadedVoices
from .wyoming import WyomingHandler

LOG = logging.getLogger("edgesay.serve")

DEFAULT_URI = "tcp://0.0.0.0:10200"  # wyoming-piper's port, what Home Assistant expects
_ANY = ("0.0.0.0", "::", "")


class ServeError(EdgesayError):
    """The server cannot start: an address in use, a bad URI."""

    exit_code = 6


@dataclass(frozen=True)
class ServeOptions:
    uri: str | None
    http: tuple[str, int] | None
    voice: str | None
    quality: str | None
    threads: int
    workers: int
    max_voices: int
    samples_per_chunk: int
    zeroconf: str | None  # the announced name; None: not announced
    idle_timeout: float
    defaults: Defaults


def check_uri(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        if not parsed.hostname or parsed.port is None:
            raise ServeError(f"--uri {uri}: a tcp:// address needs a host and a port (tcp://0.0.0.0:10200)")
    elif parsed.scheme == "unix":
        path = Path(parsed.path)
        if not parsed.path:
            raise ServeError(f"--uri {uri}: a unix:// address needs a path")
        # The library removes whatever is at the path before it listens: only ever an old socket.
        if path.exists() and not stat.S_ISSOCK(path.stat().st_mode):
            raise ServeError(f"--uri {uri}: {path} exists and is not a socket")
    else:
        raise ServeError(f"--uri {uri}: only tcp:// and unix:// are served")
    return uri


async def serve(options: ServeOptions) -> None:
    catalog = Catalog.find(options.voice)
    voices = LoadedVoices(catalog, options.quality, options.threads, options.workers, options.max_voices)
    speaker = Speaker(voices, options.defaults, options.workers)
    await voices.preload(None)  # the default voice answers the first request at full speed
    wyoming: AsyncServer | None = None
    runner: web.AppRunner | None = None
    announced = None
    try:
        if options.uri:
            wyoming = AsyncServer.from_uri(options.uri)
            try:
                await wyoming.start(partial(WyomingHandler, speaker, options.samples_per_chunk, options.idle_timeout))
            except OSError as exc:
                raise ServeError(f"cannot listen on {options.uri}: {exc.strerror or exc}") from exc
            LOG.info("wyoming: listening on %s", options.uri)
        if options.http:
            runner = web.AppRunner(Http(speaker).app(), access_log=None, handle_signals=False)
            await runner.setup()
            host, port = options.http
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                raise ServeError(f"cannot listen on http://{host}:{port}: {exc.strerror or exc}") from exc
            LOG.info("http: listening on http://%s:%d", host, port)
        if options.zeroconf is not None and isinstance(wyoming, AsyncTcpServer):
            announced = await _announce(options.zeroconf, wyoming)
        LOG.info("ready: voice %s (%s), %d worker(s) x %d thread(s), up to %d voice(s) loaded", catalog.default,
                 voices.quality or "its default level", options.workers, options.threads, options.max_voices)
        await _until_stopped()
        LOG.info("stopping")
    finally:
        speaker.shutdown()
        if announced is not None:
            await announced.async_close()
        if wyoming is not None:
            await wyoming.stop()
        if runner is not None:
            await runner.cleanup()


async def _announce(name: str, server: AsyncTcpServer) -> Any:
    """`_wyoming._tcp` over mDNS, as wyoming-piper does, so Home Assistant finds the server."""
    from wyoming.zeroconf import HomeAssistantZeroconf

    # Listening on every address: announce the one the default route leaves from.
    host = None if server.host in _ANY else server.host
    try:
        announcer = HomeAssistantZeroconf(port=server.port, name=name or None, host=host)
        await announcer.register_server()
    except OSError as exc:
        raise ServeError(f"--zeroconf: cannot announce on the network: {exc.strerror or exc}") from exc
    LOG.info("zeroconf: announced %s._wyoming._tcp.local. at %s:%d", announcer.name, announcer.host, server.port)
    return announcer._aiozc


async def _until_stopped() -> None:
    """SIGTERM (systemd) and SIGINT (Ctrl-C) both end the server normally."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()


def parse_http(value: str) -> tuple[str, int]:
    """HOST:PORT ([::1]:PORT for IPv6), or PORT alone for every address."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT")
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise ValueError(f"{value!r}: unknown host {host!r}") from None
    return host, int(port)
