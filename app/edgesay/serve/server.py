"""`edgesay serve`: Wyoming and/or HTTP in one process and one event loop, until SIGTERM or Ctrl-C."""

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import stat
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiohttp import web
from wyoming.server import AsyncServer, AsyncTcpServer, AsyncUnixServer

from ..errors import EdgesayError
from ..system import memory
from .http import Http
from .limits import DEFAULT as DEFAULT_LIMITS
from .limits import ServerLimits
from .speech import Defaults, Speech
from .voices import Catalog, LoadedVoices
from .wyoming import WyomingHandler

LOG = logging.getLogger(__name__)

DEFAULT_URI = "tcp://0.0.0.0:10200"  # wyoming-piper's port, what Home Assistant expects
# What a request still in flight gets to end at a stop, per transport: systemd waits 90 s, a user
# at a terminal less; a synthesis stops at its next window well within this.
_SHUTDOWN_SECONDS = 0.5
_ANY = ("0.0.0.0", "::", "")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
    defaults: Defaults
    limits: ServerLimits = DEFAULT_LIMITS
    allowed_origins: frozenset[str] = frozenset()
    prepare: bool = False  # prepare every voice found before serving (else only the default one)
    lexicons: tuple[Path, ...] = ()  # --lexicon, after each voice's language's own
    prepare_command: tuple[str, ...] = ()  # how to start `edgesay prepare`


def check_uri(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        if not parsed.hostname or parsed.port is None:
            raise ServeError(f"--uri {uri}: a tcp:// address needs a host and a port (tcp://0.0.0.0:10200)")
    elif parsed.scheme == "unix":
        path = Path(parsed.path)
        if not parsed.path:
            raise ServeError(f"--uri {uri}: a unix:// address needs a path")
        # The library removes whatever is at the path before it listens: only ever an old socket,
        # never one another server still answers on.
        if path.exists() and not stat.S_ISSOCK(path.stat().st_mode):
            raise ServeError(f"--uri {uri}: {path} exists and is not a socket")
        if path.exists() and _answers(path):
            raise ServeError(f"--uri {uri}: another server is listening on {path}")
    else:
        raise ServeError(f"--uri {uri}: only tcp:// and unix:// are served")
    return uri


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class Connections:
    """Open connections of both transports, against one limit; and the Wyoming handlers' tasks,
    which the library does not end when it stops."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.http: web.Server | None = None
        self.wyoming: set[asyncio.Task[None]] = set()

    def full(self) -> bool:
        return len(self.wyoming) + (len(self.http.connections) if self.http else 0) >= self.limit

    async def end_wyoming(self, timeout: float) -> None:
        for task in self.wyoming:
            task.cancel()
        if self.wyoming:
            await asyncio.wait(self.wyoming, timeout=timeout)


# A refused HTTP connection's request is read and thrown away for at most this long after the
# 503: closed with the request unread, the kernel resets the connection, and a client still
# sending its body gets a broken pipe instead of the answer.
_REFUSED_LINGER_SECONDS = 1.0


class _Refused(asyncio.Protocol):
    """An HTTP connection over the limit: one 503 at once, its own side closed, and whatever the
    client sends meanwhile discarded until it closes or _REFUSED_LINGER_SECONDS pass."""

    def __init__(self) -> None:
        self._timer: asyncio.TimerHandle | None = None  # closes a lingering connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a stream server's transport
        body = b'{"error": "too many connections to this server; try again"}'
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(_REFUSED_LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request of a refused connection: not parsed, not kept

    def eof_received(self) -> bool:
        return False  # the client has sent all: the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _lower_priority_child() -> None:
    """In the child, before it runs: a lower priority, and ended with its parent (a stop while
    preparing exits the server at once, and must not leave the preparation running)."""
    os.nice(10)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def prepare_voices(catalog: Catalog, names: list[str], command: tuple[str, ...]) -> None:
    """Prepare voices one at a time, each in a child process at a lower priority, so a
    preparation neither holds its memory in the server afterwards nor slows a board's other work."""
    for name in names:
        info = catalog.info(name)
        LOG.info("preparing voice %s (once, a few minutes; at low priority)", name)
        child = await asyncio.create_subprocess_exec(
            *command, "prepare", str(info.path), "--cache-only", preexec_fn=_lower_priority_child)
        try:
            if await child.wait() != 0:
                raise ServeError(f"preparing voice {name} failed (edgesay prepare exited {child.returncode})")
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()


# Two malloc arenas for a server's dozen threads (system/memory.py): with glibc's default of
# eight per core, what one arena frees another does not reuse, and a long-running server creeps up.
SERVER_ARENAS = 2


async def serve(options: ServeOptions) -> None:
    memory.limit_arenas(SERVER_ARENAS)  # before any thread of ours allocates
    catalog = Catalog.find(options.voice)
    voices = LoadedVoices(catalog, options.quality, options.threads, options.workers, options.max_voices,
                          options.lexicons)
    wanted = list(catalog.voices) if options.prepare else [catalog.default]
    await prepare_voices(catalog, [n for n in wanted if not voices.prepared(n)], options.prepare_command)
    speech = Speech(voices, options.defaults, options.workers)
    await voices.preload(None)  # the default voice answers the first request at full speed
    watcher = asyncio.create_task(speech.watch())
    connections = Connections(options.limits.max_connections)
    wyoming: AsyncServer | None = None
    runner: web.AppRunner | None = None
    site: asyncio.Server | None = None
    announced = None
    try:
        if options.uri:
            wyoming = AsyncServer.from_uri(options.uri)
            try:
                await wyoming.start(partial(WyomingHandler, speech, options.samples_per_chunk, options.limits,
                                            connections))
            except OSError as exc:
                raise ServeError(f"cannot listen on {options.uri}: {exc.strerror or exc}") from exc
            if isinstance(wyoming, AsyncUnixServer):
                # Not the umask's mode: the owner and its group (a Home Assistant user added to it).
                os.chmod(wyoming.socket_path, 0o660)
            LOG.info("wyoming: listening on %s", options.uri)
        if options.http:
            limits = options.limits
            runner = web.AppRunner(Http(speech, limits, options.allowed_origins).app(), access_log=None,
                                   handle_signals=False, handler_cancellation=True,
                                   keepalive_timeout=limits.header_timeout, shutdown_timeout=_SHUTDOWN_SECONDS)
            await runner.setup()
            http = connections.http = runner.server
            assert http is not None  # set up above
            host, port = options.http

            def protocol() -> asyncio.BaseProtocol:
                return _Refused() if connections.full() else http()

            try:
                site = await asyncio.get_running_loop().create_server(protocol, host, port, reuse_address=True)
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
        watcher.cancel()
        speech.shutdown()
        if announced is not None:
            await announced.async_close()
        if site is not None:
            site.close()
        if wyoming is not None:
            await wyoming.stop()
            await connections.end_wyoming(_SHUTDOWN_SECONDS)
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
